"""Crash and restart: stopped at random points, resumed from committed checkpoints, every line
is stored exactly once (the store dedups by event key, as the database does)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
from pathlib import Path

import pytest

from tests.support.dedup_store import DedupStore
from vigil.sources.tailer import FileTailer

SOURCE = "web"
FAST = {"poll_interval_ms": 2, "glob_interval_ms": 10, "rotate_linger_ms": 60, "batch_time_ms": 2}


class World:
    """A log directory that a writer appends to and logrotate rotates between runs."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.path = root / "access.log"
        self.written: list[bytes] = []
        self.rotated = 0
        self._pending = b""

    def append(self, count: int) -> None:
        data = b""
        for _ in range(count):
            n = len(self.written)
            text = f"{self.root.name} request {n:06d} GET /x?{'q' * self.rng.randint(0, 80)}"
            self.written.append(text.encode())
            data += text.encode() + b"\n"
        data = self._pending + data
        # Sometimes leave the last line half-written; it is completed by the next append.
        cut = len(data) - self.rng.randint(1, 20) if self.rng.random() < 0.3 else len(data)
        with self.path.open("ab") as f:
            f.write(data[:cut])
        self._pending = data[cut:]

    def flush(self) -> None:
        with self.path.open("ab") as f:
            f.write(self._pending)
        self._pending = b""

    def rotate(self) -> None:
        self.flush()
        self.rotated += 1
        target = self.root / f"access.log.{self.rotated}"
        if self.rng.random() < 0.5:
            os.rename(self.path, target)
        else:
            shutil.copyfile(self.path, target)
            os.truncate(self.path, 0)
        # New files get a few lines at once, enough for a full fingerprint (see identity.py).
        self.append(6)


async def crash_run(world: World, store: DedupStore, rng: random.Random) -> None:
    """One run of the tailer that commits some batches and then dies at a random point."""
    tailer = FileTailer(
        [str(world.root / "access.log*")],
        source=SOURCE,
        checkpoints=store.checkpoints,
        batch_size=rng.choice([1, 3, 8, 64]),
        read_chunk_bytes=rng.choice([4096, 1 << 16]),
        **FAST,
    )
    deliver = rng.randint(0, 10)
    commit = rng.randint(0, deliver)
    batches = tailer.batches()
    received = 0
    try:
        while received < deliver:
            if rng.random() < 0.3:
                world.append(rng.randint(1, 30))
            batch = await asyncio.wait_for(anext(batches), 0.2)
            if received < commit:
                store.commit(batch)
            received += 1
        if rng.random() < 0.5:
            await tailer.stop()  # graceful: what it hands out now is not committed either
            async for _ in batches:
                pass
    except (TimeoutError, StopAsyncIteration):
        pass
    finally:
        with contextlib.suppress(Exception):
            await batches.aclose()


async def final_run(world: World, store: DedupStore) -> None:
    tailer = FileTailer(
        [str(world.root / "access.log*")], source=SOURCE, checkpoints=store.checkpoints, **FAST
    )
    batches = tailer.batches()
    want = set(world.written)
    try:
        while not want.issubset(store.events.values()):
            store.commit(await asyncio.wait_for(anext(batches), 10))
        await asyncio.sleep(0.1)
        await tailer.stop()
        async for batch in batches:
            store.commit(batch)
    finally:
        await batches.aclose()


@pytest.mark.parametrize("seed", range(50))
async def test_crash_and_restart_stores_every_line_once(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    world = World(tmp_path / f"site{seed}", rng)
    world.root.mkdir()
    world.append(rng.randint(5, 200))
    store = DedupStore()
    for _ in range(rng.randint(2, 6)):
        await crash_run(world, store, rng)
        world.append(rng.randint(0, 100))
        if rng.random() < 0.4:
            world.rotate()
    world.flush()
    await final_run(world, store)
    stored = list(store.events.values())
    assert len(stored) == len(set(stored)), "a line was stored under two event keys"
    assert set(stored) == set(world.written)
