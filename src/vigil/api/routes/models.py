"""Model versions and retraining."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from vigil.api.deps import AdminKey, AppStateDep, ReadKey, SessionDep
from vigil.api.retrain import RetrainBusyError
from vigil.api.routes import KEYED
from vigil.api.schemas import ErrorOut, ModelOut, ModelsStatusOut, RetrainAccepted, RetrainJobOut
from vigil.services.models import model_versions

router = APIRouter(prefix="/models", tags=["models"], responses=KEYED)


@router.get("/status", response_model=ModelsStatusOut, summary="Model versions and retraining")
async def models_status(session: SessionDep, state: AppStateDep, _: ReadKey) -> ModelsStatusOut:
    jobs = state.retrain
    return ModelsStatusOut(
        models=[ModelOut.model_validate(m) for m in await model_versions(session)],
        retrain_available=jobs.available,
        retrain=RetrainJobOut.model_validate(jobs.last) if jobs.last is not None else None,
    )


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
async def retrain(state: AppStateDep, _: AdminKey) -> RetrainAccepted:
    if not state.retrain.available:
        raise HTTPException(503, detail="training not available in this process")
    try:
        job = state.retrain.start()
    except RetrainBusyError:
        raise HTTPException(409, detail="a retraining job is already running") from None
    return RetrainAccepted(job_id=job.id, status=job.status)
