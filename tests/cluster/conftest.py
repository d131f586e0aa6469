"""A real Redis with a key prefix of its own per test (removed afterwards), and helpers that
write access-log lines and read back what reached the cluster's streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import REDIS_TEST_URL, unique_redis_prefix
from vigil.batch import LineBatch
from vigil.sources.streams import StreamKeys, decode_entries

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


def redis_url() -> str:
    if not REDIS_TEST_URL:
        pytest.fail("VIGIL_TEST_REDIS_URL is not set; run the suite through `make test`")
    return REDIS_TEST_URL


@pytest.fixture
async def cluster() -> AsyncIterator[tuple[Any, str]]:
    """A Redis client and a prefix no other test uses; the prefix's keys go afterwards."""
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url())
    prefix = unique_redis_prefix()
    try:
        yield redis, prefix
    finally:
        async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
            await redis.delete(key)
        await redis.aclose()


def line(client: str, path: str, status: int = 200, when: datetime | None = None) -> bytes:
    moment = (when or datetime.now(UTC)).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (f'{client} - - [{moment}] "GET {path} HTTP/1.1" {status} 512 "-" "{UA}"').encode()


def batch_of(lines: list[bytes], file_id: str = "f1", start: int = 0) -> LineBatch:
    offsets = []
    position = start
    for raw in lines:
        offsets.append(position)
        position += len(raw) + 1
    return LineBatch("web", file_id, lines, offsets, position)


async def stream_lines(redis: Any, prefix: str, partitions: int) -> dict[int, list[LineBatch]]:
    """Every batch in every partition's stream, by partition."""
    keys = StreamKeys(prefix)
    out: dict[int, list[LineBatch]] = {}
    for partition in range(partitions):
        entries = await redis.xrange(keys.lines(partition))
        out[partition] = [chunk.batch for chunk in decode_entries(partition, entries)]
    return out


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 60.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout} s")
