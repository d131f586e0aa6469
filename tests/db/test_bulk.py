"""Idempotent inserts: the same event key stored twice is one row."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from vigil.config import Settings
from vigil.db.bulk import insert_ignore
from vigil.db.models import ThreatEvent
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
    async with get_db_context() as session:
        await insert_ignore(
            session, ThreatEvent, [_event("k1", 0.9), _event("k2", 0.8)], ["event_key"]
        )
    async with get_db_context() as session:
        await insert_ignore(
            session, ThreatEvent, [_event("k1", 0.1), _event("k3", 0.7)], ["event_key"]
        )
    async with get_db_context() as session:
        total = await session.scalar(select(func.count()).select_from(ThreatEvent))
        first = await session.scalar(select(ThreatEvent).where(ThreatEvent.event_key == "k1"))
    assert total == 3
    assert first is not None
    assert first.score == 0.9
    assert first.observed_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
