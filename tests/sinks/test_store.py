"""The store sink: one transaction per batch, exactly-once events, incidents, decisions, and
recovery from a database outage without losing anything."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from tests.conftest import make_settings
from tests.support.tcp_proxy import TcpProxy
from vigil.batch import DeadLetter, LogRecord, ScoredBatch, Threat, hour_bucket
from vigil.config import Settings
from vigil.db.models import Base, Decision, Incident, IngestCheckpoint, ThreatEvent, TrafficRollup
from vigil.db.session import close_db, configure_db, get_db_context, get_engine
from vigil.sinks.store import StoreSink

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _record(offset: int, ip: str, when: datetime, file_id: str = "f1") -> LogRecord:
    return LogRecord(
        source="access.log",
        file_id=file_id,
        offset=offset,
        client_ip=ip,
        observed_at=when,
        method="GET",
        target="/?id=1",
        path="/",
        query="id=1",
        protocol="HTTP/1.1",
        status=200,
        bytes_sent=1,
        referer="",
        user_agent="curl/8",
    )


def _batch(
    start: int,
    n: int,
    ip: str = "198.51.100.7",
    severity: str = "HIGH",
    when: datetime = T0,
    file_id: str = "f1",
    dead: int = 0,
) -> ScoredBatch:
    threats = []
    for i in range(n):
        record = _record(start + i * 100, ip, when + timedelta(seconds=i), file_id)
        threats.append(
            Threat(
                key=record.event_key,
                record=record,
                score=0.9 if severity == "HIGH" else 0.55,
                severity=severity,
                categories=["sqli"],
                matches=[
                    {
                        "rule_id": "sqli-1",
                        "category": "sqli",
                        "target": "args:id",
                        "fragment": "1'",
                        "points": 5,
                    }
                ],
                components={"rules": 0.9},
                detection_mode="rules",
            )
        )
    letters = [
        DeadLetter("access.log", file_id, start + 10_000 + i, b"\xff\x00junk", "no format")
        for i in range(dead)
    ]
    return ScoredBatch(
        source="access.log",
        file_id=file_id,
        end_offset=start + n * 100 + 50,
        site="default",
        lines=n,
        records=n,
        malformed=0,
        threats=threats,
        dead_letters=letters,
        counters={hour_bucket(when): Counter(requests=n, high=n)},
    )


async def _count(model: type[Base]) -> int:
    async with get_db_context() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_batch_is_stored_once_with_checkpoint(db: Settings) -> None:
    sink = StoreSink(db)
    first = await sink.store(_batch(0, 5, dead=2))
    assert len(first.events) == 5
    assert all(e["incident_id"] for e in first.events)
    replay = await sink.store(_batch(0, 5, dead=2))
    assert replay.skipped
    assert await _count(ThreatEvent) == 5
    async with get_db_context() as session:
        offset = await session.scalar(select(IngestCheckpoint.byte_offset))
        counters = await session.scalar(
            select(TrafficRollup.requests).where(TrafficRollup.period == "h")
        )
    assert offset == 550
    assert counters == 5


async def test_overlapping_replay_inserts_only_new_events(db: Settings) -> None:
    sink = StoreSink(db)
    await sink.store(_batch(0, 3))
    # A batch that starts inside the stored range (a crash between read and commit of a longer
    # batch): only the lines past the checkpoint are new.
    result = await sink.store(_batch(0, 6))
    assert len(result.events) == 3
    assert await _count(ThreatEvent) == 6
    async with get_db_context() as session:
        incident = (await session.scalars(select(Incident))).one()
    assert incident.event_count == 6


def _untimed(batch: ScoredBatch, every: int) -> ScoredBatch:
    """`batch` with every `every`-th line's time missing (a format without one)."""
    for index, threat in enumerate(batch.threats):
        if index % every == 0:
            threat.record = threat.record._replace(observed_at=None)
    return batch


