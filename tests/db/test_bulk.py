"""Idempotent inserts: the same event key stored twice is one row."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from vigil.config import Settings
from vigil.db.bulk import increment, insert_ignore
from vigil.db.models import ThreatEvent, ThreatRollup
from vigil.db.session import get_db_context


def _event(key: str, score: float) -> dict[str, object]:
    return {
        "event_key": key,
        "site": "default",
        "source": "access.log",
        "observed_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "created_at": datetime.now(UTC),
        "client_ip": "203.0.113.9",
        "method": "GET",
        "path": "/",
        "query": "id=1%27",
        "status": 200,
        "bytes_sent": 10,
        "user_agent": "curl/8",
        "referer": "",
        "score": score,
        "severity": "HIGH",
        "detection_mode": "rules",
        "categories": ["sqli"],
        "matched_rules": [],
        "component_scores": {},
        "reviewed": False,
    }


async def test_same_event_key_twice_stores_one_row(db: Settings) -> None:
    conflict = ["event_key", "observed_at"]
    async with get_db_context() as session:
        await insert_ignore(session, ThreatEvent, [_event("k1", 0.9), _event("k2", 0.8)], conflict)
    async with get_db_context() as session:
        await insert_ignore(session, ThreatEvent, [_event("k1", 0.1), _event("k3", 0.7)], conflict)
    async with get_db_context() as session:
        total = await session.scalar(select(func.count()).select_from(ThreatEvent))
        first = await session.scalar(select(ThreatEvent).where(ThreatEvent.event_key == "k1"))
    assert total == 3
    assert first is not None
    assert first.score == 0.9
    assert first.observed_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


async def test_counters_add_up_and_keep_the_larger_score(db: Settings) -> None:
    def row(events: int, score: float) -> dict[str, object]:
        bucket = datetime(2026, 1, 2, 3, tzinfo=UTC)
        return {"period": "h", "dim": "client", "bucket": bucket, "site": "a", "value": "x"} | {
            "events": events,
            "max_score": score,
        }

    key = ["period", "dim", "bucket", "site", "value"]
    for events, score in ((2, 0.7), (3, 0.95), (1, 0.5)):
        async with get_db_context() as session:
            await increment(
                session, ThreatRollup, [row(events, score)], key, ["events"], ["max_score"]
            )
    async with get_db_context() as session:
        stored = (await session.scalars(select(ThreatRollup))).one()
    assert (stored.events, stored.max_score) == (6, 0.95)


async def test_many_counter_rows_in_one_call_each_land_on_their_key(db: Settings) -> None:
    hour = datetime(2026, 1, 2, 3, tzinfo=UTC)

    def row(value: str, events: int, score: float, bucket: datetime = hour) -> dict[str, object]:
        return {"period": "h", "dim": "rule", "bucket": bucket, "site": "a", "value": value} | {
            "events": events,
            "max_score": score,
        }

    key = ["period", "dim", "bucket", "site", "value"]
    naive = datetime(2026, 1, 2, 4)  # stored as UTC, like every timestamp of the schema
    async with get_db_context() as session:
        await increment(
            session,
            ThreatRollup,
            [row(f"r{i}", i, i / 10) for i in range(1, 6)] + [row("r1", 7, 0.1, naive)],
            key,
            ["events"],
            ["max_score"],
        )
    async with get_db_context() as session:
        # The same key twice in one call adds both.
        await increment(
            session,
            ThreatRollup,
            [row("r2", 10, 0.9), row("r2", 1, 0.05), row("r6", 6, 0.6)],
            key,
            ["events"],
            ["max_score"],
        )
    async with get_db_context() as session:
        stored = {
            (r.value, r.bucket): (r.events, r.max_score)
            for r in await session.scalars(select(ThreatRollup))
        }
    later = datetime(2026, 1, 2, 4, tzinfo=UTC)
    assert stored == {
        ("r1", hour): (1, 0.1),
        ("r2", hour): (13, 0.9),
        ("r3", hour): (3, 0.3),
        ("r4", hour): (4, 0.4),
        ("r5", hour): (5, 0.5),
        ("r6", hour): (6, 0.6),
        ("r1", later): (7, 0.1),
    }
