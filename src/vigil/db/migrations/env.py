"""Alembic environment: async online mode and offline (SQL script) mode, same migrations for
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from vigil.db.models import Base
from vigil.db.session import build_engine

config = context.config
target_metadata = Base.metadata


def _settings_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from vigil.config import get_settings

        url = get_settings().database_url
    return url


def run_migrations_offline() -> None:
    """Emit the migration SQL to the output buffer without a database connection."""
    url = _settings_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_with_connection(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    """Run migrations over an async connection made by the session module's engine builder."""
    from vigil.config import load_settings

    engine = build_engine(load_settings(database_url=_settings_url()))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_with_connection)
            await connection.commit()
    finally:
        await engine.dispose()


connection = config.attributes.get("connection")
if context.is_offline_mode():
    run_migrations_offline()
elif connection is not None:
    _run_with_connection(connection)
else:
    asyncio.run(run_migrations_online())
