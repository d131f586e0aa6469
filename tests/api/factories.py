"""Rows and keys for API and service tests, written through the real session layer."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from vigil.db.models import Decision, Incident, IncidentMember, ThreatEvent
from vigil.db.partitions import Partitions, day_of
from vigil.db.session import get_db_context, get_engine
from vigil.services.keys import Scope, create_key
from vigil.sinks.rollups import RollupWriter
from vigil.sinks.store import EVENT_COLUMNS, record_event_rows

_counter = itertools.count(1)
BASE_TIME = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def event_row(
    *,
    site: str = "alpha",
    observed_at: datetime | None = None,
    severity: str = "HIGH",
    score: float = 0.9,
    client_ip: str = "203.0.113.5",
    path: str = "/login",
    query: str = "id=1'+OR+1=1--",
    categories: list[str] | None = None,
    rules: list[str] | None = None,
    incident_id: int | None = None,
    reviewed: bool = False,
) -> dict[str, Any]:
    n = next(_counter)
    return {
        "event_key": f"test-{n:012d}",
        "site": site,
        "source": "test.log",
        "observed_at": observed_at or BASE_TIME + timedelta(seconds=n),
        "created_at": datetime.now(UTC),
        "client_ip": client_ip,
        "method": "GET",
        "path": path,
        "query": query,
        "status": 403,
        "bytes_sent": 512,
        "user_agent": "sqlmap/1.7",
        "referer": "",
        "score": score,
        "severity": severity,
        "detection_mode": "rules",
        "categories": categories if categories is not None else ["sqli"],
        "matched_rules": [
            {"rule_id": r, "category": "sqli", "target": "query", "fragment": "1=1", "points": 5}
            for r in (rules if rules is not None else ["942100"])
        ],
        "component_scores": {"rules": score},
        "incident_id": incident_id,
        "reviewed": reviewed,
    }


async def insert_events(rows: list[dict[str, Any]]) -> list[int]:
    """Store event rows with what the store writes beside them (their matched rules as rows and
    their rollup counts); returns their ids in order."""
    async with get_db_context() as session:
        days = {day_of(row["observed_at"]) for row in rows}
        await Partitions().ensure(get_engine(), days)
        result = await session.execute(
            insert(ThreatEvent).returning(ThreatEvent.id, sort_by_parameter_order=True), rows
        )
        ids = [row[0] for row in result.all()]
        rollups = RollupWriter()
        by_site: dict[str, list[tuple[int, tuple[Any, ...]]]] = {}
        for ident, row in zip(ids, rows, strict=True):
            values = tuple(row.get(name) for name in EVENT_COLUMNS[1:])
            by_site.setdefault(row["site"], []).append((ident, values))
        for pairs in by_site.values():
            await record_event_rows(session, rollups, [i for i, _ in pairs], [v for _, v in pairs])
        rollups.committed()
        return ids


async def insert_incident(
    *, site: str = "alpha", client_ip: str = "203.0.113.5", last_seen: datetime | None = None
) -> int:
    seen = last_seen or BASE_TIME + timedelta(seconds=next(_counter))
    async with get_db_context() as session:
        incident = Incident(
            site=site,
            client_ip=client_ip,
            first_seen=seen - timedelta(minutes=5),
            last_seen=seen,
            event_count=3,
            top_severity="HIGH",
            max_score=0.95,
            categories=["sqli"],
            status="open",
        )
        session.add(incident)
        await session.flush()
        return incident.id


async def insert_campaign(*, site: str = "alpha", members: int = 3) -> int:
    """A campaign incident (`POST /xmlrpc.php 404`) with `members` member clients, the n-th
    last seen n minutes after BASE_TIME."""
    async with get_db_context() as session:
        incident = Incident(
            site=site,
            client_ip="*",
            first_seen=BASE_TIME - timedelta(days=3),
            last_seen=BASE_TIME + timedelta(minutes=members),
            event_count=members,
            top_severity="HIGH",
            max_score=0.9,
            categories=["campaign"],
            status="open",
            campaign="POST /xmlrpc.php 404",
            summary=f"campaign: {members} clients, POST /xmlrpc.php → 404",
        )
        session.add(incident)
        await session.flush()
        session.add_all(
            IncidentMember(
                incident_id=incident.id,
                client_ip=f"198.18.{n % 250}.{n // 250 + 1}",
                first_seen=BASE_TIME - timedelta(days=2),
                last_seen=BASE_TIME + timedelta(minutes=n // 2),
                hits=3 + n,
                events=1,
            )
            for n in range(members)
        )
        await session.flush()
        return incident.id


async def insert_decision(
    *,
    site: str = "alpha",
    value: str = "203.0.113.5",
    simulated: bool = False,
    expires_at: datetime | None = None,
    deleted: bool = False,
) -> int:
    now = datetime.now(UTC)
    async with get_db_context() as session:
        decision = Decision(
            site=site,
            value=value,
            scope="ip",
            reason="test",
            origin="vigil",
            simulated=simulated,
            created_at=now,
            expires_at=expires_at if expires_at is not None else now + timedelta(hours=1),
            deleted_at=now if deleted else None,
        )
        session.add(decision)
        await session.flush()
        return decision.id


async def make_key(scope: Scope = "read", sites: list[str] | None = None) -> str:
    """A new key (the secret), stored hashed."""
    async with get_db_context() as session:
        _, secret = await create_key(session, name=f"test-{scope}", scope=scope, sites=sites or [])
    return secret
