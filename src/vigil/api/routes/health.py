"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from vigil import __version__, metrics
from vigil.api.deps import AppStateDep, OptionalKey, SessionDep, metrics_access
from vigil.api.schemas import CheckOut, ErrorOut, HealthOut, ReadyOut
from vigil.services.keys import Principal
from vigil.services.models import model_versions

router = APIRouter(tags=["health"])


def _visible_stats(stats: dict[str, Any], key: Principal) -> dict[str, Any]:
    """Pipeline counters a key may see: all of them for a key that sees every site; only its
    sites' totals for a key limited to some sites (other sites' volumes are not its business)."""
    if not key.visibility.restricted:
        return stats
    sites = stats.get("sites") or {}
    return {
        "sites": {name: totals for name, totals in sites.items() if key.visibility.allows(name)},
        "database_healthy": stats.get("database_healthy", True),
        "detection_mode": stats.get("detection_mode"),
    }


@router.get(
    "/health",
    response_model=HealthOut,
    summary="Liveness; with an API key, pipeline counters of the key's sites",
    responses={401: {"model": ErrorOut, "description": "a key was sent and is not valid"}},
)
async def health(state: AppStateDep, key: OptionalKey) -> HealthOut:
    pipeline = None
    if key is not None and state.pipeline is not None:
        pipeline = _visible_stats(state.pipeline.stats(), key)
    return HealthOut(
        status="ok",
        version=__version__,
        uptime_seconds=round(time.time() - state.started_at, 1),
        pipeline=pipeline,
    )


@router.get(
    "/ready",
    response_model=ReadyOut,
    summary="Whether the database, the broker and the pipeline can serve",
    responses={503: {"model": ErrorOut, "description": "not ready; `checks` says why"}},
)
async def ready(state: AppStateDep, session: SessionDep) -> ReadyOut | JSONResponse:
    checks: dict[str, CheckOut] = {}
    try:
        await session.execute(text("SELECT 1"))
        checks["database"] = CheckOut(ok=True, detail=session.get_bind().dialect.name)
    except Exception as exc:
        checks["database"] = CheckOut(ok=False, detail=f"unreachable: {type(exc).__name__}")
    broker_ok = await state.broker.ping()
    checks["broker"] = CheckOut(ok=broker_ok, detail=state.broker.name)
    if checks["database"].ok:
        active = [m for m in await model_versions(session) if m.is_active]
        mode = state.settings.detection_mode
        detail = ", ".join(f"{m.model_type} {m.version}" for m in active) or (
            "rules only" if mode == "rules" else "no active model: rules only until `vigil train`"
        )
        checks["models"] = CheckOut(ok=True, detail=detail)
    if state.pipeline is not None:
        healthy = bool(state.pipeline.stats().get("database_healthy", True))
        checks["pipeline"] = CheckOut(ok=healthy, detail="running" if healthy else "storing fails")
    is_ready = all(check.ok for check in checks.values())
    body = ReadyOut(ready=is_ready, checks=checks)
    if not is_ready:
        failing = ", ".join(name for name, check in checks.items() if not check.ok)
        return JSONResponse(
            status_code=503,
            content={"detail": f"not ready: {failing}", **body.model_dump(mode="json")},
        )
    return body


@router.get(
    "/metrics",
    summary="Prometheus metrics (public unless VIGIL_METRICS_PUBLIC=false)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}, 401: {"model": ErrorOut}},
)
async def prometheus_metrics(_: Annotated[None, Depends(metrics_access)]) -> Response:
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
