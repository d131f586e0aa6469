"""Incidents: one row per client per episode, so an operator reviews 1 incident, not 4,000 events.

An episode ends when the client has been quiet for `quiet` time; its next event opens a new one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.db.models import Incident, ThreatEvent

SEVERITY_RANK = {"LOW": 0, "MEDIUM": 1, "HIGH": 2}


@dataclass(slots=True)
class StoredEvent:
    """What incident and blocklist logic need of a newly stored event."""

    id: int
    client_ip: str
    observed_at: datetime
    severity: str
    score: float
    categories: list[str]


def _merge(incident: Incident, event: StoredEvent) -> None:
    incident.last_seen = max(incident.last_seen, event.observed_at)
    incident.first_seen = min(incident.first_seen, event.observed_at)
    incident.event_count += 1
    incident.max_score = max(incident.max_score, event.score)
    if SEVERITY_RANK[event.severity] > SEVERITY_RANK.get(incident.top_severity, 0):
        incident.top_severity = event.severity
    merged = set(incident.categories or []) | set(event.categories)
    if merged != set(incident.categories or []):
        incident.categories = sorted(merged)


async def attach_incidents(
    session: AsyncSession, site: str, events: list[StoredEvent], quiet: timedelta
) -> list[Incident]:
    """Upsert the incidents of `events` and point each event at its incident; returns them."""
    if not events:
        return []
    by_ip: dict[str, list[StoredEvent]] = defaultdict(list)
    for event in events:
        by_ip[event.client_ip].append(event)
    earliest = min(e.observed_at for e in events) - quiet
    rows = await session.scalars(
        select(Incident)
        .where(
            Incident.site == site,
            Incident.client_ip.in_(list(by_ip)),
            Incident.status == "open",
            Incident.last_seen >= earliest,
        )
        .order_by(Incident.last_seen)
    )
    latest: dict[str, Incident] = {}
    for incident in rows:
        latest[incident.client_ip] = incident

    touched: dict[int, Incident] = {}
    members: dict[int, list[int]] = defaultdict(list)
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
                await session.flush()
            _merge(current, event)
            touched[current.id] = current
            members[current.id].append(event.id)
    for incident_id, event_ids in members.items():
        await session.execute(
            update(ThreatEvent).where(ThreatEvent.id.in_(event_ids)).values(incident_id=incident_id)
        )
    return list(touched.values())
