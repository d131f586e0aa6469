"""Campaign incidents: one incident per campaign across clients, listing its members.

A campaign event (`behaviour:campaign`) names one member client and carries the campaign's
target (`POST /xmlrpc.php 404`) and its explanation. The store gives every campaign of a
batch one incident on its site (client `*`, `campaign` set to the target), reopened while the
campaign keeps adding members within `CAMPAIGN_QUIET`; each member is a row of
`incident_members`, and each member no decision covers yet is blocked with the campaign as
its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.batch import Threat
from vigil.db.models import Incident, IncidentMember
from vigil.severity import Severity
from vigil.sinks.blocklist import BlockPolicy, block_members

CAMPAIGN_CATEGORY = "behaviour:campaign"
CAMPAIGN_CLIENT = "*"
# A campaign's events are spread over days (the long windows' horizon is three days).
CAMPAIGN_QUIET = timedelta(days=3)

_INCIDENTS = cast(Table, Incident.__table__)
_MEMBERS = cast(Table, IncidentMember.__table__)


@dataclass(slots=True)
class CampaignOutcome:
    """What storing a batch's campaign events did."""

    incident_ids: set[int]
    decisions: list[dict[str, object]]


def campaign_evidence(threat: Threat) -> dict[str, Any] | None:
    """The campaign evidence of a campaign threat, else None."""
    if CAMPAIGN_CATEGORY not in threat.categories:
        return None
    for match in threat.matches:
        evidence = match.get("evidence")
        if isinstance(evidence, dict) and evidence.get("campaign"):
            return evidence
    return None


async def assign_campaigns(
    session: AsyncSession,
    site: str,
    threats: list[Threat],
    policy: BlockPolicy,
    now: datetime,
) -> CampaignOutcome:
    """Upsert the campaign incidents and members of `threats`, and block new members."""
    by_campaign: dict[str, list[tuple[Threat, dict[str, Any]]]] = {}
    for threat in threats:
        evidence = campaign_evidence(threat)
        if evidence is not None:
            by_campaign.setdefault(str(evidence["campaign"])[:255], []).append((threat, evidence))
    outcome = CampaignOutcome(set(), [])
    for key, items in by_campaign.items():
        times = [t.record.observed_at or now for t, _ in items]
        incident_id = await _incident(session, site, key, items, min(times), max(times))
        outcome.incident_ids.add(incident_id)
        await _members(session, incident_id, items, now)
        latest = items[-1][1]
        reason = (
            f"campaign #{incident_id}: {latest.get('members', len(items))} clients, "
            f"{key} (long-window behaviour)"
        )
        outcome.decisions += await block_members(
            session,
            site,
            incident_id,
            [t.record.client_ip[:45] for t, _ in items],
            reason,
            policy,
            now,
        )
    return outcome


async def _incident(
    session: AsyncSession,
    site: str,
    key: str,
    items: list[tuple[Threat, dict[str, Any]]],
    first: datetime,
    last: datetime,
) -> int:
    c = _INCIDENTS.c
    row = (
        await session.execute(
            select(c.id, c.first_seen, c.last_seen, c.event_count, c.top_severity, c.max_score)
            .where(
                c.site == site,
                c.campaign == key,
                c.status == "open",
                c.last_seen >= first - CAMPAIGN_QUIET,
            )
            .order_by(c.last_seen.desc())
            .limit(1)
        )
    ).first()
    score = max(t.score for t, _ in items)
    top = max((Severity(t.severity) for t, _ in items), key=lambda s: s.rank)
    summary = str(items[-1][1].get("explanation", key))
    if row is None:
        result = await session.execute(
            insert(_INCIDENTS).returning(c.id),
            {
                "site": site,
                "client_ip": CAMPAIGN_CLIENT,
                "first_seen": first,
                "last_seen": last,
                "event_count": len(items),
                "top_severity": str(top),
                "max_score": score,
                "categories": [CAMPAIGN_CATEGORY],
                "status": "open",
                "campaign": key,
                "summary": summary,
            },
        )
        return int(result.scalar_one())
    stored_top = Severity.parse(row.top_severity or "")
    if stored_top is not None and stored_top.rank > top.rank:
        top = stored_top
    await session.execute(
        update(_INCIDENTS)
        .where(c.id == row.id)
        .values(
            first_seen=min(row.first_seen, first),
            last_seen=max(row.last_seen, last),
            event_count=row.event_count + len(items),
            top_severity=str(top),
            max_score=max(row.max_score, score),
            summary=summary,
        )
    )
    return int(row.id)


async def _members(
    session: AsyncSession,
    incident_id: int,
    items: list[tuple[Threat, dict[str, Any]]],
    now: datetime,
) -> None:
    latest: dict[str, dict[str, Any]] = {}
    for threat, evidence in items:
        ip = threat.record.client_ip[:45]
        member = evidence.get("member") or {}
        entry = latest.setdefault(
            ip,
            {"first": _parse(member.get("first_seen")) or threat.record.observed_at or now},
        )
        entry["last"] = _parse(member.get("last_seen")) or threat.record.observed_at or now
        entry["hits"] = int(member.get("hits", 0))
        entry["events"] = entry.get("events", 0) + 1
    m = _MEMBERS.c
    known = {
        row.client_ip: row
        for row in await session.execute(
            select(m.client_ip, m.first_seen, m.last_seen, m.events).where(
                m.incident_id == incident_id, m.client_ip.in_(list(latest))
            )
        )
    }
    fresh = [
        {
            "incident_id": incident_id,
            "client_ip": ip,
            "first_seen": v["first"],
            "last_seen": v["last"],
            "hits": v["hits"],
            "events": v["events"],
        }
        for ip, v in latest.items()
        if ip not in known
    ]
    if fresh:
        await session.execute(insert(_MEMBERS), fresh)
    changed = [
        {
            "b_ip": ip,
            "b_first": min(known[ip].first_seen, v["first"]),
            "b_last": max(known[ip].last_seen, v["last"]),
            "b_hits": v["hits"],
            "b_events": known[ip].events + v["events"],
        }
        for ip, v in latest.items()
        if ip in known
    ]
    if changed:
        await session.execute(
            update(_MEMBERS)
            .where(m.incident_id == incident_id, m.client_ip == bindparam("b_ip"))
            .values(
                first_seen=bindparam("b_first"),
                last_seen=bindparam("b_last"),
                hits=bindparam("b_hits"),
                events=bindparam("b_events"),
            ),
            changed,
        )


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
