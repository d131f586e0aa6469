"""Live alerts on Redis: a batch of events is published in few commands, one message each."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from tests.conftest import REDIS_TEST_URL, unique_redis_prefix
from vigil.sinks.broker import PUBLISH_CHUNK, RedisBroker

pytestmark = pytest.mark.redis


async def test_a_large_batch_arrives_one_message_per_event_in_order() -> None:
    if not REDIS_TEST_URL:
        pytest.fail("VIGIL_TEST_REDIS_URL is not set; run the suite through `make test`")
    from redis.asyncio import Redis

    broker = RedisBroker(REDIS_TEST_URL, prefix=unique_redis_prefix())
    await broker.connect()
    listener = Redis.from_url(REDIS_TEST_URL)
    pubsub = listener.pubsub()
    await pubsub.subscribe(broker.alerts_channel)
    try:
        count = 2 * PUBLISH_CHUNK + 7  # more than one script call
        # Values with newlines and carriage returns (a logged header can hold them escaped)
        # arrive whole: they are escaped in JSON, never a message's end.
        events = [
            {"id": i, "site": "alpha", "query": f"q=<script>&t={i}", "agent": "a\nb\r\n"}
            for i in range(count)
        ]
        await broker.publish_many(events)
        await broker.publish({"id": count, "site": "alpha"})
        got: list[dict[str, object]] = []
        async with asyncio.timeout(10):
            while len(got) < count + 1:
                item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if item is not None:
                    got.append(orjson.loads(item["data"]))
        assert got == [*events, {"id": count, "site": "alpha"}]
        assert broker.published == count + 1
        assert await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2) is None
    finally:
        await pubsub.aclose()
        await listener.aclose()
        await broker.close()
