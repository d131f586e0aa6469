"""Incidents: filtered keyset pages and one incident with its latest events; a campaign
incident's members (counted, previewed for a page of incidents, and paged for one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import ColumnElement, and_, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from vigil.db.models import Decision, Incident, IncidentMember, ThreatEvent
from vigil.services.netmatch import Network, client_clause
from vigil.services.pagination import Page, decode_cursor, decode_text_cursor, fetch_page
from vigil.services.visibility import Visibility

IncidentSort = Literal["-last_seen", "last_seen"]
_MEMBER_SORT = "members:-last_seen"


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """What a caller narrows incidents by; every field is optional."""

    site: str | None = None
    status: str | None = None
    severities: tuple[str, ...] = ()
    client: Network | None = None
    since: datetime | None = None
    until: datetime | None = None


async def _conditions(
    session: AsyncSession, visible: Visibility, filters: IncidentFilter
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [visible.clause(Incident.site)]
    if filters.site is not None:
        conditions.append(Incident.site == filters.site)
    if filters.status is not None:
        conditions.append(Incident.status == filters.status)
    if filters.severities:
        conditions.append(Incident.top_severity.in_(filters.severities))
    if filters.client is not None:
        conditions.append(await client_clause(session, Incident.client_ip, filters.client))
    if filters.since is not None:
        conditions.append(Incident.last_seen >= filters.since)
    if filters.until is not None:
        conditions.append(Incident.first_seen < filters.until)
    return conditions


async def list_incidents(
    session: AsyncSession,
    visible: Visibility,
    filters: IncidentFilter,
    *,
    sort: IncidentSort = "-last_seen",
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Incident]:
    """A page of visible incidents; raises InvalidCursorError for bad cursors."""
    descending = sort.startswith("-")
    stmt = select(Incident).where(*await _conditions(session, visible, filters))
    if cursor:
        value, last_id = decode_cursor(cursor, sort, datetime)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        position = tuple_(Incident.last_seen, Incident.id)
        stmt = stmt.where(
            position < (value, last_id) if descending else position > (value, last_id)
        )
    if descending:
        stmt = stmt.order_by(Incident.last_seen.desc(), Incident.id.desc())
    else:
        stmt = stmt.order_by(Incident.last_seen.asc(), Incident.id.asc())
    return await fetch_page(session, stmt, limit, lambda last: (sort, last.last_seen, last.id))


async def get_incident(
    session: AsyncSession, visible: Visibility, incident_id: int
) -> Incident | None:
    """The incident with `incident_id` if the caller may see it."""
    stmt = select(Incident).where(Incident.id == incident_id, visible.clause(Incident.site))
    return (await session.scalars(stmt)).one_or_none()


async def incident_events(
    session: AsyncSession, visible: Visibility, incident: Incident, limit: int = 100
) -> list[ThreatEvent]:
    """The newest events of a visible incident."""
    stmt = (
        select(ThreatEvent)
        .where(ThreatEvent.incident_id == incident.id, visible.clause(ThreatEvent.site))
        .order_by(ThreatEvent.observed_at.desc(), ThreatEvent.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def incident_members(
    session: AsyncSession,
    visible: Visibility,
    incident: Incident,
    limit: int = 1000,
    cursor: str | None = None,
) -> Page[IncidentMember]:
    """A page of the member clients of a visible campaign incident, most recently seen first
    (then by address); raises InvalidCursorError for bad cursors."""
    if not visible.allows(incident.site):
        return Page([], None)
    stmt = select(IncidentMember).where(IncidentMember.incident_id == incident.id)
    if cursor:
        seen, client = decode_text_cursor(cursor, _MEMBER_SORT, datetime)
        stmt = stmt.where(
            or_(
                IncidentMember.last_seen < seen,
                and_(IncidentMember.last_seen == seen, IncidentMember.client_ip > client),
            )
        )
    stmt = stmt.order_by(IncidentMember.last_seen.desc(), IncidentMember.client_ip)
    return await fetch_page(
        session, stmt, limit, lambda last: (_MEMBER_SORT, last.last_seen, last.client_ip)
    )


async def member_counts(
    session: AsyncSession, visible: Visibility, incident_ids: list[int]
) -> dict[int, int]:
    """Members of each of `incident_ids` the caller may see (absent: none)."""
    if not incident_ids:
        return {}
    stmt = (
        select(IncidentMember.incident_id, func.count())
        .join(Incident, Incident.id == IncidentMember.incident_id)
        .where(IncidentMember.incident_id.in_(incident_ids), visible.clause(Incident.site))
        .group_by(IncidentMember.incident_id)
    )
    return {int(i): int(n) for i, n in (await session.execute(stmt)).all()}


async def member_previews(
    session: AsyncSession, visible: Visibility, incident_ids: list[int], per_incident: int
) -> dict[int, list[IncidentMember]]:
    """The `per_incident` most recently seen members of each of `incident_ids` the caller may
    see, in one query (a page of incidents lists a few members of each campaign)."""
    if not incident_ids or per_incident < 1:
        return {}
    rank = (
        func.row_number()
        .over(
            partition_by=IncidentMember.incident_id,
            order_by=(IncidentMember.last_seen.desc(), IncidentMember.client_ip),
        )
        .label("rank")
    )
    ranked = (
        select(IncidentMember, rank)
        .join(Incident, Incident.id == IncidentMember.incident_id)
        .where(IncidentMember.incident_id.in_(incident_ids), visible.clause(Incident.site))
        .subquery()
    )
    member = aliased(IncidentMember, ranked)
    stmt = (
        select(member)
        .where(ranked.c.rank <= per_incident)
        .order_by(ranked.c.incident_id, ranked.c.rank)
    )
    out: dict[int, list[IncidentMember]] = {}
    for row in (await session.scalars(stmt)).all():
        out.setdefault(row.incident_id, []).append(row)
    return out


async def incident_decisions(
    session: AsyncSession, visible: Visibility, incident: Incident
) -> list[Decision]:
    """The block decisions the policy made for a visible incident, newest first."""
    stmt = (
        select(Decision)
        .where(Decision.incident_id == incident.id, visible.clause(Decision.site))
        .order_by(Decision.created_at.desc(), Decision.id.desc())
        .limit(100)
    )
    return list((await session.scalars(stmt)).all())


async def review_incident(
    session: AsyncSession, visible: Visibility, incident_id: int
) -> Incident | None:
    """Mark a visible incident reviewed; None if not visible.

    A reviewed incident is closed: the client's next events start a new incident.
    """
    incident = await get_incident(session, visible, incident_id)
    if incident is None:
        return None
    incident.status = "reviewed"
    await session.flush()
    return incident
