"""Alembic owns the schema: it upgrades, downgrades and matches the models on both backends."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from tests.conftest import make_settings
from vigil.db import migrate
from vigil.db.models import Base
from vigil.db.session import build_engine

TABLES = {
    "threat_events",
    "incidents",
    "model_metadata",
    "sites",
    "api_keys",
    "ingest_checkpoints",
    "dead_letters",
    "decisions",
}


async def _inspect(url: str) -> tuple[set[str], list[object]]:
    engine = build_engine(make_settings(url))
    try:
        async with engine.connect() as conn:

            def read(sync_conn: object) -> tuple[set[str], list[object]]:
                names = set(inspect(sync_conn).get_table_names())
                ctx = MigrationContext.configure(
                    sync_conn,  # type: ignore[arg-type]
                    opts={"compare_type": True},
                )
                return names, list(compare_metadata(ctx, Base.metadata))

            return await conn.run_sync(read)
    finally:
        await engine.dispose()


def _run(coro: object) -> tuple[set[str], list[object]]:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    settings = make_settings(database_url)
    migrate.upgrade("head", settings)
    assert migrate.current_revision(settings) == migrate.head_revision()
    names, _ = _run(_inspect(database_url))
    assert names >= TABLES

    migrate.downgrade("base", settings)
    assert migrate.current_revision(settings) is None
    names, _ = _run(_inspect(database_url))
    assert not (TABLES & names)

    migrate.upgrade("head", settings)
    names, diff = _run(_inspect(database_url))
    assert names >= TABLES
    assert diff == [], f"models and migrations differ: {diff}"


def test_offline_mode_prints_sql(database_url: str) -> None:
    sql = migrate.offline_sql("head", make_settings(database_url))
    assert "CREATE TABLE threat_events" in sql
    assert "CREATE UNIQUE INDEX uq_model_metadata_active_type" in sql
    assert "WHERE" in sql
