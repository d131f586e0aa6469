"""A partition source's reads of its stream against a real Redis, with the failures forced
deterministically: a read that Redis carried out but whose reply never arrived (the connection
dropped, Redis stopped right after) leaves its entries pending for the partition's consumer,
where no later `>` read finds them. The reader must hand them on all the same, once each."""

from __future__ import annotations

from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from vigil.sources.partition import PartitionSource
from vigil.sources.streams import GROUP, StreamKeys, ensure_partitions

pytestmark = pytest.mark.redis


class _LostReplies:
    """A Redis client whose next `lose` reads that deliver entries are carried out by Redis,
    then fail as if the connection had dropped before the reply."""

    def __init__(self, redis: Any, lose: int) -> None:
        self._redis = redis
        self.lose = lose
        self.lost: list[bytes] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._redis, name)

    async def xreadgroup(self, *args: Any, **kwargs: Any) -> Any:
        reply = await self._redis.xreadgroup(*args, **kwargs)
        delivered = [entry_id for _stream, entries in reply or () for entry_id, _ in entries]
        if delivered and self.lose:
            self.lose -= 1
            self.lost += delivered
            raise RedisConnectionError("Connection closed by server.")
        return reply


class _Pipeline:
    """Takes the batches a partition's source hands on."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def take(self, source: PartitionSource, entries: list[tuple[bytes, Any]]) -> None:
        for batch in source._batches(entries):
            self.lines += batch.lines


async def _source(redis: Any, prefix: str) -> tuple[PartitionSource, str]:
    keys = StreamKeys(prefix)
    await ensure_partitions(redis, keys, 1)
    return PartitionSource(redis, keys, 0), keys.lines(0)


async def test_entries_of_a_read_whose_reply_was_lost_are_read_again(
    cluster: tuple[Any, str],
) -> None:
    redis, prefix = cluster
    client = _LostReplies(redis, lose=2)
    source, stream = await _source(client, prefix)
    pipeline = _Pipeline()
    first = [await redis.xadd(stream, {"line": f"first {n}"}) for n in range(3)]
    # The first read's reply is lost, and so is that of the read after it (which finds the
    # same entries, now pending): the third hands them on.
    entries = await source._read_new(10, 100)
    assert client.lost == first * 2
    assert [entry_id for entry_id, _ in entries] == first
    pipeline.take(source, entries)
    # Nothing is looked for again once they are handed on: new entries come next, once.
    more = [await redis.xadd(stream, {"line": f"more {n}"}) for n in range(2)]
    entries = await source._read_new(10, 100)
    assert [entry_id for entry_id, _ in entries] == more
    pipeline.take(source, entries)
    assert await source._read_new(10, None) == []
    pending = await redis.xpending(stream, GROUP)
    assert pending["pending"] == 5
    assert pipeline.lines == [b"first 0", b"first 1", b"first 2", b"more 0", b"more 1"]


async def test_a_lost_reply_after_entries_read_brings_back_only_the_lost_ones(
    cluster: tuple[Any, str],
) -> None:
    redis, prefix = cluster
    client = _LostReplies(redis, lose=0)
    source, stream = await _source(client, prefix)
    pipeline = _Pipeline()
    handed = [await redis.xadd(stream, {"line": f"handed {n}"}) for n in range(2)]
    entries = await source._read_new(10, 100)
    assert [entry_id for entry_id, _ in entries] == handed
    pipeline.take(source, entries)
    # Read and held for the batch being gathered, not handed on yet.
    held = [await redis.xadd(stream, {"line": "held"})]
    entries = await source._read_new(10, None)
    assert [entry_id for entry_id, _ in entries] == held
    # Still pending (not stored yet), but read: only the entries of the lost read return.
    client.lose = 1
    lost = [await redis.xadd(stream, {"line": f"lost {n}"}) for n in range(2)]
    entries = await source._read_new(10, 100)
    assert client.lost == lost
    assert [entry_id for entry_id, _ in entries] == lost
