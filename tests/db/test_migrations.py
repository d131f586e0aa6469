"""Alembic owns the schema: it upgrades, downgrades and matches the models on both backends."""

from __future__ import annotations

import asyncio
from datetime import datetime

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


def test_upgrade_keeps_events_and_builds_their_rules_and_rollups(database_url: str) -> None:
    """Events stored before the scale revision are copied (into day partitions on PostgreSQL),
    their matched rules become rows, and the rollups are built from them once."""
    settings = make_settings(database_url)
    migrate.upgrade("0003_bouncers", settings)

    async def fill_and_read() -> dict[str, object]:
        from sqlalchemy import text

        engine = build_engine(settings)
        try:
            async with engine.begin() as conn:
                for n, (day, rules) in enumerate(
                    [("2026-03-01", ["942100", "942200"]), ("2026-03-02", ["941100"])] * 2
                ):
                    await conn.execute(
                        text(
                            "INSERT INTO threat_events (event_key, site, source, observed_at, "
                            "created_at, client_ip, method, path, query, status, bytes_sent, "
                            "user_agent, referer, score, severity, detection_mode, categories, "
                            "matched_rules, component_scores, reviewed) VALUES (:k, 'a', 's', "
                            ":t, :t, '203.0.113.5', 'GET', '/x', '', 403, 1, 'ua', '', 0.9, "
                            "'HIGH', 'rules', :c, :m, '{}', false)"
                        ),
                        {
                            "k": f"key-{n}",
                            "t": (
                                datetime.fromisoformat(f"{day}T10:0{n}:00+00:00")
                                if conn.dialect.name == "postgresql"
                                else f"{day} 10:0{n}:00.000000"
                            ),
                            "c": '["sqli"]',
                            "m": "["
                            + ",".join(f'{{"rule_id": "{r}", "category": "sqli"}}' for r in rules)
                            + "]",
                        },
                    )
            migrate_to_head = asyncio.to_thread(migrate.upgrade, "head", settings)
            await migrate_to_head
            async with engine.connect() as conn:
                counts = {
                    "events": await conn.scalar(text("SELECT count(*) FROM threat_events")),
                    "rule_rows": await conn.scalar(text("SELECT count(*) FROM event_rules")),
                    "category_rows": await conn.scalar(
                        text("SELECT count(*) FROM event_rules WHERE first_of_category")
                    ),
                    "day_rollup": await conn.scalar(
                        text(
                            "SELECT sum(events) FROM threat_rollups "
                            "WHERE period = 'd' AND dim = 'severity'"
                        )
                    ),
                    "rule_rollup": await conn.scalar(
                        text(
                            "SELECT events FROM threat_rollups WHERE period = 'h' "
                            "AND dim = 'rule' AND value = '942200'"
                        )
                    ),
                }
                if conn.dialect.name == "postgresql":
                    counts["partitions"] = await conn.scalar(
                        text(
                            "SELECT count(*) FROM pg_inherits i JOIN pg_class p "
                            "ON p.oid = i.inhparent WHERE p.relname = 'threat_events'"
                        )
                    )
                return counts
        finally:
            await engine.dispose()

    counts = asyncio.run(fill_and_read())
    assert counts["events"] == 4
    assert counts["rule_rows"] == 6
    assert counts["category_rows"] == 4
    assert counts["day_rollup"] == 4
    assert counts["rule_rollup"] == 2
    assert counts.get("partitions", 2) == 2


def test_index_methods_where_they_differ_by_backend(database_url: str) -> None:
    """The rules' time index is BRIN on PostgreSQL (partitions are dropped whole), a B-tree on
    SQLite; the events' unique key leads with observed_at on both. Autogenerate compares
    neither an index's method nor the order of a unique key's columns, so they are read here."""
    settings = make_settings(database_url)
    migrate.upgrade("head", settings)

    async def read() -> tuple[str, str]:
        from sqlalchemy import text

        engine = build_engine(settings)
        try:
            async with engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    query = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
                else:
                    query = "SELECT sql FROM sqlite_master WHERE name = :name"
                rules = await conn.scalar(text(query), {"name": "ix_event_rules_observed_at"})
                if conn.dialect.name == "postgresql":
                    key = await conn.scalar(
                        text(
                            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                            "WHERE conname = 'uq_threat_events_observed_at_event_key'"
                        )
                    )
                else:
                    key = await conn.scalar(
                        text("SELECT sql FROM sqlite_master WHERE name = 'threat_events'")
                    )
                return str(rules), str(key)
        finally:
            await engine.dispose()

    rules, key = asyncio.run(read())
    postgres = database_url.startswith("postgresql")
    assert ("USING brin" in rules) is postgres
    assert "(observed_at, event_key)" in key
