"""Allowlist entries and rule exclusions: stored, then applied to the running pipeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.api.deps import AdminKey, AppStateDep, ReadKey, SessionDep, visible_site, writable_site
from vigil.api.routes import KEYED, NOT_FOUND
from vigil.api.schemas import (
    MAX_ID,
    AllowlistIn,
    AllowlistOut,
    ExclusionIn,
    ExclusionOut,
    SiteName,
)
from vigil.api.state import AppState
from vigil.db.models import RuleExclusion
from vigil.services import allowlist, audit
from vigil.services.keys import Principal

router = APIRouter(tags=["allowlist"], responses=KEYED)

EntryId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def push_to_pipeline(session: AsyncSession, state: AppState, site: str | None) -> None:
    """Hand the pipeline the current entries of `site` (after the change is committed)."""
    if state.pipeline is None:
        return
    exclusions, entries = await allowlist.pipeline_rules(session, site)
    state.pipeline.set_exclusions(site, exclusions, entries)


def exclusion_target(exclusion: RuleExclusion) -> str:
    """An exclusion as the audit trail names it: the rule and where it is switched off."""
    where = [
        f"{name} {value}"
        for name, value in (
            ("path", exclusion.path_prefix),
            ("regex", exclusion.path_regex),
            ("argument", exclusion.argument),
        )
        if value
    ]
    return f"rule {exclusion.rule_id}" + (f" on {', '.join(where)}" if where else "")


def _target_site(key: Principal, site: str | None) -> str | None:
    # An entry without a site covers every site; only keys that see every site may make one.
    return writable_site(key, site, default=None)


@router.get("/allowlist", response_model=list[AllowlistOut], summary="Allowlist entries")
async def list_allowlist(
    session: SessionDep, key: ReadKey, site: Annotated[SiteName | None, Query()] = None
) -> list[AllowlistOut]:
    visible_site(key, site)
    rows = await allowlist.list_allowlist(session, key.visibility, site=site)
    return [AllowlistOut.model_validate(row) for row in rows]


@router.post("/allowlist", status_code=201, response_model=AllowlistOut)
async def add_allowlist(
    session: SessionDep, state: AppStateDep, key: AdminKey, body: AllowlistIn
) -> AllowlistOut:
    site = _target_site(key, body.site)
    entry = await allowlist.add_allowlist(
        session,
        site=site,
        kind=body.kind,
        value=body.value,
        reason=body.reason,
        expires_at=body.expires_at,
        created_by=key.name,
    )
    audit.record(
        session,
        key,
        "allowlist.add",
        f"{entry.kind} {entry.value}",
        site=site,
        detail={"id": entry.id, "reason": entry.reason},
    )
    await session.commit()
    await push_to_pipeline(session, state, site)
    return AllowlistOut.model_validate(entry)


@router.delete("/allowlist/{entry_id}", status_code=204, responses=NOT_FOUND)
async def delete_allowlist(
    session: SessionDep, state: AppStateDep, key: AdminKey, entry_id: EntryId
) -> None:
    entry = await allowlist.delete_allowlist(session, key.visibility, entry_id)
    if entry is None:
        raise HTTPException(404, detail="no such allowlist entry")
    audit.record(
        session,
        key,
        "allowlist.delete",
        f"{entry.kind} {entry.value}",
        site=entry.site,
        detail={"id": entry.id},
    )
    await session.commit()
    await push_to_pipeline(session, state, entry.site)


@router.get("/exclusions", response_model=list[ExclusionOut], summary="Rule exclusions")
async def list_exclusions(
    session: SessionDep, key: ReadKey, site: Annotated[SiteName | None, Query()] = None
) -> list[ExclusionOut]:
    visible_site(key, site)
    rows = await allowlist.list_exclusions(session, key.visibility, site=site)
    return [ExclusionOut.model_validate(row) for row in rows]


@router.post("/exclusions", status_code=201, response_model=ExclusionOut)
async def add_exclusion(
    session: SessionDep, state: AppStateDep, key: AdminKey, body: ExclusionIn
) -> ExclusionOut:
    site = _target_site(key, body.site)
    exclusion = await allowlist.add_exclusion(
        session,
        site=site,
        rule_id=body.rule_id,
        path_prefix=body.path_prefix,
        path_regex=body.path_regex,
        argument=body.argument,
        reason=body.reason,
        created_by=key.name,
    )
    audit.record(
        session,
        key,
        "exclusion.add",
        exclusion_target(exclusion),
        site=site,
        detail={"id": exclusion.id, "reason": exclusion.reason},
    )
    await session.commit()
    await push_to_pipeline(session, state, site)
    return ExclusionOut.model_validate(exclusion)


@router.delete("/exclusions/{exclusion_id}", status_code=204, responses=NOT_FOUND)
async def delete_exclusion(
    session: SessionDep, state: AppStateDep, key: AdminKey, exclusion_id: EntryId
) -> None:
    exclusion = await allowlist.delete_exclusion(session, key.visibility, exclusion_id)
    if exclusion is None:
        raise HTTPException(404, detail="no such exclusion")
    audit.record(
        session,
        key,
        "exclusion.delete",
        exclusion_target(exclusion),
        site=exclusion.site,
        detail={"id": exclusion.id},
    )
    await session.commit()
    await push_to_pipeline(session, state, exclusion.site)
