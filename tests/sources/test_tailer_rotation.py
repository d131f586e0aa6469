"""Rotation while a writer keeps appending: every line written is read exactly once.

copytruncate note: logrotate copies the file and then truncates it; a line the web server
writes between the copy and the truncate is in neither file, whatever reads them. These tests
pause the writer for the copy+truncate (as that window is a limitation of copytruncate, not of
the reader) and check what the reader does promise: with the rotated copies watched it
resumes the unread rest from the copy; with only the live file watched it loses nothing it had
the chance to read.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from tests.support.logrotate import LogRotate
from vigil.batch import LineBatch
from vigil.sources.tailer import FileTailer

FAST = {"poll_interval_ms": 5, "glob_interval_ms": 20, "rotate_linger_ms": 200, "batch_time_ms": 5}
WAIT = 60.0


def line(i: int) -> bytes:
    request = f"GET /item/{i:07d} HTTP/1.1"
    return f'10.1.{i % 200}.{i % 251} - - [01/Jan/2024] "{request}" 200 512\n'.encode()


class RotatingWriter(threading.Thread):
    """Appends numbered lines without pause and rotates the file every `every` lines."""

    def __init__(
        self,
        path: Path,
        total: int,
        every: int,
        mode: Literal["rename", "copytruncate"],
        *,
        compress: bool = False,
        before_truncate: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.total = total
        self.every = every
        self.mode = mode
        # Older rotations compressed as with logrotate's delaycompress: x.1 stays plain.
        self.logrotate = LogRotate(path, mode=mode, compress=compress, delaycompress=True)
        self.before_truncate = before_truncate
        self.written = 0
        self.rotations = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._write()
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def _write(self) -> None:
        out = self.path.open("ab", buffering=0)
        i = 0
        while i < self.total:
            out.write(line(i))
            i += 1
            self.written = i
            if i % 200 == 0:
                time.sleep(0.001)
            if i % self.every or i == self.total:
                continue
            self.rotations += 1
            if self.mode == "rename":
                self.logrotate.rotate()
                # The server writes on into the renamed file until it reopens its log.
                for _ in range(300):
                    if i == self.total:
                        break
                    out.write(line(i))
                    i += 1
                    self.written = i
                out.close()
                out = self.path.open("ab", buffering=0)
            else:
                if self.before_truncate is not None:
                    self.before_truncate(i)
                self.logrotate.rotate()
        out.close()


async def collect_until(
    tailer: FileTailer, writer: RotatingWriter, seen: list[LineBatch], *, delay: float = 0.0
) -> None:
    """Consumes batches (taking `delay` s each) until every line written has arrived."""

    async def consume() -> None:
        async for batch in tailer.batches():
            seen.append(batch)
            if delay:
                await asyncio.sleep(delay)

    task = asyncio.create_task(consume())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    try:
        while True:
            await asyncio.sleep(0.02)
            assert writer.error is None, writer.error
            if task.done():
                task.result()
            got = sum(len(b) for b in seen)
            if not writer.is_alive() and got >= writer.total:
                break
            assert loop.time() < deadline, f"only {got} of {writer.written} lines arrived"
        await asyncio.sleep(0.3)  # anything extra (a duplicate) would show up now
    finally:
        await tailer.stop()
        await asyncio.wait_for(task, WAIT)


def assert_exactly_once(seen: list[LineBatch], total: int) -> None:
    counts = Counter(line for batch in seen for line in batch.lines)
    expected = {line(i).rstrip(b"\n") for i in range(total)}
    missing = expected - counts.keys()
    assert not missing, f"{len(missing)} lines lost, e.g. {sorted(missing)[:3]}"
    assert counts.keys() == expected, "lines that were never written"
    doubled = [k for k, n in counts.items() if n > 1]
    assert not doubled, f"{len(doubled)} lines read twice, e.g. {doubled[:3]}"
    keys = Counter((b.file_id, off) for b in seen for off in b.offsets)
    assert max(keys.values()) == 1


def assert_in_order_per_file(seen: list[LineBatch]) -> None:
    last: dict[str, int] = {}
    for batch in seen:
        start = last.get(batch.file_id, -1)
        assert batch.offsets[0] > start
        last[batch.file_id] = batch.offsets[-1]


async def test_rename_rotation_with_continuous_writer(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.touch()
    writer = RotatingWriter(path, total=30_000, every=5_000, mode="rename")
    tailer = FileTailer([path], batch_size=500, read_chunk_bytes=64 * 1024, **FAST)
    seen: list[LineBatch] = []
    writer.start()
    await collect_until(tailer, writer, seen)
    assert writer.rotations == 5
    assert_exactly_once(seen, writer.total)
    assert_in_order_per_file(seen)
    assert len({b.file_id for b in seen}) == 6


async def test_rename_rotation_watching_rotated_and_compressed_files(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.touch()
    writer = RotatingWriter(path, total=25_000, every=4_000, mode="rename", compress=True)
    tailer = FileTailer([str(tmp_path / "access.log*")], batch_size=200, **FAST)
    seen: list[LineBatch] = []
    writer.start()
    # A slow consumer keeps the reader behind the writer across rotations.
    await collect_until(tailer, writer, seen, delay=0.004)
    assert writer.rotations == 6
    assert list(tmp_path.glob("*.gz"))
    assert_exactly_once(seen, writer.total)


async def test_copytruncate_with_copies_watched(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.touch()
    writer = RotatingWriter(path, total=25_000, every=5_000, mode="copytruncate")
    tailer = FileTailer(
        [str(tmp_path / "access.log*")], batch_size=200, read_chunk_bytes=16 * 1024, **FAST
    )
    seen: list[LineBatch] = []
    writer.start()
    # A slow consumer keeps the reader behind: at each truncate, the unread rest of the old
    # content is only in the copy, and must be read from there exactly once.
    await collect_until(tailer, writer, seen, delay=0.004)
    assert writer.rotations == 4
    assert tailer.stats.truncations >= 1
    assert_exactly_once(seen, writer.total)


async def test_copytruncate_live_file_only(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.touch()
    seen: list[LineBatch] = []
    loop = asyncio.get_running_loop()

    def wait_for_reader(written: int) -> None:
        # Only the live file is watched, so the reader must have read up to the copy.
        deadline = time.monotonic() + WAIT
        while sum(len(b) for b in seen) < written:
            assert time.monotonic() < deadline
            time.sleep(0.002)

    writer = RotatingWriter(
        path, total=20_000, every=4_000, mode="copytruncate", before_truncate=wait_for_reader
    )
    tailer = FileTailer([path], batch_size=500, **FAST)
    loop.call_soon(writer.start)
    await collect_until(tailer, writer, seen)
    assert writer.rotations == 4
    assert tailer.stats.truncations == 4
    assert_exactly_once(seen, writer.total)
    assert len({b.file_id for b in seen}) == 5
