"""The alert hub reads the broker's alert channel only while a WebSocket client listens."""

from __future__ import annotations

import asyncio
from typing import Any

from vigil.api.alerts import AlertClient, AlertHub
from vigil.services.visibility import Visibility
from vigil.sinks.broker import MemoryBroker


def subscribers(broker: MemoryBroker) -> int:
    return sum(len(queues) for queues in broker._subscribers.values())


async def first_frame(broker: MemoryBroker, client: AlertClient, message: dict[str, Any]) -> str:
    # The subscription becomes active a moment after the client arrives: publish until seen.
    for _ in range(100):
        await broker.publish(message)
        try:
            return await asyncio.wait_for(client.queue.get(), 0.05)
        except TimeoutError:
            continue
    raise AssertionError("no alert arrived")


async def test_no_subscription_without_clients() -> None:
    broker = MemoryBroker()
    hub = AlertHub(broker)
    await hub.start()
    await asyncio.sleep(0.05)
    assert not hub.subscribed and subscribers(broker) == 0
    # Published with nobody listening: nothing is read, nothing piles up anywhere.
    await broker.publish({"id": 1, "site": "alpha", "severity": "HIGH"})
    assert hub.delivered == 0 and broker.lagged == 0
    await hub.stop()


async def test_subscribed_from_first_client_to_last() -> None:
    broker = MemoryBroker()
    hub = AlertHub(broker)
    await hub.start()
    one, two = AlertClient(Visibility()), AlertClient(Visibility())
    hub.add(one)
    hub.add(two)
    frame = await first_frame(broker, one, {"id": 1, "site": "alpha", "severity": "HIGH"})
    assert '"id":1' in frame
    assert hub.subscribed and subscribers(broker) == 1  # one subscription for every client
    await broker.publish({"id": 2, "site": "alpha", "severity": "HIGH"})
    await asyncio.sleep(0.05)
    for client in (one, two):
        frames = [client.queue.get_nowait() for _ in range(client.queue.qsize())]
        assert ['"id":2' in frame for frame in frames].count(True) == 1
    hub.remove(one)
    assert hub.subscribed
    hub.remove(two)
    await asyncio.sleep(0.05)
    assert not hub.subscribed and subscribers(broker) == 0
    # A client arriving later subscribes again.
    three = AlertClient(Visibility())
    hub.add(three)
    assert '"id":3' in await first_frame(broker, three, {"id": 3, "site": "b", "severity": "LOW"})
    await hub.stop()
    assert subscribers(broker) == 0


async def test_a_client_added_before_start_is_served_once_started() -> None:
    broker = MemoryBroker()
    hub = AlertHub(broker)
    client = AlertClient(Visibility())
    hub.add(client)
    assert not hub.subscribed
    await hub.start()
    assert '"id":7' in await first_frame(broker, client, {"id": 7, "site": "a", "severity": "HIGH"})
    await hub.stop()
