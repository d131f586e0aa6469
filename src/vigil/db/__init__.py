"""The database layer: `session` makes every engine and session (see DESIGN §3), `models`
holds the tables, Alembic migrations own the schema."""

from typing import TYPE_CHECKING

from vigil._exports import lazy_exports

if TYPE_CHECKING:
    from vigil.db.session import (
        SessionDep,
        close_db,
        configure_db,
        get_db,
        get_db_context,
        init_db,
        open_database,
    )

__all__ = [
    "SessionDep",
    "close_db",
    "configure_db",
    "get_db",
    "get_db_context",
    "init_db",
    "open_database",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "SessionDep": "vigil.db.session",
        "close_db": "vigil.db.session",
        "configure_db": "vigil.db.session",
        "get_db": "vigil.db.session",
        "get_db_context": "vigil.db.session",
        "init_db": "vigil.db.session",
        "open_database": "vigil.db.session",
    },
)
