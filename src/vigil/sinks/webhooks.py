"""Webhook delivery off the hot path: generic JSON POST and Slack-compatible messages.

The store hands events over with `offer()`, which never waits. Per incident, the first event is
sent at once; events that follow within the throttle window are folded into one summary sent
when the window ends, so a flood yields a few messages rather than thousands. Deliveries retry
with backoff; a receiver that is slow or down only delays its own messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from vigil.batch import ScoredBatch
from vigil.config import Settings, WebhookSection

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Pending:
    first: dict[str, Any]
    count: int = 0
    severities: dict[str, int] = field(default_factory=dict)
    categories: set[str] = field(default_factory=set)
    window_ends: float = 0.0


def is_slack(url: str) -> bool:
    return "hooks.slack.com" in url or url.rstrip("/").endswith("/slack")


def slack_text(payload: dict[str, Any]) -> str:
    if payload["type"] == "summary":
        return (
            f":rotating_light: vigil: {payload['count']} more events from {payload['client_ip']} "
            f"(incident {payload['incident_id']}, {', '.join(payload['categories'])})"
        )
    event = payload["event"]
    return (
        f":rotating_light: vigil {event['severity']}: {event['client_ip']} "
        f"{event['method']} {event['path']} ({', '.join(event['categories'])}, "
        f"score {event['score']})"
    )


DROP_LOG_SECONDS = 10.0


class WebhookNotifier:
    """Sends alerts to every configured URL from a background task.

    As a pipeline `Sink` it follows the store and offers each batch's stored events; delivery is
    best effort and never holds up the pipeline.
    """

    name = "webhooks"
    durable = False
    healthy = True

    def __init__(
        self,
        urls: list[str],
        *,
        secret: str | None = None,
        throttle_seconds: float = 60.0,
        timeout: float = 5.0,
        max_attempts: int = 5,
        max_queue: int = 10_000,
    ) -> None:
        self.urls = urls
        self.secret = secret.encode() if secret else None
        self.throttle = throttle_seconds
        self.timeout = timeout
        self.max_attempts = max_attempts
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(max_queue)
        self._pending: dict[Any, _Pending] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self.sent = 0
        self.failed = 0
        self.folded = 0
        self._dropped_unlogged = 0
        self._next_drop_log = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookNotifier:
        """The notifier of the settings' webhook section."""
        return cls.from_section(settings.webhooks)

    @classmethod
    def from_section(cls, section: WebhookSection) -> WebhookNotifier:
        """The notifier of `VIGIL_WEBHOOK_URLS`, signing with `VIGIL_WEBHOOK_SECRET`."""
        secret = section.secret.get_secret_value() if section.secret else None
        return cls(list(section.urls), secret=secret, throttle_seconds=section.throttle_seconds)

    @property
    def enabled(self) -> bool:
        return bool(self.urls)

    async def write(self, batch: ScoredBatch) -> None:
        if batch.stored is not None:
            self.offer(batch.stored.events)

    async def close(self) -> None:
        await self.stop()

    async def start(self, stopping: Callable[[], bool] | None = None) -> None:
        if not self.enabled:
            return
        # Imported only when there is a URL to post to: most processes never need it.
        import httpx

        self._client = httpx.AsyncClient(timeout=self.timeout)
        self._tasks = [
            asyncio.create_task(self._deliver_loop(), name="webhook-deliver"),
            asyncio.create_task(self._flush_loop(), name="webhook-flush"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def offer(self, events: list[dict[str, Any]]) -> None:
        """Hand stored events over; never blocks the caller."""
        if not self.enabled:
            return
        now = time.monotonic()
        for event in events:
            key = event.get("incident_id") or event.get("client_ip")
            pending = self._pending.get(key)
            if pending is None or now >= pending.window_ends:
                if pending is not None and pending.count:
                    self._enqueue(self._summary(key, pending))
                self._pending[key] = _Pending(first=event, window_ends=now + self.throttle)
                self._enqueue({"type": "event", "event": event})
            else:
                pending.count += 1
                pending.severities[event["severity"]] = (
                    pending.severities.get(event["severity"], 0) + 1
                )
                pending.categories.update(event.get("categories", []))
                self.folded += 1

    def _summary(self, key: Any, pending: _Pending) -> dict[str, Any]:
        return {
            "type": "summary",
            "incident_id": pending.first.get("incident_id"),
            "client_ip": pending.first.get("client_ip"),
            "site": pending.first.get("site"),
            "count": pending.count,
            "severities": pending.severities,
            "categories": sorted(pending.categories),
        }

    def _enqueue(self, payload: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(payload)
        except asyncio.QueueFull:
            # Notifications are a view of what is already stored; when receivers are far
            # behind, counting beats buffering without bound. Logged at most every
            # DROP_LOG_SECONDS with the count: under a flood from thousands of clients a line
            # per notification would cost the event loop more than the notifications.
            self.failed += 1
            self._dropped_unlogged += 1
            now = time.monotonic()
            if now >= self._next_drop_log:
                log.warning(
                    "event=webhook_queue_full dropped_notifications=%d", self._dropped_unlogged
                )
                self._dropped_unlogged = 0
                self._next_drop_log = now + DROP_LOG_SECONDS

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, max(self.throttle, 0.05)))
            now = time.monotonic()
            for key, pending in list(self._pending.items()):
                if now >= pending.window_ends:
                    if pending.count:
                        self._enqueue(self._summary(key, pending))
                    del self._pending[key]

    async def _deliver_loop(self) -> None:
        while True:
            payload = await self._queue.get()
            await asyncio.gather(*(self._send(url, payload) for url in self.urls))

    async def _send(self, url: str, payload: dict[str, Any]) -> None:
        import httpx

        assert self._client is not None
        body = orjson.dumps({"text": slack_text(payload)} if is_slack(url) else payload)
        headers = {"content-type": "application/json", "user-agent": "vigil-webhook"}
        if self.secret:
            headers["x-vigil-signature"] = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        delay = 0.5
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = await self._client.post(url, content=body, headers=headers)
                if response.status_code < 500 and response.status_code != 429:
                    self.sent += 1
                    return
            except httpx.HTTPError:
                pass
            if attempt < self.max_attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        self.failed += 1
        log.warning("event=webhook_failed attempts=%d", self.max_attempts)
