"""Threat events: list with filters and cursor pages, one event, review."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from vigil.api.deps import AppStateDep, ReadKey, SessionDep, WriteKey, visible_site
from vigil.api.routes import KEYED, NOT_FOUND
from vigil.api.schemas import MAX_ID, ReviewIn, ThreatOut, ThreatPage, ThreatQuery
from vigil.services import audit, profiles, threats
from vigil.services.netmatch import parse_client_filter
from vigil.services.pagination import InvalidCursorError

router = APIRouter(prefix="/threats", tags=["threats"], responses=KEYED)

ThreatId = Annotated[int, Path(ge=1, le=MAX_ID)]


def threat_filter(query: ThreatQuery) -> threats.ThreatFilter:
    return threats.ThreatFilter(
        severities=tuple(query.severity),
        category=query.category,
        rule_id=query.rule_id,
        client=parse_client_filter(query.client) if query.client else None,
        path_contains=query.path,
        site=query.site,
        since=query.since,
        until=query.until,
        reviewed=query.reviewed,
        label=query.label,
        incident_id=query.incident_id,
    )


@router.get("", response_model=ThreatPage, summary="Threat events, newest first by default")
async def list_threats(
    session: SessionDep, key: ReadKey, query: Annotated[ThreatQuery, Query()]
) -> ThreatPage:
    visible_site(key, query.site)
    try:
        page = await threats.list_threats(
            session,
            key.visibility,
            threat_filter(query),
            sort=query.sort,
            limit=query.limit,
            cursor=query.cursor,
        )
    except InvalidCursorError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    return ThreatPage(
        items=[ThreatOut.model_validate(row) for row in page.items],
        next_cursor=page.next_cursor,
        limit=query.limit,
    )


@router.get("/{threat_id}", response_model=ThreatOut, responses=NOT_FOUND)
async def get_threat(session: SessionDep, key: ReadKey, threat_id: ThreatId) -> ThreatOut:
    row = await threats.get_threat(session, key.visibility, threat_id)
    if row is None:
        raise HTTPException(404, detail="no such threat event")
    return ThreatOut.model_validate(row)


@router.patch(
    "/{threat_id}",
    response_model=ThreatOut,
    responses=NOT_FOUND,
    summary="Review an event: true_positive or false_positive, with a note",
)
async def review_threat(
    session: SessionDep, key: WriteKey, threat_id: ThreatId, review: ReviewIn, state: AppStateDep
) -> ThreatOut:
    row = await threats.review_threat(
        session, key.visibility, threat_id, label=review.label, note=review.note
    )
    if row is None:
        raise HTTPException(404, detail="no such threat event")
    audit.record(
        session,
        key,
        "threat.review",
        f"threat {row.id}",
        site=row.site,
        detail={"label": review.label, "note": review.note},
    )
    if review.label == "false_positive":
        # The request was normal for its site: its profile learns it, live in the running
        # pipeline (which saves it), else in the stored profile.
        teach = getattr(state.pipeline, "teach_profile", None)
        if teach is None or not teach(row.site, row.method, row.path, row.query, row.client_ip):
            await profiles.teach_stored(
                session, row.site, row.method, row.path, row.query, row.client_ip
            )
    await session.commit()
    return ThreatOut.model_validate(row)
