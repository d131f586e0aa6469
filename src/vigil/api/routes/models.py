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
    ModelChangeOut,
    ModelOut,
    ModelRollbackIn,
    ModelsStatusOut,
    RetrainAccepted,
    RetrainJobOut,
)
from vigil.api.state import AppState
from vigil.db.models import ModelMetadata
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


async def _changed(state: AppState, row: ModelMetadata) -> ModelChangeOut:
    # After the commit: the running pipeline (under `vigil serve`) loads the active models now.
    loaded = await state.model_loader() if state.model_loader is not None else None
    return ModelChangeOut(**ModelOut.model_validate(row).model_dump(), loaded=loaded)


@router.post(
    "/activate",
    response_model=ModelChangeOut,
    responses=REFUSED,
    summary="Make a recorded version the active model of its type",
)
async def activate(
    session: SessionDep, state: AppStateDep, key: GlobalAdminKey, body: ModelActivateIn
) -> ModelChangeOut:
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
    return await _changed(state, row)


@router.post(
    "/rollback",
    response_model=ModelChangeOut,
    responses=REFUSED,
    summary="Activate the version recorded before the active one",
)
async def rollback(
    session: SessionDep, state: AppStateDep, key: GlobalAdminKey, body: ModelRollbackIn
) -> ModelChangeOut:
    try:
        row = await rollback_model(session, body.model_type)
    except ModelChangeError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    audit.record(session, key, "model.rollback", f"{row.model_type} {row.version}")
    await session.commit()
    return await _changed(state, row)


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
