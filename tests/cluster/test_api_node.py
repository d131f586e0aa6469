"""The API node of a cluster (`vigil serve --cluster`, real Redis): lines posted to
`/ingest/batch` go to the partition streams by client, with their site and an ingest origin of
their own; `/metrics` has each partition's lag; lines a shipper `XADD`s (one per entry) become
batches a worker reads; `vigil cluster status` sees the API node and the lag."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.api.server import serving
from tests.cluster.conftest import eventually, line, redis_url, stream_lines
from vigil.api.app import create_app
from vigil.config import Settings
from vigil.services.cluster import ClusterIngest, cluster_status
from vigil.sources.streams import (
    GROUP,
    StreamKeys,
    decode_entries,
    ensure_partitions,
    partition_of,
)

pytestmark = pytest.mark.redis

ADMIN = "cluster-admin-key-0123456789abcdef"
PARTITIONS = 3


async def test_ingest_on_the_api_node_appends_to_the_partition_streams(
    db: Settings, cluster: tuple[Any, str]
) -> None:
    redis, prefix = cluster
    settings = db.model_copy(
        update={
            "api_admin_key": SecretStr(ADMIN),
            "redis_url": redis_url(),
            "redis_prefix": prefix,
            "cluster_partitions": PARTITIONS,
        }
    )
    clients = [f"198.51.100.{i}" for i in range(1, 31)]
    lines = [line(c, f"/a?n={n}").decode() for n, c in enumerate(clients)]
    app = create_app(settings, pipeline=ClusterIngest(settings))
    async with serving(app) as address, httpx.AsyncClient(base_url=f"http://{address}") as http:
        reply = await http.post(
            "/ingest/batch",
            json={"source": "lb", "site": "shop", "lines": lines},
            headers={"X-API-Key": ADMIN},
        )
        assert reply.status_code == 202, reply.text

        async def arrived() -> bool:
            batches = await stream_lines(redis, prefix, PARTITIONS)
            return sum(len(b.lines) for part in batches.values() for b in part) == 30

        await eventually(arrived, timeout=20, what="posted lines in the streams")

        def lag_lines(text: str) -> list[str]:
            return [x for x in text.splitlines() if x.startswith("vigil_cluster_lag_entries{")]

        async def lag_exported() -> bool:
            # Nobody reads the streams here: the lag is every entry posted.
            found = lag_lines((await http.get("/metrics")).text)
            lengths = [await redis.xlen(StreamKeys(prefix).lines(p)) for p in range(PARTITIONS)]
            lag = sum(float(x.split()[-1]) for x in found)
            return len(found) == PARTITIONS and lag == sum(lengths) > 0

        await eventually(lag_exported, timeout=20, what="lag per partition on /metrics")

    batches = await stream_lines(redis, prefix, PARTITIONS)
    for partition, chunks in batches.items():
        for chunk in chunks:
            assert chunk.source == "http:lb"
            for raw in chunk.lines:
                assert partition == partition_of(raw.split(b" ", 1)[0], PARTITIONS)
    entries = await redis.xrange(StreamKeys(prefix).lines(0))
    assert all(e[1][b"st"] == b"shop" for e in entries)
    status = await cluster_status(redis, prefix)
    lengths = [await redis.xlen(StreamKeys(prefix).lines(p)) for p in range(PARTITIONS)]
    assert status.lag_entries == sum(lengths)
    assert any(name.startswith("api-") for name in status.agents)


async def test_lines_a_shipper_xadds_become_batches_with_stable_origins(
    cluster: tuple[Any, str],
) -> None:
    redis, prefix = cluster
    keys = StreamKeys(prefix)
    await ensure_partitions(redis, keys, PARTITIONS)
    stream = keys.lines(1)
    for n in range(5):
        await redis.xadd(stream, {"line": line("192.0.2.1", f"/s/{n}"), "source": "vector"})
    await redis.xadd(stream, {"junk": "no line here"})
    entries = await redis.xrange(stream)
    chunks = decode_entries(1, entries)
    assert [len(c.batch.lines) for c in chunks] == [5, 1]
    first = chunks[0].batch
    assert first.source == "xadd:vector" and first.file_id == "stream#p1"
    assert first.offsets == sorted(set(first.offsets)) and first.end_offset == first.offsets[-1] + 1
    assert chunks[0].ids == [e[0] for e in entries[:5]]
    assert chunks[1].batch.lines == [b"junk=no line here"]  # kept, to become a dead letter
    again = decode_entries(1, await redis.xrange(stream))
    assert again[0].batch.offsets == first.offsets  # a replay has the same origins


async def test_lag_is_zero_once_everything_was_delivered_whatever_redis_counts(
    cluster: tuple[Any, str],
) -> None:
    redis, prefix = cluster
    keys = StreamKeys(prefix)
    await ensure_partitions(redis, keys, 1)
    stream = keys.lines(0)
    for n in range(3):
        await redis.xadd(stream, {"line": line("192.0.2.1", f"/s/{n}")})
    # As after Redis restarts from its append-only file: every entry delivered, the group's read
    # counter restored behind, so Redis's own lag is wrong.
    await redis.execute_command("XGROUP", "SETID", stream, GROUP, "$", "ENTRIESREAD", 1)
    assert int((await redis.xinfo_groups(stream))[0]["lag"]) == 2
    assert (await cluster_status(redis, prefix)).lag_entries == 0
    await redis.xadd(stream, {"line": line("192.0.2.1", "/s/new")})
    status = await cluster_status(redis, prefix)
    assert status.lag_entries >= 1
    assert status.partitions[0].lag_seconds >= 0
