"""Property-based requests generated from the OpenAPI schema, sent to the live app (uvicorn)
with an admin key: no input makes the API fail (5xx), and no response contradicts the schema
(status codes, content types, bodies and headers as documented)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import FakePipeline
from tests.api.factories import event_row, insert_decision, insert_events, insert_incident
from tests.api.server import free_port
from tests.conftest import make_settings
from vigil.api.app import create_app
from vigil.db.models import Base
from vigil.db.session import close_db, configure_db, get_engine

ADMIN = "fuzz-admin-key-0123456789abcdef"


async def _prepare(url: str) -> None:
    configure_db(make_settings(url))
    try:
        async with get_engine().begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        incident = await insert_incident(site="alpha")
        await insert_events([event_row(incident_id=incident) for _ in range(5)])
        await insert_decision(site="alpha")
    finally:
        await close_db()
        configure_db(None)


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(_prepare(url))

    async def retrain() -> None:
        return None

    app = create_app(
        make_settings(url, api_admin_key=SecretStr(ADMIN)),
        pipeline=FakePipeline(),
        retrain_runner=retrain,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(400):
        if server.started:
            break
        threading.Event().wait(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(10)
        configure_db(None)


# The schema does not depend on the database: build it from an app that is never started.
schema = schemathesis.openapi.from_dict(
    create_app(make_settings("sqlite+aiosqlite:///unused.db")).openapi()
)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case: schemathesis.Case, live_app: tuple[str, object]) -> None:
    base_url, _ = live_app
    response = case.call(base_url=base_url, headers={"X-API-Key": ADMIN}, timeout=10)
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        # Errors say what was wrong: `detail`, or `message` on the CrowdSec-compatible routes.
        assert {"detail", "message"} & set(response.json())
