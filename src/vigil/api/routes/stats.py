"""Dashboard numbers: counts per time bucket, by severity and category, top IPs, paths, rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from vigil.api.deps import ReadKey, SessionDep, visible_site
from vigil.api.routes import KEYED
from vigil.api.schemas import StatsOut, StatsQuery
from vigil.services.stats import MAX_SPAN_DAYS, RANGES, compute_stats

router = APIRouter(tags=["stats"], responses=KEYED)


@router.get("/stats", response_model=StatsOut, summary="Counts and tops over a time range")
async def stats(
    session: SessionDep, key: ReadKey, query: Annotated[StatsQuery, Query()]
) -> StatsOut:
    visible_site(key, query.site)
    until = query.until or datetime.now(UTC)
    since = query.since or until - RANGES[query.range]
    if since >= until:
        raise HTTPException(422, detail="'from' must be before 'to'")
    if (until - since).days > MAX_SPAN_DAYS:
        raise HTTPException(422, detail=f"the range may span at most {MAX_SPAN_DAYS} days")
    result = await compute_stats(
        session, key.visibility, since=since, until=until, site=query.site, top=query.top
    )
    # Read from the dataclasses' attributes: `asdict` deep-copied every bucket's dicts first,
    # a good part of the CPU of a week's answer.
    return StatsOut.model_validate(result, from_attributes=True)
