"""The app under test on a fresh database (SQLite and PostgreSQL), with a real in-process broker
and a stand-in pipeline that records what the API hands it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from tests.api.factories import make_key
from vigil.api.app import create_app
from vigil.config import Settings
from vigil.sinks.broker import MemoryBroker

ADMIN_KEY = "bootstrap-admin-key-for-tests-0123456789"


@dataclass
class FakePipeline:
    """Records submissions and exclusions; `accept` False makes it report saturation."""

    accept: bool = True
    healthy: bool = True
    submitted: list[tuple[str, list[bytes], str]] = field(default_factory=list)
    exclusions: dict[str | None, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = field(
        default_factory=dict
    )
    started: bool = False
    stopped: bool = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    def try_submit(self, source: str, lines: list[bytes], site: str) -> bool:
        if not self.accept:
            return False
        self.submitted.append((source, lines, site))
        return True

    def stats(self) -> dict[str, Any]:
        return {
            "stages": {"analyze": {"batches_in": len(self.submitted)}},
            "database_healthy": self.healthy,
        }

    def set_exclusions(
        self, site: str | None, exclusions: list[dict[str, Any]], allowlist: list[dict[str, Any]]
    ) -> None:
        self.exclusions[site] = (exclusions, allowlist)


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    broker: MemoryBroker
    pipeline: FakePipeline
    settings: Settings
    retrain_calls: list[int]

    async def key(self, scope: str = "read", sites: list[str] | None = None) -> dict[str, str]:
        """Headers carrying a new key with `scope` limited to `sites`."""
        return {"X-API-Key": await make_key(scope, sites)}  # type: ignore[arg-type]

    @property
    def admin(self) -> dict[str, str]:
        return {"X-API-Key": ADMIN_KEY}


@pytest.fixture
async def api(db: Settings) -> AsyncIterator[Api]:
    # The ingest limits come from the settings' HTTP ingest section, as in `vigil serve`.
    settings = db.model_copy(
        update={
            "api_admin_key": SecretStr(ADMIN_KEY),
            "ingest_max_lines": 100,
            "ingest_max_bytes": 64 * 1024,
        }
    )
    broker = MemoryBroker()
    pipeline = FakePipeline()
    calls: list[int] = []

    async def runner() -> None:
        calls.append(1)

    app = create_app(
        settings,
        pipeline=pipeline,
        broker=broker,
        retrain_runner=runner,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vigil.test") as client:
            yield Api(app, client, broker, pipeline, settings, calls)
