"""The alert hub: it reads the broker's alert channel only while a WebSocket client listens,
and a client that cannot take every alert is told how many of which severity it lost."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from vigil.api import alerts
from vigil.api.alerts import CLIENT_QUEUE, AlertClient, AlertHub
from vigil.services.visibility import Visibility
from vigil.sinks.broker import MemoryBroker


def subscribers(broker: MemoryBroker) -> int:
    return sum(len(queues) for queues in broker._subscribers.values())


async def first_frame(broker: MemoryBroker, client: AlertClient, message: dict[str, Any]) -> str:
    # The subscription becomes active a moment after the client arrives: publish until seen.
    for _ in range(100):
        await broker.publish(message)
        try:
            _severity, frame = await asyncio.wait_for(client.queue.get(), 0.05)
            return frame
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
        frames = [client.queue.get_nowait()[1] for _ in range(client.queue.qsize())]
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


def test_a_full_queue_counts_what_it_loses_by_severity() -> None:
    client = AlertClient(Visibility())
    for i in range(CLIENT_QUEUE + 30):
        client.offer(f'{{"id":{i}}}', "HIGH" if i % 3 == 0 else "MEDIUM")
    assert client.queue.qsize() == CLIENT_QUEUE and client.dropped == 30
    # The oldest went: ids 0..29, of which 0, 3, ..., 27 were HIGH.
    assert client.queue.get_nowait() == ("HIGH", '{"id":30}')
    summary = client.take_skipped()
    assert summary is not None
    assert json.loads(summary) | {"at": None} == {
        "type": "skipped",
        "count": 30,
        "severities": {"HIGH": 10, "MEDIUM": 20},
        "at": None,
    }
    assert client.take_skipped() is None  # told once


async def test_every_alert_is_sent_or_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    # The rate limit is lifted so the test does not wait for the clock; what matters is that
    # a flood larger than the queue reaches the client as frames plus counts, nothing unsaid.
    monkeypatch.setattr(alerts, "FRAMES_PER_SECOND", 10**9)
    broker = MemoryBroker(max_pending=100_000)
    hub = AlertHub(broker)
    await hub.start()
    client = AlertClient(Visibility())
    hub.add(client)
    await first_frame(broker, client, {"id": -1, "site": "a", "severity": "LOW"})
    sent: list[str] = []

    async def send(frame: str) -> None:
        sent.append(frame)

    flood = 3 * CLIENT_QUEUE
    before = hub.delivered
    await broker.publish_many(
        [{"id": i, "site": "a", "severity": "HIGH" if i % 2 else "MEDIUM"} for i in range(flood)]
    )
    while hub.delivered < before + flood:  # the hub's task hands them to the client
        await asyncio.sleep(0.01)
    sender = asyncio.create_task(client.send_frames(send))
    while not client.queue.empty() or client.skipped:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.01)
    sender.cancel()
    await hub.stop()
    frames = [json.loads(frame) for frame in sent]
    shown = [frame for frame in frames if "id" in frame]
    counted = [frame for frame in frames if frame.get("type") == "skipped"]
    assert len(shown) == CLIENT_QUEUE and counted
    assert len(shown) + sum(frame["count"] for frame in counted) == flood
    assert (
        sum(frame["severities"].get("HIGH", 0) for frame in counted)
        + sum(1 for frame in shown if frame["severity"] == "HIGH")
        == flood // 2
    )
    assert [frame["id"] for frame in shown] == list(range(flood - CLIENT_QUEUE, flood))
