"""Retention: what is past VIGIL_RETENTION_DAYS goes (whole day partitions on a migrated
PostgreSQL, chunks of rows elsewhere), what is newer stays, and the API reads across days."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import fresh_postgres, make_settings
from tests.sinks.test_store import _batch
from vigil.config import Settings
from vigil.db import migrate
from vigil.db.models import (
    Decision,
    Incident,
    IncidentMember,
    ThreatEvent,
    ThreatRollup,
    event_rules,
)
from vigil.db.partitions import Partitions, existing_days
from vigil.db.retention import CHUNK, prune
from vigil.db.session import close_db, configure_db, get_db_context, get_engine
from vigil.errors import ConfigError
from vigil.services.threats import ThreatFilter, list_threats
from vigil.services.visibility import EVERYTHING
from vigil.sinks.store import StoreSink

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


async def _counts() -> dict[str, int]:
    async with get_db_context() as session:
        events = await session.scalar(select(func.count()).select_from(ThreatEvent))
        rules = await session.scalar(select(func.count()).select_from(event_rules))
        minutes = await session.scalar(
            select(func.count()).select_from(ThreatRollup).where(ThreatRollup.period == "m")
        )
        days = await session.scalar(
            select(func.count()).select_from(ThreatRollup).where(ThreatRollup.period == "d")
        )
        incidents = await session.scalar(select(func.count()).select_from(Incident))
    return {
        "events": int(events or 0),
        "rules": int(rules or 0),
        "minute_rollups": int(minutes or 0),
        "day_rollups": int(days or 0),
        "incidents": int(incidents or 0),
    }


async def _store_days(settings: Settings, days_ago: list[int], per_day: int) -> None:
    sink = StoreSink(settings)
    for index, ago in enumerate(days_ago):
        when = NOW - timedelta(days=ago)
        await sink.write(
            _batch(index * 1_000_000, per_day, ip=f"198.51.100.{index + 1}", when=when)
        )


async def test_old_events_go_and_rollups_stay(db: Settings) -> None:
    settings = db.model_copy(update={"retention_days": 7, "rollup_retention_days": 30})
    await _store_days(settings, [10, 9, 1], per_day=3)
    before = await _counts()
    assert before["events"] == 9

    report = await prune(get_engine(), settings, now=NOW)

    after = await _counts()
    assert after["events"] == 3
    assert after["rules"] == 3
    assert after["incidents"] == 1
    assert after["minute_rollups"] < before["minute_rollups"]
    # Hour and day rollups outlive the events they count.
    assert after["day_rollups"] == before["day_rollups"]
    assert report.rows_deleted.get("threat_events") == 6
    again = await prune(get_engine(), settings, now=NOW)
    assert again.rows_deleted == {}


async def test_rows_go_in_bounded_chunks(db: Settings) -> None:
    settings = db.model_copy(update={"retention_days": 1, "rollup_retention_days": 1})
    sink = StoreSink(settings)
    old = NOW - timedelta(days=5)
    total = CHUNK + 7
    await sink.write(_batch(0, total, when=old))
    report = await prune(get_engine(), settings, now=NOW)
    assert report.rows_deleted["threat_events"] == total
    assert (await _counts())["events"] == 0


async def test_expired_incidents_take_their_members_and_free_their_decisions(
    db: Settings,
) -> None:
    """Nothing names an incident by foreign key: pruning it removes its campaign members and
    sets the incident of a decision that outlives it to NULL; a kept incident keeps both."""
    settings = db.model_copy(update={"retention_days": 7, "rollup_retention_days": 30})
    old, recent = NOW - timedelta(days=10), NOW - timedelta(days=1)
    async with get_db_context() as session:
        gone = Incident(
            site="a", client_ip="*", first_seen=old, last_seen=old, top_severity="HIGH",
            campaign="POST /xmlrpc.php 404",
        )  # fmt: skip
        kept = Incident(
            site="a", client_ip="*", first_seen=recent, last_seen=recent, top_severity="HIGH",
            campaign="POST /wp-login.php 200",
        )  # fmt: skip
        session.add_all([gone, kept])
        await session.flush()
        for incident in (gone, kept):
            session.add(
                IncidentMember(
                    incident_id=incident.id, client_ip="198.51.100.9", first_seen=old,
                    last_seen=old, hits=3, events=1,
                )
            )  # fmt: skip
            session.add(
                Decision(
                    site="a", value="198.51.100.9", incident_id=incident.id,
                    expires_at=NOW + timedelta(days=1),
                )
            )  # fmt: skip
        ids = (gone.id, kept.id)

    report = await prune(get_engine(), settings, now=NOW)

    assert report.rows_deleted["incidents"] == 1
    async with get_db_context() as session:
        incidents = set(await session.scalars(select(Incident.id)))
        members = set(await session.scalars(select(IncidentMember.incident_id)))
        decisions = sorted(
            await session.scalars(select(Decision.incident_id)), key=lambda v: v or 0
        )
    assert incidents == members == {ids[1]}
    assert decisions == [None, ids[1]]


def test_rollups_must_outlive_events() -> None:
    with pytest.raises(ConfigError, match="VIGIL_ROLLUP_RETENTION_DAYS"):
        make_settings("sqlite+aiosqlite:///x.db", retention_days=30, rollup_retention_days=7)
    forever = make_settings("sqlite+aiosqlite:///x.db", retention_days=0, rollup_retention_days=0)
    assert forever.retention_days == 0


@pytest.fixture
async def migrated_postgres() -> AsyncIterator[Settings]:
    async with fresh_postgres() as url:
        settings = make_settings(url, retention_days=7, rollup_retention_days=30)
        await asyncio.to_thread(migrate.upgrade, "head", settings)
        configure_db(settings)
        try:
            yield settings
        finally:
            await close_db()
            configure_db(None)


@pytest.mark.postgres
async def test_partitions_are_dropped_whole(migrated_postgres: Settings) -> None:
    settings = migrated_postgres
    await _store_days(settings, [9, 8, 2, 1], per_day=40)
    async with get_engine().connect() as conn:
        days = await existing_days(conn)
    assert {(NOW - timedelta(days=d)).date() for d in (9, 8, 2, 1)} <= days

    # Pages newest first run across the day partitions, with the same cursor throughout.
    seen: list[int] = []
    cursor = None
    while True:
        async with get_db_context() as session:
            page = await list_threats(session, EVERYTHING, ThreatFilter(), limit=25, cursor=cursor)
        seen += [row.id for row in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 160

    partitions = Partitions()
    report = await prune(get_engine(), settings, now=NOW, partitions=partitions)
    assert sorted(report.partitions_dropped) == [
        (NOW - timedelta(days=9)).date(),
        (NOW - timedelta(days=8)).date(),
    ]
    assert "threat_events" not in report.rows_deleted
    after = await _counts()
    assert after["events"] == 80 and after["rules"] == 80
    async with get_engine().connect() as conn:
        remaining = await existing_days(conn)
    # The coming days are made ahead of the writes that will need them.
    assert NOW.date() in remaining and (NOW + timedelta(days=1)).date() in remaining
    assert not any(day < (NOW - timedelta(days=7)).date() for day in remaining)
