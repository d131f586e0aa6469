"""Alert fan-out behind one interface: Redis pub/sub when configured, in-process otherwise."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import orjson

from vigil.batch import ScoredBatch
from vigil.config import BrokerSection
from vigil.errors import BrokerUnavailableError

DEFAULT_PREFIX = "vigil"

PUBLISH_EACH = """
local channel, blob = ARGV[1], ARGV[2]
local count, start = 0, 1
while true do
  local stop = string.find(blob, '\\n', start, true)
  if not stop then break end
  redis.call('PUBLISH', channel, string.sub(blob, start, stop - 1))
  count = count + 1
  start = stop + 1
end
return count
"""
"""Publishes each newline-ended message of ARGV[2] on channel ARGV[1], one message each, in one
command: a flood's batch of thousands of events costs one request and one reply instead of one
of each per event (about a tenth of the client's CPU per message), and subscribers still get
one message per event, byte for byte as serialised. The messages are JSON, which holds no raw
newline, and travel as one argument: packing a thousand arguments cost more than joining them."""
PUBLISH_CHUNK = 1000
"""Messages per script call, so that no call holds Redis for long."""


def alerts_channel(prefix: str = DEFAULT_PREFIX) -> str:
    """The pub/sub channel of live alerts. Pub/sub ignores Redis database numbers, so two
    deployments sharing one Redis keep apart only through different prefixes."""
    return f"{prefix}:alerts"


class Broker(Protocol):
    """Publishes JSON messages to a channel and lets any number of subscribers read them."""

    name: str
    alerts_channel: str

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, message: dict[str, Any], channel: str | None = None) -> None: ...

    async def publish_many(
        self, messages: list[dict[str, Any]], channel: str | None = None
    ) -> None: ...

    def subscribe(self, channel: str | None = None) -> AsyncIterator[dict[str, Any]]: ...

    async def ping(self) -> bool: ...


class MemoryBroker:
    """In-process fan-out: each subscriber has its own bounded queue.

    A subscriber that falls more than `max_pending` messages behind loses the oldest ones rather
    than slowing the pipeline: live alerts are a view, the database is the record.
    """

    name = "memory"

    def __init__(self, max_pending: int = 10_000, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.alerts_channel = alerts_channel(prefix)
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._max_pending = max_pending
        self.published = 0
        self.lagged = 0

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.clear()

    async def ping(self) -> bool:
        return True

    async def publish(self, message: dict[str, Any], channel: str | None = None) -> None:
        await self.publish_many([message], channel)

    async def publish_many(
        self, messages: list[dict[str, Any]], channel: str | None = None
    ) -> None:
        for queue in self._subscribers.get(channel or self.alerts_channel, ()):
            for message in messages:
                if queue.full():
                    queue.get_nowait()
                    self.lagged += 1
                queue.put_nowait(message)
        self.published += len(messages)

    async def subscribe(self, channel: str | None = None) -> AsyncIterator[dict[str, Any]]:
        channel = channel or self.alerts_channel
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._max_pending)
        self._subscribers.setdefault(channel, set()).add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.get(channel, set()).discard(queue)


class RedisBroker:
    """Redis pub/sub: every vigil worker and API process sees every alert."""

    name = "redis"

    # Bounds every wait on Redis during shutdown, so a half-closed socket cannot hang a stop.
    CLOSE_TIMEOUT = 2.0

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._url = url
        self.alerts_channel = alerts_channel(prefix)
        self._client: Any = None
        self._publish_each: Any = None
        self._pubsubs: set[Any] = set()
        self._closed = False
        self.published = 0

    async def connect(self) -> None:
        from redis.asyncio import Redis

        self._closed = False
        self._client = Redis.from_url(self._url, socket_connect_timeout=5)
        # Loaded on first use (and again if Redis restarted and forgot it).
        self._publish_each = self._client.register_script(PUBLISH_EACH)
        await self._client.ping()

    async def close(self) -> None:
        """Close every subscription and the client; subscribers see the stream end."""
        self._closed = True
        for pubsub in list(self._pubsubs):
            await self._quietly(pubsub.aclose())
        self._pubsubs.clear()
        if self._client is not None:
            client, self._client = self._client, None
            await self._quietly(client.aclose())

    async def _quietly(self, waiting: Any) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.CLOSE_TIMEOUT):
                await waiting

    async def ping(self) -> bool:
        if self._client is None or self._closed:
            return False
        try:
            return bool(await self._client.ping())
        except Exception:
            return False

    async def publish(self, message: dict[str, Any], channel: str | None = None) -> None:
        await self.publish_many([message], channel)

    async def publish_many(
        self, messages: list[dict[str, Any]], channel: str | None = None
    ) -> None:
        if not messages:
            return
        if self._client is None:
            await self.connect()
        channel = channel or self.alerts_channel
        dumps = orjson.dumps
        for start in range(0, len(messages), PUBLISH_CHUNK):
            chunk = messages[start : start + PUBLISH_CHUNK]
            blob = b"\n".join(map(dumps, chunk)) + b"\n"
            await self._publish_each(args=[channel, blob])
            self.published += len(chunk)

    async def subscribe(self, channel: str | None = None) -> AsyncIterator[dict[str, Any]]:
        if self._closed:
            raise BrokerUnavailableError("the Redis broker was closed")
        if self._client is None:
            await self.connect()
        pubsub = self._client.pubsub()
        self._pubsubs.add(pubsub)
        try:
            await pubsub.subscribe(channel or self.alerts_channel)
            async for item in pubsub.listen():
                if item.get("type") == "message":
                    yield orjson.loads(item["data"])
        finally:
            self._pubsubs.discard(pubsub)
            await self._quietly(pubsub.aclose())


def make_broker(section: BrokerSection) -> Broker:
    """The broker of a `BrokerSection` (`VIGIL_REDIS_URL`, `VIGIL_REDIS_PREFIX`): Redis when
    it names one, else the in-process broker."""
    if section.redis_url:
        return RedisBroker(section.redis_url, prefix=section.prefix)
    return MemoryBroker(prefix=section.prefix)


class PublishSink:
    """The pipeline's live alerts: each event the store wrote, published once on the broker.

    Best effort: the events are already stored, so a broker outage is counted and logged and
    must not hold up storage.
    """

    name = "publish"
    durable = False
    healthy = True

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def start(self, stopping: Callable[[], bool]) -> None:
        return None

    async def write(self, batch: ScoredBatch) -> None:
        if batch.stored is not None and batch.stored.events:
            await self.broker.publish_many(batch.stored.events)

    async def close(self) -> None:
        return None
