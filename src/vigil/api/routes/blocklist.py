"""What to block: the active blocklist for firewalls to poll, and manual decisions."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Path, Query
from fastapi.responses import PlainTextResponse

from vigil.api.deps import AdminKey, AppStateDep, ReadKey, SessionDep, visible_site, writable_site
from vigil.api.routes import KEYED, NOT_FOUND
from vigil.api.schemas import MAX_ID, BlocklistOut, DecisionIn, DecisionOut, SiteName
from vigil.services import audit, decisions
from vigil.sinks.blocklist import merged_networks

router = APIRouter(tags=["blocklist"], responses=KEYED)


@router.get(
    "/blocklist",
    response_model=BlocklistOut,
    summary="Addresses and networks to block now",
    description=(
        "Unexpired, not lifted, not simulated decisions. JSON by default; one value per line "
        "with `?format=text` or `Accept: text/plain`."
    ),
    responses={200: {"content": {"text/plain": {}}}},
)
async def blocklist(
    session: SessionDep,
    key: ReadKey,
    site: Annotated[SiteName | None, Query()] = None,
    format: Annotated[Literal["json", "text"] | None, Query()] = None,
    accept: Annotated[str | None, Header(max_length=1024)] = None,
) -> BlocklistOut | PlainTextResponse:
    visible_site(key, site)
    rows = await decisions.active_blocklist(session, key.visibility, site=site)
    wants_text = format == "text" or (
        format is None and accept is not None and "text/plain" in accept.lower()
    )
    if wants_text:
        values = merged_networks([row.value for row in rows])
        return PlainTextResponse("".join(f"{value}\n" for value in values))
    return BlocklistOut(items=[DecisionOut.model_validate(r) for r in rows], count=len(rows))


@router.post(
    "/decisions",
    status_code=201,
    response_model=DecisionOut,
    tags=["decisions"],
    summary="Block an address or CIDR by hand",
)
async def create_decision(
    session: SessionDep, state: AppStateDep, key: AdminKey, body: DecisionIn
) -> DecisionOut:
    settings = state.settings
    if (body.all_sites or body.force) and key.visibility.restricted:
        raise HTTPException(
            403,
            detail="decisions for every site and forced wide ones need an admin key for every site",
        )
    if body.all_sites and body.site is not None:
        raise HTTPException(422, detail="give either site or all_sites, not both")
    widest = decisions.too_wide(
        body.value, v4=settings.decision_max_prefix_v4, v6=settings.decision_max_prefix_v6
    )
    if widest is not None and not body.force:
        raise HTTPException(
            422,
            detail=f"{body.value} is wider than the widest network a decision may block "
            f"({widest}); an admin key for every site may set force",
        )
    site = None if body.all_sites else writable_site(key, body.site, default=settings.site)
    decision = await decisions.create_decision(
        session,
        site=site,
        value=body.value,
        reason=body.reason or f"manual block by {key.name}",
        duration=timedelta(minutes=body.duration_minutes) if body.duration_minutes else None,
    )
    audit.record(
        session,
        key,
        "decision.create",
        decision.value,
        site=site,
        detail={
            "id": decision.id,
            "reason": decision.reason,
            "expires_at": decision.expires_at.isoformat() if decision.expires_at else None,
        },
    )
    await session.commit()
    return DecisionOut.model_validate(decision)


@router.delete(
    "/decisions/{decision_id}",
    status_code=204,
    tags=["decisions"],
    responses=NOT_FOUND,
    summary="Lift a decision",
)
async def delete_decision(
    session: SessionDep, key: AdminKey, decision_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> None:
    decision = await decisions.delete_decision(session, key.visibility, decision_id)
    if decision is None:
        raise HTTPException(404, detail="no such active decision")
    audit.record(
        session,
        key,
        "decision.delete",
        decision.value,
        site=decision.site,
        detail={"id": decision.id},
    )
    await session.commit()