async def test_overlapping_replay_with_lines_without_time_stores_each_once(db: Settings) -> None:
    sink = StoreSink(db)
    await sink.store(_untimed(_batch(0, 4), 2))
    # The replay comes later: a line without time is stored with the time of its store, so its
    # stored copy is not where its time would put it, and it must still be found.
    result = await sink.store(_untimed(_batch(0, 7), 2))
    assert len(result.events) == 3
    async with get_db_context() as session:
        keys = list(await session.scalars(select(ThreatEvent.event_key)))
    assert sorted(keys) == sorted({t.key for t in _batch(0, 7).threats})


async def test_incident_per_episode_and_block_decision(db: Settings) -> None:
    sink = StoreSink(db)
    await sink.store(_batch(0, 3, ip="203.0.113.5"))
    later = T0 + timedelta(minutes=db.incident_quiet_minutes + 5)
    await sink.store(_batch(1000, 2, ip="203.0.113.5", when=later))
    async with get_db_context() as session:
        incidents = list(await session.scalars(select(Incident).order_by(Incident.id)))
        decisions = list(await session.scalars(select(Decision)))
    assert [i.event_count for i in incidents] == [3, 2]
    assert incidents[0].top_severity == "HIGH"
    assert len(decisions) == 1
    assert decisions[0].value == "203.0.113.5"
    assert decisions[0].scope == "ip"


async def test_a_batch_updates_open_incidents_and_opens_new_ones(db: Settings) -> None:
    sink = StoreSink(make_settings(db.database_url, block_on_high=False, block_medium_count=99))
    await sink.store(_batch(0, 3, ip="192.0.2.10", severity="MEDIUM"))
    second = _batch(1000, 2, ip="192.0.2.10", severity="HIGH", when=T0 + timedelta(minutes=2))
    for threat in second.threats:
        threat.categories = ["xss"]
    other = _batch(2000, 1, ip="192.0.2.20", severity="MEDIUM", when=T0 + timedelta(minutes=2))
    second.threats.extend(other.threats)
    second.end_offset = other.end_offset
    result = await sink.store(second)
    async with get_db_context() as session:
        incidents = {i.client_ip: i for i in await session.scalars(select(Incident))}
    first = incidents["192.0.2.10"]
    assert first.event_count == 5
    assert first.top_severity == "HIGH"
    assert first.max_score == 0.9
    assert first.categories == ["sqli", "xss"]
    assert first.first_seen == T0
    assert first.last_seen == T0 + timedelta(minutes=2, seconds=1)
    newcomer = incidents["192.0.2.20"]
    assert newcomer.event_count == 1
    assert newcomer.status == "open"
    assert {e["incident_id"] for e in result.events} == {first.id, newcomer.id}


async def test_medium_events_block_only_past_the_threshold(db: Settings) -> None:
    sink = StoreSink(make_settings(db.database_url, block_medium_count=4))
    await sink.store(_batch(0, 3, ip="192.0.2.44", severity="MEDIUM"))
    assert await _count(Decision) == 0
    await sink.store(
        _batch(1000, 1, ip="192.0.2.44", severity="MEDIUM", when=T0 + timedelta(minutes=1))
    )
    assert await _count(Decision) == 1


@pytest.mark.postgres
async def test_database_outage_recovers_without_loss(postgres_database: str) -> None:
    url = make_url(postgres_database)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = make_settings(proxied, db_connect_timeout=1.0, store_retry_max_seconds=0.5)
    configure_db(settings)
    try:
        async with get_engine().begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        sink = StoreSink(settings)
        await sink.store(_batch(0, 4))
        await proxy.sever()
        pending = asyncio.create_task(sink.store(_batch(1000, 4)))
        await asyncio.sleep(2.0)
        assert not pending.done(), "the write must wait for the database, not give up"
        proxy.restore()
        result = await asyncio.wait_for(pending, timeout=30)
        assert len(result.events) == 4
        assert sink.retries >= 1
        assert await _count(ThreatEvent) == 8
    finally:
        await close_db()
        configure_db(None)
        await proxy.stop()
