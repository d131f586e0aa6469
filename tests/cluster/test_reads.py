"""A partition's reads of its stream against a real Redis, with the failures forced
deterministically: a read that Redis carried out but whose reply never arrived (the connection
dropped, Redis stopped right after) leaves its entries pending for the partition's consumer,
where no later `>` read finds them. The reader must hand them on all the same, once each."""

from __future__ import annotations

from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from vigil.batch import LineBatch
from vigil.config import load_settings
from vigil.pipeline.leases import Leases
from vigil.pipeline.worker import PartitionRunner
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
    """Takes the batches a partition hands on."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    async def submit(self, batch: LineBatch, site: str | None = None) -> None:
        self.lines += batch.lines


async def _runner(redis: Any, prefix: str) -> tuple[PartitionRunner, str]:
    keys = StreamKeys(prefix)
    await ensure_partitions(redis, keys, 1)
    settings = load_settings(redis_url="redis://unused", redis_prefix=prefix)
    runner = PartitionRunner(settings, redis, keys, Leases(redis, keys, "w", 10), 0, None)
    return runner, keys.lines(0)


async def test_entries_of_a_read_whose_reply_was_lost_are_read_again(
    cluster: tuple[Any, str],
) -> None:
    redis, prefix = cluster
    client = _LostReplies(redis, lose=2)
    runner, stream = await _runner(client, prefix)
    pipeline = _Pipeline()
    first = [await redis.xadd(stream, {"line": f"first {n}"}) for n in range(3)]
    # The first read's reply is lost, and so is that of the read after it (which finds the
    # same entries, now pending): the third hands them on.
    entries = await runner._read_new(10, 100)
    assert client.lost == first * 2
    assert [entry_id for entry_id, _ in entries] == first
    await runner._submit(pipeline, entries)  # type: ignore[arg-type]
    # Nothing is looked for again once they are handed on: new entries come next, once.
    more = [await redis.xadd(stream, {"line": f"more {n}"}) for n in range(2)]
    entries = await runner._read_new(10, 100)
    assert [entry_id for entry_id, _ in entries] == more
    await runner._submit(pipeline, entries)  # type: ignore[arg-type]
    assert await runner._read_new(10, None) == []
    pending = await redis.xpending(stream, GROUP)
    assert pending["pending"] == 5
    assert pipeline.lines == [b"first 0", b"first 1", b"first 2", b"more 0", b"more 1"]


async def test_a_lost_reply_after_entries_handed_on_brings_back_only_the_lost_ones(
    cluster: tuple[Any, str],
) -> None:
    redis, prefix = cluster
    client = _LostReplies(redis, lose=0)
    runner, stream = await _runner(client, prefix)
    pipeline = _Pipeline()
    handed = [await redis.xadd(stream, {"line": f"handed {n}"}) for n in range(2)]
    entries = await runner._read_new(10, 100)
    assert [entry_id for entry_id, _ in entries] == handed
    await runner._submit(pipeline, entries)  # type: ignore[arg-type]
    # Still pending (not stored yet), but handed on: only the entries of the lost read return.
    client.lose = 1
    lost = [await redis.xadd(stream, {"line": f"lost {n}"}) for n in range(2)]
    entries = await runner._read_new(10, 100)
    assert client.lost == lost
    assert [entry_id for entry_id, _ in entries] == lost
