"""`vigil agent` against a real Redis: each line reaches the streams exactly once, in the
partition of its client, across a restart; while Redis is unreachable the agent holds its batch
(the file waits) and sends it once Redis is back."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import batch_of, eventually, line, redis_url, stream_lines
from tests.support.tcp_proxy import TcpProxy
from vigil.config import load_settings
from vigil.sources.agent import StreamWriter, run_agent
from vigil.sources.clientsplit import ClientSplitter
from vigil.sources.streams import StreamKeys, ensure_partitions, partition_of

pytestmark = pytest.mark.redis

PARTITIONS = 4


def _clients(n: int) -> list[str]:
    return [f"203.0.{i // 200}.{i % 200 + 1}" for i in range(n)]


async def _count(redis: Any, prefix: str) -> int:
    batches = await stream_lines(redis, prefix, PARTITIONS)
    return sum(len(b.lines) for part in batches.values() for b in part)


async def test_agent_sends_every_line_once_partitioned_by_client_across_a_restart(
    tmp_path: Path, cluster: tuple[Any, str]
) -> None:
    redis, prefix = cluster
    log = tmp_path / "access.log"
    clients = _clients(37)
    first = [line(clients[i % 37], f"/page/{i}") for i in range(600)]
    log.write_bytes(b"".join(raw + b"\n" for raw in first))
    settings = load_settings(
        redis_url=redis_url(),
        redis_prefix=prefix,
        log_paths=[str(log)],
        agent_name="web1",
        cluster_partitions=PARTITIONS,
    )

    async def run_until(total: int) -> None:
        task = asyncio.create_task(run_agent(settings))
        try:
            await eventually(lambda: _has(total), timeout=30, what=f"{total} lines in the streams")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _has(total: int) -> bool:
        return await _count(redis, prefix) >= total

    await run_until(600)
    second = [line(clients[i % 37], f"/more/{i}") for i in range(400)]
    with log.open("ab") as out:
        out.write(b"".join(raw + b"\n" for raw in second))
    await run_until(1000)
    await asyncio.sleep(0.5)  # anything sent twice would arrive by now

    batches = await stream_lines(redis, prefix, PARTITIONS)
    seen: list[int] = []
    partition_of_client: dict[bytes, set[int]] = {}
    expected_offsets = []
    position = 0
    for raw in first + second:
        expected_offsets.append(position)
        position += len(raw) + 1
    for partition, chunks in batches.items():
        for chunk in chunks:
            assert chunk.source == "web1"
            for raw, offset in zip(chunk.lines, chunk.offsets, strict=True):
                client = raw.split(b" ", 1)[0]
                partition_of_client.setdefault(client, set()).add(partition)
                assert partition == partition_of(client, PARTITIONS)
                seen.append(offset)
    assert sorted(seen) == expected_offsets  # every line once, none twice
    assert all(len(parts) == 1 for parts in partition_of_client.values())
    assert len({p for parts in partition_of_client.values() for p in parts}) == PARTITIONS
    stored = await redis.hgetall(StreamKeys(prefix).agent_checkpoints("web1"))
    assert [int(v) for v in stored.values()] == [log.stat().st_size]
    assert await redis.hget(StreamKeys(prefix).agents, "web1") is not None


async def test_agent_holds_its_batch_while_redis_is_unreachable(
    cluster: tuple[Any, str],
) -> None:
    redis, prefix = cluster
    host, port = redis_url().split("//", 1)[1].split("/", 1)[0].split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    from redis.asyncio import Redis

    through = Redis.from_url(f"redis://127.0.0.1:{proxy.port}/0", socket_timeout=2)
    keys = StreamKeys(prefix)
    try:
        partitions = await ensure_partitions(through, keys, PARTITIONS)
        writer = StreamWriter(
            through,
            keys,
            partitions,
            ClientSplitter("combined"),
            agent="web1",
            site="shop",
            max_backlog=10_000,
        )
        lines = [line(c, "/x") for c in _clients(50)]
        await proxy.sever()
        sending = asyncio.create_task(writer.send(batch_of(lines)))
        await asyncio.sleep(1.5)
        assert not sending.done()  # held, not dropped, not reported as sent
        assert await _count(redis, prefix) == 0
        assert writer.retries > 0
        proxy.restore()
        await asyncio.wait_for(sending, 20)
        assert await _count(redis, prefix) == 50
        stored = await redis.hget(keys.agent_checkpoints("web1"), "f1")
        assert int(stored) == batch_of(lines).end_offset
        batches = await stream_lines(redis, prefix, PARTITIONS)
        assert {b.file_id.split("#")[0] for part in batches.values() for b in part} == {"f1"}
    finally:
        await through.aclose()
        await proxy.stop()


def test_client_split_per_format() -> None:
    combined = line("198.51.100.7", "/a")
    assert ClientSplitter("combined").clients(batch_of([combined])) == [b"198.51.100.7"]
    vhost = b'shop.example:443 2001:db8::5 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 5'
    assert ClientSplitter("apache-vhost-combined").clients(batch_of([vhost])) == [b"2001:db8::5"]
    json_line = (
        b'{"time":"2026-10-10T13:55:36Z","remote_addr":"192.0.2.9","request":"GET / HTTP/1.1"}'
    )
    auto = ClientSplitter("auto")
    assert auto.clients(batch_of([json_line, combined, b"garbage line"])) == [
        b"192.0.2.9",
        b"198.51.100.7",
        None,
    ]
    proxied = ClientSplitter(
        '$remote_addr - - [$time_local] "$request" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent" "$http_x_forwarded_for"',
        trusted_proxies=["10.0.0.0/8"],
    )
    assert proxied.parses
    behind = combined + b' "203.0.113.50"'
    behind = behind.replace(b"198.51.100.7", b"10.1.2.3", 1)
    assert proxied.clients(batch_of([behind])) == [b"203.0.113.50"]
