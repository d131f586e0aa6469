"""GET /health, GET /ready, GET /metrics, and the app lifespan."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.api.conftest import Api
from tests.conftest import REDIS_TEST_URL, unique_redis_prefix
from vigil.api.app import create_app
from vigil.config import Settings
from vigil.errors import BrokerUnavailableError
from vigil.sinks.broker import RedisBroker


async def test_health_shows_pipeline_counters(api: Api) -> None:
    assert api.pipeline.started
    anonymous = await api.client.get("/health")
    assert anonymous.status_code == 200
    assert anonymous.json()["status"] == "ok" and anonymous.json()["pipeline"] is None
    response = await api.client.get("/health", headers=api.admin)
    body = response.json()
    assert body["status"] == "ok"
    assert body["pipeline"]["stages"]["analyze"]["batches_in"] == 0


async def test_ready_checks_database_and_broker(api: Api) -> None:
    response = await api.client.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["database"]["ok"] is True
    assert response.json()["checks"]["broker"]["detail"] == "memory"


async def test_ready_is_503_when_the_pipeline_cannot_store(api: Api) -> None:
    api.pipeline.healthy = False
    response = await api.client.get("/ready")
    assert response.status_code == 503
    assert "pipeline" in response.json()["detail"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.redis
async def test_start_fails_clearly_without_redis(db: Settings) -> None:
    # A real Redis client pointed at a port where nothing listens.
    app = create_app(db, broker=RedisBroker(f"redis://127.0.0.1:{_free_port()}/0"))
    with pytest.raises(BrokerUnavailableError, match="broker"):
        async with app.router.lifespan_context(app):
            pass


@pytest.mark.redis
async def test_ready_is_503_when_the_broker_is_gone(db: Settings) -> None:
    if not REDIS_TEST_URL:
        pytest.fail("VIGIL_TEST_REDIS_URL is not set; run the suite through `make test`")
    broker = RedisBroker(REDIS_TEST_URL, prefix=unique_redis_prefix())
    app = create_app(db, broker=broker)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ready = await client.get("/ready")
            assert ready.status_code == 200
            assert ready.json()["checks"]["broker"] == {"ok": True, "detail": "redis"}
            await broker.close()
            gone = await client.get("/ready")
            assert gone.status_code == 503
            assert gone.json()["detail"] == "not ready: broker"


async def test_metrics_are_prometheus_text(api: Api) -> None:
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "vigil_auth_failures_total" in response.text


async def test_metrics_need_a_key_when_not_public(db: Settings) -> None:
    app = create_app(db.model_copy(update={"metrics_public": False}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/metrics")).status_code == 401


async def test_lifespan_stops_the_pipeline(db: Settings) -> None:
    from tests.api.conftest import FakePipeline

    pipeline = FakePipeline()
    app = create_app(db, pipeline=pipeline)
    async with app.router.lifespan_context(app):
        assert pipeline.started and not pipeline.stopped
    assert pipeline.stopped


async def test_unknown_paths_and_methods_answer_json(api: Api) -> None:
    missing = await api.client.get("/nope")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
    wrong = await api.client.put("/threats", headers=api.admin)
    assert wrong.status_code == 405 and "detail" in wrong.json()
    static = await api.client.get("/static/nope.js")
    assert static.status_code == 404 and "detail" in static.json()
