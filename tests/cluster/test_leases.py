"""The lease keeper thread against a real Redis: one round trip renews the held leases and the
heartbeat; a lease another worker holds is reported lost; the thread stops and joins."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.cluster.conftest import eventually, redis_url
from vigil.pipeline.leases import LeaseKeeper
from vigil.sources.streams import StreamKeys

pytestmark = pytest.mark.redis


async def test_keeper_renews_held_leases_and_reports_taken_ones(
    cluster: tuple[Any, str],
) -> None:
    redis, prefix = cluster
    keys = StreamKeys(prefix)
    await redis.set(keys.lease(0), "w1", px=1000)
    await redis.set(keys.lease(1), "w2", px=60_000)
    keeper = LeaseKeeper(redis_url(), keys, "w1", 1.0)
    keeper.hold(0)
    keeper.hold(1)
    keeper.hold(2)  # expired meanwhile and unclaimed: taken again
    keeper.start()
    lost: set[int] = set()
    try:

        async def reported() -> bool:
            lost.update(keeper.take_lost())
            return bool(lost)

        await eventually(reported, timeout=10, what="a lost lease reported")
        # The round that found lease 1 taken renewed the others in the same round trip.
        assert await redis.get(keys.lease(0)) == b"w1"
        assert await redis.get(keys.lease(2)) == b"w1"
        assert await redis.zscore(keys.workers, "w1") is not None
    finally:
        keeper.stop()
        await asyncio.to_thread(keeper.join, 5)
    assert lost == {1}
    assert await redis.get(keys.lease(1)) == b"w2"
    assert not keeper.is_alive()
