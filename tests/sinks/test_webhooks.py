"""Webhooks are delivered off the hot path, throttled per incident, retried on failure."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from vigil.sinks.webhooks import WebhookNotifier, slack_text


class Receiver:
    """A loopback HTTP endpoint that can hang, fail, or record what it gets."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.release = asyncio.Event()
        self.fail_first = fail_first
        self.calls = 0
        self.port = 0
        self._server: asyncio.AbstractServer | None = None

    async def start(self, hang: bool = False) -> None:
        if not hang:
            self.release.set()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in headers.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        body = await reader.readexactly(length)
        await self.release.wait()
        self.calls += 1
        if self.calls <= self.fail_first:
            writer.write(b"HTTP/1.1 503 Unavailable\r\ncontent-length: 0\r\n\r\n")
        else:
            self.bodies.append(json.loads(body))
            writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()


def _event(n: int, incident: int = 1) -> dict[str, Any]:
    return {
        "id": n,
        "incident_id": incident,
        "client_ip": "203.0.113.5",
        "site": "default",
        "severity": "HIGH",
        "score": 0.9,
        "categories": ["sqli"],
        "method": "GET",
        "path": "/x",
    }


async def test_flood_becomes_first_event_plus_one_summary() -> None:
    receiver = Receiver()
    await receiver.start()
    notifier = WebhookNotifier([receiver.url], throttle_seconds=0.3)
    await notifier.start()
    try:
        notifier.offer([_event(n) for n in range(500)])
        for _ in range(100):
            if len(receiver.bodies) >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await notifier.stop()
        await receiver.stop()
    assert [b["type"] for b in receiver.bodies] == ["event", "summary"]
    assert receiver.bodies[1]["count"] == 499


async def test_failed_delivery_is_retried() -> None:
    receiver = Receiver(fail_first=2)
    await receiver.start()
    notifier = WebhookNotifier([receiver.url], throttle_seconds=10)
    await notifier.start()
    try:
        notifier.offer([_event(1)])
        for _ in range(100):
            if receiver.bodies:
                break
            await asyncio.sleep(0.1)
    finally:
        await notifier.stop()
        await receiver.stop()
    assert receiver.calls == 3
    assert receiver.bodies[0]["event"]["id"] == 1


async def test_hanging_receiver_never_blocks_offer() -> None:
    receiver = Receiver()
    await receiver.start(hang=True)
    notifier = WebhookNotifier([receiver.url], throttle_seconds=0.0, timeout=30)
    await notifier.start()
    try:
        # offer() is synchronous and returns while every delivery is stuck at the receiver.
        for n in range(2000):
            notifier.offer([_event(n, incident=n)])
        assert receiver.bodies == []
        receiver.release.set()
        for _ in range(100):
            if receiver.bodies:
                break
            await asyncio.sleep(0.05)
        assert receiver.bodies
    finally:
        await notifier.stop()
        await receiver.stop()


def test_slack_message_is_readable() -> None:
    text = slack_text({"type": "event", "event": _event(1)})
    assert "HIGH" in text and "203.0.113.5" in text and "sqli" in text


async def test_a_full_queue_counts_its_drops_in_few_log_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Not started: nothing delivers, so the queue fills; each incident's first event is queued.
    notifier = WebhookNotifier(["http://127.0.0.1:9/"], throttle_seconds=60.0, max_queue=10)
    with caplog.at_level(logging.WARNING, logger="vigil.sinks.webhooks"):
        notifier.offer([_event(n, incident=n) for n in range(5000)])
    assert notifier.failed == 4990
    drops = [r.getMessage() for r in caplog.records if "webhook_queue_full" in r.getMessage()]
    assert drops == ["event=webhook_queue_full dropped_notifications=1"]
