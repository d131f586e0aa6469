"""GET /models/status and POST /models/retrain."""

from __future__ import annotations

import asyncio

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from tests.api.conftest import Api
from vigil.api.app import create_app
from vigil.config import Settings
from vigil.db.models import ModelMetadata
from vigil.db.session import get_db_context


async def test_status_lists_models(api: Api) -> None:
    async with get_db_context() as session:
        session.add(ModelMetadata(model_type="supervised", version="v3", is_active=True))
        session.add(ModelMetadata(model_type="supervised", version="v2", is_active=False))
    response = await api.client.get("/models/status", headers=await api.key("read"))
    assert response.status_code == 200
    body = response.json()
    assert [(m["version"], m["is_active"]) for m in body["models"]] == [("v3", True), ("v2", False)]
    assert body["retrain_available"] is True
    assert body["retrain"] is None


async def test_retrain_runs_once_at_a_time(db: Settings) -> None:
    release = asyncio.Event()
    runs: list[int] = []

    async def runner() -> None:
        runs.append(1)
        await release.wait()

    app = create_app(
        db.model_copy(update={"api_admin_key": SecretStr("k" * 20)}), retrain_runner=runner
    )
    headers = {"X-API-Key": "k" * 20}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            started = await client.post("/models/retrain", headers=headers)
            assert started.status_code == 202
            job_id = started.json()["job_id"]
            busy = await client.post("/models/retrain", headers=headers)
            assert busy.status_code == 409
            release.set()
            for _ in range(100):
                status = (await client.get("/models/status", headers=headers)).json()
                if status["retrain"]["status"] != "running":
                    break
                await asyncio.sleep(0.01)
            assert status["retrain"] == {**status["retrain"], "id": job_id, "status": "succeeded"}
            assert (await client.post("/models/retrain", headers=headers)).status_code == 202
            for _ in range(100):
                if len(runs) == 2:
                    break
                await asyncio.sleep(0.01)
    assert len(runs) == 2


async def test_retrain_without_a_runner_is_503(db: Settings) -> None:
    app = create_app(db.model_copy(update={"api_admin_key": SecretStr("k" * 20)}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post("/models/retrain", headers={"X-API-Key": "k" * 20})
    assert response.status_code == 503
    assert response.json() == {"detail": "training not available in this process"}


async def test_activation_is_loaded_into_the_running_pipeline(db: Settings) -> None:
    async with get_db_context() as session:
        session.add(ModelMetadata(model_type="classifier", version="c1", is_active=False))
        session.add(ModelMetadata(model_type="classifier", version="c2", is_active=True))
    loaded: list[list[str]] = []

    async def loader() -> str:
        # What `vigil serve` does: read the registry's active models and swap them in.
        async with get_db_context() as session:
            rows = await session.scalars(
                select(ModelMetadata.version).where(ModelMetadata.is_active.is_(True))
            )
            loaded.append(list(rows))
        return loaded[-1][0]

    app = create_app(
        db.model_copy(update={"api_admin_key": SecretStr("k" * 20)}), model_loader=loader
    )
    headers = {"X-API-Key": "k" * 20}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            rolled = await client.post("/models/rollback", json={}, headers=headers)
            assert rolled.status_code == 200, rolled.text
            assert rolled.json()["loaded"] == "c1"
            activated = await client.post(
                "/models/activate", json={"version": "c2"}, headers=headers
            )
            assert activated.json()["loaded"] == "c2"
    # The loader ran after each change was committed, and saw it.
    assert loaded == [["c1"], ["c2"]]
