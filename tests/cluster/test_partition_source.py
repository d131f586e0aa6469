"""A partition of the cluster's streams as a source: batches with the entries' origins and
sites, each announced with its entry ids before the pipeline gets it, and read again after a
snapshot's id."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.cluster.conftest import batch_of, line
from vigil.batch import LineBatch
from vigil.sources.base import Source
from vigil.sources.partition import PartitionSource
from vigil.sources.streams import GROUP, StreamKeys, encode_chunk, ensure_partitions


async def _take(source: PartitionSource, count: int) -> list[LineBatch]:
    out: list[LineBatch] = []
    async for batch in source.batches():
        out.append(batch)
        if len(out) == count:
            source.stop.set()
    return out


async def test_a_partition_is_a_source_of_its_entries(cluster: tuple[Any, str]) -> None:
    redis, prefix = cluster
    keys = StreamKeys(prefix)
    await ensure_partitions(redis, keys, 1)
    first = batch_of([line("198.51.100.1", "/a"), line("198.51.100.1", "/b")])
    second = batch_of([line("198.51.100.2", "/c")], file_id="f2")
    ids = []
    for batch, site in ((first, "shop"), (second, None)):
        fields = encode_chunk(
            "web", batch.file_id, site, batch.lines, batch.offsets, batch.end_offset
        )
        ids.append(await redis.xadd(keys.lines(0), fields))
    await redis.xadd(keys.lines(0), {"line": line("198.51.100.3", "/d"), "site": "blog"})

    told: list[tuple[list[bytes], bytes | None]] = []
    source = PartitionSource(
        redis, keys, 0, on_read=lambda batch, entry_ids, end: told.append((entry_ids, end))
    )
    assert isinstance(source, Source)
    batches = await asyncio.wait_for(_take(source, 3), 30)
    assert [b.lines for b in batches[:2]] == [first.lines, second.lines]
    assert [b.offsets for b in batches[:2]] == [first.offsets, second.offsets]
    assert [b.file_id for b in batches] == ["f1#p0", "f2#p0", "stream#p0"]
    assert [b.site for b in batches] == ["shop", None, "blog"]
    assert [t[0] for t in told[:2]] == [[ids[0]], [ids[1]]]
    assert told[-1][1] is not None and told[0][1] is None  # the read's last id, on its last

    # Nothing acknowledged: a new reader after the first entry's id reads the rest again.
    again = PartitionSource(redis, keys, 0, start=ids[0])
    replayed = await asyncio.wait_for(_take(again, 2), 30)
    assert [b.file_id for b in replayed] == ["f2#p0", "stream#p0"]
    pending = await redis.xpending(keys.lines(0), GROUP)
    assert pending["pending"] == 3
