"""Idempotent inserts: the same event key stored twice is one row."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from vigil.config import Settings
from vigil.db.bulk import COPY_MIN_ROWS, insert_ignore, insert_returning_new
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


async def test_many_new_rows_store_the_same_as_few(db: Settings) -> None:
    """Above COPY_MIN_ROWS PostgreSQL takes the COPY path: same rows, same answer."""
    count = COPY_MIN_ROWS + 20
    rows = [_event(f"c{i}", 0.5 + i / 1000) for i in range(count)]
    rows[0]["matched_rules"] = [{"rule_id": "r", "evidence": {"n": 1, "when": "x"}}]
    rows[1]["observed_at"] = datetime(2026, 1, 2, 3, 4, 5)  # naive: taken as UTC
    rows[2]["status"] = None
    rows[3]["query"] = "a'b\\\\c\\tnul\\u2028é"
    async with get_db_context() as session:
        await insert_ignore(session, ThreatEvent, [_event("c5", 0.01)], ["event_key"])
    async with get_db_context() as session:
        new = await insert_returning_new(
            session, ThreatEvent, rows, ["event_key"], ThreatEvent.event_key
        )
        # A second call in the same transaction sees only its own rows.
        again = await insert_returning_new(
            session, ThreatEvent, rows[:COPY_MIN_ROWS], ["event_key"], ThreatEvent.event_key
        )
    assert again == {}
    assert set(new) == {f"c{i}" for i in range(count)} - {"c5"}
    async with get_db_context() as session:
        stored = {e.event_key: e for e in (await session.scalars(select(ThreatEvent))).all()}
    assert len(stored) == count
    assert {key: stored[key].id for key in new} == new
    assert stored["c5"].score == 0.01
    assert stored["c0"].matched_rules == [{"rule_id": "r", "evidence": {"n": 1, "when": "x"}}]
    assert stored["c0"].categories == ["sqli"] and stored["c0"].component_scores == {}
    assert stored["c1"].observed_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert stored["c2"].status is None and stored["c4"].status == 200
    assert stored["c3"].query == "a'b\\\\c\\tnul\\u2028é"
    assert stored["c7"].score == 0.507 and stored["c7"].reviewed is False
