"""One broker subscription fanned out to every WebSocket client, filtered per client.

Each message is serialized once and offered to the clients that may and want to see it. A
client's queue is bounded: a client that falls behind loses its oldest alerts instead of
slowing the others (the database keeps every event; the live feed is a view).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from vigil.services.visibility import Visibility
from vigil.severity import Severity
from vigil.sinks.broker import Broker

log = logging.getLogger(__name__)

CLIENT_QUEUE = 1000


@dataclass(eq=False, slots=True)
class AlertClient:
    """One connected WebSocket: what it may see, what it asked for, and its pending frames."""

    visibility: Visibility
    min_rank: int = 0
    site: str | None = None
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))
    dropped: int = 0

    def wants(self, site: Any, rank: int) -> bool:
        if rank < self.min_rank:
            return False
        if not isinstance(site, str) or not self.visibility.allows(site):
            return False
        return self.site is None or site == self.site

    def offer(self, frame: str) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(frame)


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
                client.offer(frame)
                self.delivered += 1
