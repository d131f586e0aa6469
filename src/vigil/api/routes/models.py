"""Model versions, activation, rollback and retraining."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from vigil.api.deps import AdminKey, AppStateDep, GlobalAdminKey, ReadKey, SessionDep
from vigil.api.retrain import RetrainBusyError
from vigil.api.routes import KEYED
from vigil.api.schemas import (
    ErrorOut,
    ModelActivateIn,
    ModelOut,
    ModelRollbackIn,
    ModelsStatusOut,
    RetrainAccepted,
    RetrainJobOut,
)
from vigil.services import audit
from vigil.services.models import (
    ModelChangeError,
    activate_version,
    model_versions,
    rollback_model,
)

router = APIRouter(prefix="/models", tags=["models"], responses=KEYED)

REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorOut, "description": "no such version, or its gates failed"}
}


@router.get("/status", response_model=ModelsStatusOut, summary="Model versions and retraining")
async def models_status(session: SessionDep, state: AppStateDep, _: ReadKey) -> ModelsStatusOut:
    jobs = state.retrain
    return ModelsStatusOut(
        models=[ModelOut.model_validate(m) for m in await model_versions(session)],
        retrain_available=jobs.available,
        retrain=RetrainJobOut.model_validate(jobs.last) if jobs.last is not None else None,
    )


@router.post(
    "/activate",
    response_model=ModelOut,
    responses=REFUSED,
    summary="Make a recorded version the active model of its type (the next start loads it)",
)
async def activate(session: SessionDep, key: GlobalAdminKey, body: ModelActivateIn) -> ModelOut:
    try:
        row = await activate_version(session, body.version, force=body.force)
    except ModelChangeError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    audit.record(
        session,
        key,
        "model.activate",
        f"{row.model_type} {row.version}",
        detail={"force": body.force},
    )
    await session.commit()
    return ModelOut.model_validate(row)


@router.post(
    "/rollback",
    response_model=ModelOut,
    responses=REFUSED,
    summary="Activate the version recorded before the active one",
)
async def rollback(session: SessionDep, key: GlobalAdminKey, body: ModelRollbackIn) -> ModelOut:
    try:
        row = await rollback_model(session, body.model_type)
    except ModelChangeError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    audit.record(session, key, "model.rollback", f"{row.model_type} {row.version}")
    await session.commit()
    return ModelOut.model_validate(row)


@router.post(
    "/retrain",
    status_code=202,
    response_model=RetrainAccepted,
    summary="Start retraining from reviewed events",
    responses={
        409: {"model": ErrorOut, "description": "a retraining job is already running"},
        503: {"model": ErrorOut, "description": "this process cannot train"},
    },
)
async def retrain(session: SessionDep, state: AppStateDep, key: AdminKey) -> RetrainAccepted:
    if not state.retrain.available:
        raise HTTPException(503, detail="training not available in this process")
    try:
        job = state.retrain.start()
    except RetrainBusyError:
        raise HTTPException(409, detail="a retraining job is already running") from None
    audit.record(session, key, "model.retrain", f"job {job.id}")
    await session.commit()
    return RetrainAccepted(job_id=job.id, status=job.status)
