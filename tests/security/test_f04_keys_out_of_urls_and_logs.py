"""Finding 4: no API key in a URL or a server log. WebSockets open with the key in a header or
with a short-lived, single-use ticket; the dashboard uses tickets; the captured server logs of
a session that does everything a client does never hold the key."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import async_playwright
from pydantic import SecretStr
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.api.factories import make_key
from tests.api.server import free_port
from tests.api.test_ws import receive_json
from tests.browser.test_dashboard import CHROMIUM_ARGS, chromium
from vigil.api.app import create_app
from vigil.config import Settings

ADMIN = "logs-admin-key-0123456789abcdef0123"
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "vigil", "websockets")


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def captured_logs() -> Iterator[Captured]:
    handler = Captured()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    previous = {}
    for name in LOGGERS:
        logger = logging.getLogger(name)
        previous[name] = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if name == "vigil" else logging.INFO)
    try:
        yield handler
    finally:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(handler)
            logging.getLogger(name).setLevel(previous[name])


@asynccontextmanager
async def serving_with_access_log(app: FastAPI) -> AsyncIterator[str]:
    """uvicorn as `vigil serve` runs it, but with its access log on and at INFO."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_level="info",
        access_log=True,
        log_config=None,
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:
                await asyncio.sleep(0.02)
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def _app(db: Settings) -> FastAPI:
    return create_app(db.model_copy(update={"api_admin_key": SecretStr(ADMIN)}))


async def test_ws_tickets_are_short_lived_and_single_use(db: Settings) -> None:
    key = await make_key("read", ["alpha"])
    async with serving_with_access_log(_app(db)) as host:
        async with httpx.AsyncClient(base_url=f"http://{host}") as client:
            issued = await client.post("/ws/ticket", headers={"X-API-Key": key})
            assert issued.status_code == 200, issued.text
            ticket = issued.json()["ticket"]
            assert key not in ticket and issued.json()["expires_in"] <= 60
            refused = await client.post("/ws/ticket")
            assert refused.status_code == 401
        async with connect(f"ws://{host}/ws/alerts?ticket={ticket}") as ws:
            hello = await receive_json(ws)
            assert hello["type"] == "hello" and hello["sites"] == ["alpha"]
        for url in (
            f"ws://{host}/ws/alerts?ticket={ticket}",  # used already
            f"ws://{host}/ws/alerts?ticket={ticket[:-4]}abcd",  # forged
            f"ws://{host}/ws/alerts?api_key={key}",  # keys never go into URLs
        ):
            with pytest.raises((InvalidStatus, ConnectionClosed)):
                async with connect(url) as ws:
                    await receive_json(ws)


async def test_server_logs_never_hold_the_key(db: Settings) -> None:
    key = await make_key("write")
    with captured_logs() as logs:
        async with serving_with_access_log(_app(db)) as host:
            async with httpx.AsyncClient(base_url=f"http://{host}") as client:
                headers = {"X-API-Key": key}
                assert (await client.get("/threats", headers=headers)).status_code == 200
                ticket = (await client.post("/ws/ticket", headers=headers)).json()["ticket"]
            async with connect(f"ws://{host}/ws/alerts?ticket={ticket}") as ws:
                await receive_json(ws)
            async with connect(f"ws://{host}/ws/alerts", additional_headers=headers) as ws:
                await receive_json(ws)
    text = "\n".join(logs.lines)
    assert "/ws/alerts" in text and "/threats" in text  # the log was captured
    assert key not in text


async def test_the_dashboard_keeps_the_key_out_of_urls_and_logs(db: Settings) -> None:
    executable = chromium()
    key = await make_key("write")
    requested: list[str] = []
    with captured_logs() as logs:
        async with serving_with_access_log(_app(db)) as host, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                page.on("request", lambda request: requested.append(request.url))
                page.on("websocket", lambda socket: requested.append(socket.url))
                await page.goto(f"http://{host}/")
                await page.fill("#key-input", key)
                await page.click("#key-form button[type=submit]")
                await page.wait_for_selector("#live-status.on", timeout=10_000)
            finally:
                await browser.close()
    assert any("/ws/alerts" in url for url in requested)
    assert not [url for url in requested if key in url]
    assert key not in "\n".join(logs.lines)
