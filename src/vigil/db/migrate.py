"""`vigil db …`: Alembic commands run against the configured database."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sqlalchemy import inspect, text

from vigil.config import Settings, get_settings
from vigil.db.session import build_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(settings: Settings | None = None, *, stdout: TextIO | None = None) -> Config:
    """An Alembic config pointing at vigil's migrations and the configured database."""
    from alembic.config import Config

    settings = settings or get_settings()
    cfg = Config(stdout=stdout) if stdout is not None else Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # `%` is interpolation syntax in the ini layer; escape it so passwords survive.
    cfg.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return cfg


def upgrade(revision: str = "head", settings: Settings | None = None) -> None:
    from alembic import command

    command.upgrade(alembic_config(settings), revision)


def downgrade(revision: str, settings: Settings | None = None) -> None:
    from alembic import command

    command.downgrade(alembic_config(settings), revision)


def offline_sql(
    revision: str = "head", settings: Settings | None = None, from_revision: str | None = None
) -> str:
    """The SQL script that upgrades an empty database (or `from_revision`) to `revision`."""
    from alembic import command

    buffer = io.StringIO()
    cfg = alembic_config(settings, stdout=buffer)
    cfg.output_buffer = buffer
    target = f"{from_revision}:{revision}" if from_revision else revision
    command.upgrade(cfg, target, sql=True)
    return buffer.getvalue()


async def current_revision_async(settings: Settings | None = None) -> str | None:
    """The revision the database is at, or None for an empty database.

    Read with one query rather than through Alembic, which `vigil scan` and `vigil serve`
    would otherwise import at every start just to ask.
    """
    engine = build_engine(settings or get_settings())
    try:
        async with engine.connect() as conn:
            if not await conn.run_sync(lambda c: inspect(c).has_table("alembic_version")):
                return None
            revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
            return str(revision) if revision is not None else None
    finally:
        await engine.dispose()


def current_revision(settings: Settings | None = None) -> str | None:
    return asyncio.run(current_revision_async(settings))


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
