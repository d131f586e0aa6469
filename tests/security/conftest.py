"""The app with a real pipeline behind it (rules, store, in-process broker), for the security
findings that need requests to travel all the way into stored events."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from tests.api.conftest import Api, api
from tests.api.factories import make_key
from tests.conftest import make_settings
from vigil.api.app import create_app
from vigil.config import Settings
from vigil.db import migrate
from vigil.db.session import configure_db
from vigil.pipeline.assembly import open_pipeline
from vigil.pipeline.runner import Pipeline
from vigil.sinks.broker import MemoryBroker
from vigil.sources.http import HttpIngest

__all__ = ["Api", "LiveApi", "access_line", "api", "live", "missing_tool"]

ADMIN_KEY = "security-admin-key-0123456789abcdef"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def missing_tool(reason: str) -> None:
    """Skip a test whose system tool is missing, with the reason; fail instead where
    VIGIL_FIREWALL_REQUIRED=1 (CI installs the tools, so there they must run)."""
    if os.environ.get("VIGIL_FIREWALL_REQUIRED") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def access_line(ip: str, target: str, *, agent: str = UA, second: int = 0) -> str:
    """One combined-format line."""
    return (
        f'{ip} - - [10/Oct/2026:13:00:{second % 60:02d} +0000] "GET {target} HTTP/1.1" 200 512 '
        f'"-" "{agent}"'
    )


@dataclass
class LiveApi:
    app: FastAPI
    client: httpx.AsyncClient
    pipeline: Pipeline
    settings: Settings

    @property
    def admin(self) -> dict[str, str]:
        return {"X-API-Key": ADMIN_KEY}

    async def key(self, scope: str = "read", sites: list[str] | None = None) -> dict[str, str]:
        return {"X-API-Key": await make_key(scope, sites)}  # type: ignore[arg-type]

    async def ingest(self, site: str, lines: list[str]) -> None:
        """Send lines for `site` and wait until the pipeline has stored them."""
        before = self.pipeline.counters["store"].lines_out
        response = await self.client.post(
            "/ingest/batch",
            json={"source": "security-test", "site": site, "lines": lines},
            headers=self.admin,
        )
        assert response.status_code == 202, response.text
        async with asyncio.timeout(30):
            while self.pipeline.counters["store"].lines_out < before + len(lines):
                await asyncio.sleep(0.02)


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[LiveApi]:
    settings = make_settings(
        database_url,
        api_admin_key=SecretStr(ADMIN_KEY),
        detection_mode="rules",
        log_format="combined",
        behaviour_enabled=False,
    )
    await asyncio.to_thread(migrate.upgrade, "head", settings)
    broker = MemoryBroker()
    try:
        async with open_pipeline(settings, sources=[HttpIngest()], broker=broker) as pipeline:
            app = create_app(settings, pipeline=pipeline, broker=broker)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://vigil.test"
                ) as client:
                    yield LiveApi(app, client, pipeline, settings)
    finally:
        configure_db(None)
