"""WS /ws/alerts: live alerts from the broker, filtered by severity, site and the key's sites."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.api.factories import event_row, make_key
from tests.api.server import serving
from tests.conftest import REDIS_TEST_URL, unique_redis_prefix
from vigil.api.app import create_app
from vigil.api.schemas import ThreatOut
from vigil.config import Settings
from vigil.sinks.broker import Broker, MemoryBroker, RedisBroker


def alert(event_id: int, *, site: str = "alpha", severity: str = "HIGH") -> dict[str, Any]:
    """An event as the pipeline publishes it after storing it."""
    row = event_row(site=site, severity=severity, score=0.9 if severity == "HIGH" else 0.6)
    return ThreatOut.model_validate({**row, "id": event_id}).model_dump(mode="json")


async def receive_json(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))  # type: ignore[no-any-return]


async def nothing_more(ws: ClientConnection, wait: float = 0.3) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), wait)
    except TimeoutError:
        return True
    return False


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def broker(request: pytest.FixtureRequest) -> Broker:
    if request.param == "memory":
        return MemoryBroker()
    if not REDIS_TEST_URL:
        pytest.fail("VIGIL_TEST_REDIS_URL is not set; run the suite through `make test`")
    return RedisBroker(REDIS_TEST_URL, prefix=unique_redis_prefix())


@pytest.fixture
async def host(db: Settings, broker: Broker) -> AsyncIterator[str]:
    settings = db.model_copy(update={"api_admin_key": SecretStr("a" * 32)})
    async with serving(create_app(settings, broker=broker)) as address:
        yield address


async def publish_until_seen(broker: Broker, ws: ClientConnection, message: dict[str, Any]) -> None:
    # A Redis subscription becomes active a moment after start-up: repeat until one arrives.
    for _ in range(50):
        await broker.publish(message)
        try:
            got = await receive_json(ws, 0.2)
        except TimeoutError:
            continue
        assert got["id"] == message["id"]
        while not await nothing_more(ws, 0.2):
            pass
        return
    raise AssertionError("no alert arrived")


async def test_alerts_arrive_filtered(host: str, broker: Broker) -> None:
    key = await make_key("read")
    url = f"ws://{host}/ws/alerts?min_severity=high"
    async with connect(url, additional_headers={"X-API-Key": key}) as ws:
        hello = await receive_json(ws)
        assert hello["type"] == "hello" and hello["min_severity"] == "HIGH"
        await publish_until_seen(broker, ws, alert(1))
        await broker.publish(alert(2, severity="MEDIUM"))
        await broker.publish(alert(3))
        got = await receive_json(ws)
        assert got["id"] == 3 and got["severity"] == "HIGH" and got["site"] == "alpha"
        assert await nothing_more(ws)


async def test_site_limited_key_gets_only_its_sites(host: str, broker: Broker) -> None:
    key = await make_key("read", ["alpha"])
    headers = {"X-API-Key": key}
    async with connect(f"ws://{host}/ws/alerts", additional_headers=headers) as ws:
        assert (await receive_json(ws))["sites"] == ["alpha"]
        await publish_until_seen(broker, ws, alert(10))
        await broker.publish(alert(11, site="beta"))
        await broker.publish(alert(12, site="alpha"))
        await broker.publish(alert(13, site="beta"))
        assert (await receive_json(ws))["id"] == 12
        assert await nothing_more(ws)
    with pytest.raises(InvalidStatus):
        async with connect(f"ws://{host}/ws/alerts?site=beta", additional_headers=headers):
            pass


async def test_site_filter_of_an_unrestricted_key(host: str, broker: Broker) -> None:
    key = await make_key("read")
    async with connect(
        f"ws://{host}/ws/alerts?site=beta", additional_headers={"X-API-Key": key}
    ) as ws:
        await receive_json(ws)
        await publish_until_seen(broker, ws, alert(20, site="beta"))
        await broker.publish(alert(21, site="alpha"))
        await broker.publish(alert(22, site="beta"))
        assert (await receive_json(ws))["id"] == 22
        assert await nothing_more(ws)


async def test_missing_or_wrong_key_is_refused(host: str) -> None:
    admin = {"X-API-Key": "a" * 32}
    for url, headers in (
        (f"ws://{host}/ws/alerts", {}),
        (f"ws://{host}/ws/alerts", {"X-API-Key": "wrong"}),
        (f"ws://{host}/ws/alerts?min_severity=urgent", admin),
        # A key in the URL is not accepted: it would end up in logs.
        (f"ws://{host}/ws/alerts?api_key={'a' * 32}", {}),
        (f"ws://{host}/ws/alerts?ticket=0.1.x.y", {}),
    ):
        with pytest.raises((InvalidStatus, ConnectionClosed)):
            async with connect(url, additional_headers=headers) as ws:
                await receive_json(ws)
    # The bootstrap admin key works in the header.
    async with connect(f"ws://{host}/ws/alerts", additional_headers=admin) as ws:
        assert (await receive_json(ws))["type"] == "hello"
