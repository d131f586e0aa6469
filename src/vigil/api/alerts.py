"""One broker subscription fanned out to every WebSocket client, filtered per client.

Each message is serialized once and offered to the clients that may and want to see it. A
client's queue is bounded, and a client is sent at most `FRAMES_PER_SECOND` alerts a second: a
client that falls behind (or a flood of thousands of alerts a second) loses its oldest alerts
instead of slowing the others or the pipeline sharing the event loop, and what it lost is
counted and sent as one `{"type": "skipped", "count": n, "severities": {...}}` frame, so the
counts it shows stay whole (the database keeps every event; the live feed is a view).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from vigil.services.visibility import Visibility
from vigil.severity import Severity
from vigil.sinks.broker import Broker

log = logging.getLogger(__name__)

CLIENT_QUEUE = 1000
FRAMES_PER_SECOND = 500
"""Alerts sent to one WebSocket a second, at most: more than a person can read, and few
enough that a flood's alerts cost the event loop little per client."""


@dataclass(eq=False, slots=True)
class AlertClient:
    """One connected WebSocket: what it may see, what it asked for, its pending frames (with
    their severities) and the severities of the alerts it lost since it was last told."""

    visibility: Visibility
    min_rank: int = 0
    site: str | None = None
    queue: asyncio.Queue[tuple[str, str]] = field(
        default_factory=lambda: asyncio.Queue(CLIENT_QUEUE)
    )
    dropped: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def wants(self, site: Any, rank: int) -> bool:
        if rank < self.min_rank:
            return False
        if not isinstance(site, str) or not self.visibility.allows(site):
            return False
        return self.site is None or site == self.site

    def offer(self, frame: str, severity: str = "") -> None:
        """Queue an alert's frame; when the queue is full its oldest alert is counted instead."""
        if self.queue.full():
            lost, _frame = self.queue.get_nowait()
            self.skipped[lost] += 1
            self.dropped += 1
        self.queue.put_nowait((severity, frame))

    def take_skipped(self) -> str | None:
        """The frame that accounts for the alerts lost since the last one (None: none lost)."""
        if not self.skipped:
            return None
        counts, self.skipped = self.skipped, Counter()
        return orjson.dumps(
            {
                "type": "skipped",
                "count": sum(counts.values()),
                "severities": dict(counts),
                "at": datetime.now(UTC).isoformat(),
            }
        ).decode("utf-8")

    async def send_frames(self, send: Callable[[str], Awaitable[None]]) -> None:
        """Send the queued frames through `send` for as long as the client is connected, at
        most `FRAMES_PER_SECOND` a second; the count of lost alerts goes out when a second
        begins and when the queue runs empty."""
        loop = asyncio.get_running_loop()
        second_ends = 0.0
        sent = 0
        while True:
            _severity, frame = await self.queue.get()
            now = loop.time()
            if now >= second_ends or sent >= FRAMES_PER_SECOND:
                if now < second_ends:
                    # Over the rate: wait; meanwhile the queue turns what overflows into counts.
                    await asyncio.sleep(second_ends - now)
                second_ends = loop.time() + 1.0
                sent = 0
                summary = self.take_skipped()
                if summary is not None:
                    await send(summary)
            await send(frame)
            sent += 1
            if self.queue.empty():
                summary = self.take_skipped()
                if summary is not None:
                    await send(summary)


class AlertHub:
    """Reads the broker's alert channel and hands each alert to the interested clients.

    The channel is read only while a client is connected: under a flood the alerts arrive by
    the ten thousand a second, and receiving and decoding each of them for nobody would take
    the pipeline's event loop a good share of its time. The subscription starts with the first
    client and ends with the last (a new subscription becomes active a moment after the client
    connects; what was stored meanwhile is in the database)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.clients: set[AlertClient] = set()
        self.delivered = 0
        self._started = False
        self._task: asyncio.Task[None] | None = None

    @property
    def subscribed(self) -> bool:
        """Whether the hub reads the alert channel now (only while it has clients)."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._started = True
        if self.clients:
            self._subscribe()

    async def stop(self) -> None:
        self._started = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.clients.clear()

    def add(self, client: AlertClient) -> None:
        self.clients.add(client)
        if self._started and not self.subscribed:
            self._subscribe()

    def remove(self, client: AlertClient) -> None:
        self.clients.discard(client)
        if not self.clients and self._task is not None:
            self._task.cancel()
            self._task = None

    def _subscribe(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alert-hub")

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async for message in self.broker.subscribe():
                    delay = 0.5
                    self.dispatch(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event=alert_hub_retry delay=%.1f error=%s", delay, type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def dispatch(self, message: dict[str, Any]) -> None:
        """Offer one alert to every client that may and wants to see it."""
        if not isinstance(message, dict):
            return
        known = Severity.parse(str(message.get("severity", "")))
        rank = known.rank if known is not None else 0
        site = message.get("site")
        frame: str | None = None
        for client in self.clients:
            if client.wants(site, rank):
                if frame is None:
                    frame = orjson.dumps(message, default=str).decode("utf-8")
                client.offer(frame, known.value if known is not None else "")
                self.delivered += 1
