"""Incidents: one row per client per episode, so an operator reviews 1 incident, not 4,000 events.

An episode ends when the client has been quiet for `quiet` time; its next event opens a new one.
All incidents of a batch are read with one query and written with one flush.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.db.models import Incident

SEVERITY_RANK = {"LOW": 0, "MEDIUM": 1, "HIGH": 2}


@dataclass(slots=True)
class NewEvent:
    """What incident and blocklist logic need of an event about to be stored."""

    key: str
    client_ip: str
    observed_at: datetime
    severity: str
    score: float
    categories: list[str]


def _merge(incident: Incident, event: NewEvent) -> None:
    incident.last_seen = max(incident.last_seen, event.observed_at)
    incident.first_seen = min(incident.first_seen, event.observed_at)
    incident.event_count += 1
    incident.max_score = max(incident.max_score, event.score)
    if SEVERITY_RANK[event.severity] > SEVERITY_RANK.get(incident.top_severity, 0):
        incident.top_severity = event.severity
    merged = set(incident.categories or []) | set(event.categories)
    if merged != set(incident.categories or []):
        incident.categories = sorted(merged)


async def assign_incidents(
    session: AsyncSession, site: str, events: list[NewEvent], quiet: timedelta
) -> tuple[dict[str, Incident], list[Incident]]:
    """Upsert the incidents of `events`; returns event key → incident, and the touched incidents.

    After the call every incident has its id, so events can be inserted pointing at it.
    """
    if not events:
        return {}, []
    by_ip: dict[str, list[NewEvent]] = defaultdict(list)
    for event in events:
        by_ip[event.client_ip].append(event)
    earliest = min(e.observed_at for e in events) - quiet
    latest: dict[str, Incident] = {}
    ips = list(by_ip)
    for start in range(0, len(ips), 1000):
        rows = await session.scalars(
            select(Incident)
            .where(
                Incident.site == site,
                Incident.client_ip.in_(ips[start : start + 1000]),
                Incident.status == "open",
                Incident.last_seen >= earliest,
            )
            .order_by(Incident.last_seen)
        )
        for incident in rows:
            latest[incident.client_ip] = incident

    of_event: dict[str, Incident] = {}
    touched: dict[int, Incident] = {}
    for ip, client_events in by_ip.items():
        current = latest.get(ip)
        for event in sorted(client_events, key=lambda e: e.observed_at):
            if current is None or event.observed_at - current.last_seen > quiet:
                current = Incident(
                    site=site,
                    client_ip=ip,
                    first_seen=event.observed_at,
                    last_seen=event.observed_at,
                    event_count=0,
                    top_severity=event.severity,
                    max_score=event.score,
                    categories=[],
                    status="open",
                )
                session.add(current)
            _merge(current, event)
            of_event[event.key] = current
            touched[id(current)] = current
    await session.flush()
    return of_event, list(touched.values())
