"""Log lines pushed over HTTP into the running pipeline, with backpressure instead of drops."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from vigil.api.deps import AppStateDep, WriteKey, writable_site
from vigil.api.routes import KEYED
from vigil.api.schemas import ErrorOut, IngestAccepted, IngestIn

router = APIRouter(prefix="/ingest", tags=["ingest"], responses=KEYED)

RETRY_AFTER_SECONDS = 1


@router.post(
    "/batch",
    status_code=202,
    response_model=IngestAccepted,
    summary="Queue raw log lines for analysis",
    responses={
        413: {"model": ErrorOut, "description": "more lines or bytes than this server accepts"},
        429: {"model": ErrorOut, "description": "the pipeline is full: retry after Retry-After"},
        503: {"model": ErrorOut, "description": "no pipeline runs in this process"},
    },
)
async def ingest_batch(state: AppStateDep, key: WriteKey, batch: IngestIn) -> IngestAccepted:
    limits = state.limits
    if len(batch.lines) > limits.max_lines:
        raise HTTPException(
            413, detail=f"{len(batch.lines)} lines is more than the limit of {limits.max_lines}"
        )
    site = writable_site(key, batch.site, default=state.settings.site)
    assert site is not None
    if state.pipeline is None:
        raise HTTPException(503, detail="no pipeline runs in this process")
    lines = [line.encode("utf-8", "surrogatepass") for line in batch.lines]
    if not lines:
        return IngestAccepted(accepted=0, site=site)
    if not state.pipeline.try_submit(batch.source, lines, site):
        raise HTTPException(
            429,
            detail="the pipeline is full; nothing was queued, retry later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return IngestAccepted(accepted=len(lines), site=site)
