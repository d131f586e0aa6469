"""Incidents: one row per attacker episode, or per campaign across clients (with members)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from vigil.api.deps import ReadKey, SessionDep, WriteKey, visible_site
from vigil.api.routes import KEYED, NOT_FOUND
from vigil.api.schemas import (
    MAX_ID,
    DecisionOut,
    IncidentDetail,
    IncidentMemberOut,
    IncidentMemberPage,
    IncidentMemberQuery,
    IncidentOut,
    IncidentPage,
    IncidentQuery,
    IncidentReviewIn,
    ThreatOut,
)
from vigil.db.models import Incident, IncidentMember
from vigil.services import audit, incidents
from vigil.services.netmatch import parse_client_filter
from vigil.services.pagination import InvalidCursorError, Page

router = APIRouter(prefix="/incidents", tags=["incidents"], responses=KEYED)

PREVIEW_MEMBERS = 10
"""Members listed with each campaign in a list of incidents."""


def _out(row: Incident, count: int = 0, members: list[IncidentMember] | None = None) -> IncidentOut:
    return IncidentOut.model_validate(row).model_copy(
        update={
            "member_count": count,
            "members": [IncidentMemberOut.model_validate(m) for m in members or ()],
        }
    )


@router.get("", response_model=IncidentPage, summary="Incidents, most recently active first")
async def list_incidents(
    session: SessionDep, key: ReadKey, query: Annotated[IncidentQuery, Query()]
) -> IncidentPage:
    visible_site(key, query.site)
    filters = incidents.IncidentFilter(
        site=query.site,
        status=query.status,
        severities=tuple(query.severity),
        client=parse_client_filter(query.client) if query.client else None,
        since=query.since,
        until=query.until,
    )
    try:
        page = await incidents.list_incidents(
            session,
            key.visibility,
            filters,
            sort=query.sort,
            limit=query.limit,
            cursor=query.cursor,
        )
    except InvalidCursorError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    campaigns = [row.id for row in page.items if row.campaign]
    counts = await incidents.member_counts(session, key.visibility, campaigns)
    previews = await incidents.member_previews(session, key.visibility, campaigns, PREVIEW_MEMBERS)
    return IncidentPage(
        items=[_out(row, counts.get(row.id, 0), previews.get(row.id)) for row in page.items],
        next_cursor=page.next_cursor,
        limit=query.limit,
    )


IncidentId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/{incident_id}", response_model=IncidentDetail, responses=NOT_FOUND)
async def get_incident(
    session: SessionDep, key: ReadKey, incident_id: IncidentId
) -> IncidentDetail:
    row = await incidents.get_incident(session, key.visibility, incident_id)
    if row is None:
        raise HTTPException(404, detail="no such incident")
    events = await incidents.incident_events(session, key.visibility, row)
    count = 0
    members: Page[IncidentMember] = Page([], None)
    if row.campaign:
        count = (await incidents.member_counts(session, key.visibility, [row.id])).get(row.id, 0)
        members = await incidents.incident_members(session, key.visibility, row, limit=100)
    return IncidentDetail(
        **_out(row, count, members.items).model_dump(),
        members_next_cursor=members.next_cursor,
        events=[ThreatOut.model_validate(e) for e in events],
        decisions=[
            DecisionOut.model_validate(d)
            for d in await incidents.incident_decisions(session, key.visibility, row)
        ],
    )


@router.get(
    "/{incident_id}/members",
    response_model=IncidentMemberPage,
    responses=NOT_FOUND,
    summary="A campaign incident's member clients, most recently seen first",
)
async def list_incident_members(
    session: SessionDep,
    key: ReadKey,
    incident_id: IncidentId,
    query: Annotated[IncidentMemberQuery, Query()],
) -> IncidentMemberPage:
    row = await incidents.get_incident(session, key.visibility, incident_id)
    if row is None:
        raise HTTPException(404, detail="no such incident")
    try:
        page = await incidents.incident_members(
            session, key.visibility, row, limit=query.limit, cursor=query.cursor
        )
    except InvalidCursorError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    return IncidentMemberPage(
        items=[IncidentMemberOut.model_validate(m) for m in page.items],
        next_cursor=page.next_cursor,
        limit=query.limit,
    )


@router.patch(
    "/{incident_id}",
    response_model=IncidentOut,
    responses=NOT_FOUND,
    summary="Mark an incident reviewed (the client's next events start a new incident)",
)
async def review_incident(
    session: SessionDep, key: WriteKey, incident_id: IncidentId, body: IncidentReviewIn
) -> IncidentOut:
    row = await incidents.review_incident(session, key.visibility, incident_id)
    if row is None:
        raise HTTPException(404, detail="no such incident")
    audit.record(
        session,
        key,
        "incident.review",
        f"incident {row.id} ({row.client_ip})",
        site=row.site,
        detail={"status": body.status, "note": body.note},
    )
    await session.commit()
    count = 0
    if row.campaign:
        count = (await incidents.member_counts(session, key.visibility, [row.id])).get(row.id, 0)
    return _out(row, count)
