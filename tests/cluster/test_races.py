"""The stream reads that race with acknowledgements, forced deterministically against a real
Redis: an entry pending when `XINFO GROUPS` is read and acknowledged before `XPENDING` is (a
worker storing a batch meanwhile). The summary then has no smallest id; the trim floor of a
partition and the cluster status must still hold (this once broke a takeover under load)."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.pipeline.worker import ack_floor
from vigil.services.cluster import cluster_status
from vigil.sources.streams import GROUP, StreamKeys, ensure_partitions

pytestmark = pytest.mark.redis


class _AckBeforePending:
    """A Redis client whose `xpending` is preceded by an `XACK` of every pending entry."""

    def __init__(self, redis: Any, stream: str, ids: list[bytes]) -> None:
        self._redis = redis
        self._stream = stream
        self._ids = ids
        self.raced = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._redis, name)

    async def xpending(self, stream: Any, group: Any) -> Any:
        if self._ids:
            await self._redis.xack(self._stream, GROUP, *self._ids)
            self._ids = []
            self.raced += 1
        return await self._redis.xpending(stream, group)


async def _racing(redis: Any, keys: StreamKeys) -> tuple[str, list[bytes], _AckBeforePending]:
    """Partition 0 of a new one-partition cluster with three entries delivered and pending, and
    a client that acknowledges them between XINFO GROUPS and XPENDING."""
    stream, ids = await _pending_entry(redis, keys)
    return stream, ids, _AckBeforePending(redis, stream, ids)


async def _pending_entry(redis: Any, keys: StreamKeys) -> tuple[str, list[bytes]]:
    await ensure_partitions(redis, keys, 1)
    stream = keys.lines(0)
    for n in range(3):
        await redis.xadd(stream, {"line": f"line {n}"})
    reply = await redis.xreadgroup(GROUP, "p0", {stream: ">"}, count=10)
    ids = [entry_id for entry_id, _ in reply[0][1]]
    return stream, ids


async def test_trim_floor_when_the_pending_entries_are_acknowledged_meanwhile(
    cluster: tuple[Any, str],
) -> None:
    redis, prefix = cluster
    stream, ids, racing = await _racing(redis, StreamKeys(prefix))
    floor = await ack_floor(racing, stream)
    assert racing.raced == 1
    # Everything is acknowledged: the floor is the last delivered id, and nothing above it goes.
    assert floor == ids[-1]
    # Without the race the floor is the smallest pending id.
    stream2, ids2 = await _pending_entry(redis, StreamKeys(prefix + "-b"))
    assert await ack_floor(redis, stream2) == ids2[0]
    for key in await redis.keys(f"{prefix}-b:*"):
        await redis.delete(key)


async def test_status_when_the_pending_entries_are_acknowledged_meanwhile(
    cluster: tuple[Any, str],
) -> None:
    redis, prefix = cluster
    _stream, _ids, racing = await _racing(redis, StreamKeys(prefix))
    status = await cluster_status(racing, prefix)
    assert racing.raced == 1
    (partition,) = status.partitions
    # Read while three were pending: counted as lag, but no age for entries already gone.
    assert partition.lag_entries == 3
    assert partition.lag_seconds == 0.0
    assert (await cluster_status(redis, prefix)).lag_entries == 0
