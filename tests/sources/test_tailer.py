"""The file tailer: following, waiting for files, partial lines, long lines, gzip, checkpoints."""

from __future__ import annotations

import asyncio
import gzip
import shutil
from pathlib import Path
from typing import Any

from vigil.batch import LineBatch
from vigil.sources.checkpoints import InMemoryCheckpointStore
from vigil.sources.identity import FileIdentity
from vigil.sources.tailer import FileTailer

FAST: dict[str, Any] = {
    "poll_interval_ms": 5,
    "glob_interval_ms": 20,
    "rotate_linger_ms": 150,
    "batch_time_ms": 5,
}
WAIT = 15.0


class Collector:
    """Runs a tailer in a task and keeps every batch it hands out."""

    def __init__(self, tailer: FileTailer) -> None:
        self.tailer = tailer
        self.batches: list[LineBatch] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for batch in self.tailer.batches():
            self.batches.append(batch)

    def lines(self) -> list[bytes]:
        return [line for b in self.batches for line in b.lines]

    async def wait_lines(self, count: int) -> list[bytes]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while len(self.lines()) < count:
            if self.task.done():
                self.task.result()
                raise AssertionError("tailer ended early")
            if loop.time() > deadline:
                raise AssertionError(f"got {len(self.lines())} of {count} lines: {self.lines()!r}")
            await asyncio.sleep(0.005)
        return self.lines()

    async def settle(self, seconds: float = 0.2) -> list[bytes]:
        await asyncio.sleep(seconds)
        return self.lines()

    async def stop(self) -> list[bytes]:
        await self.tailer.stop()
        await asyncio.wait_for(self.task, WAIT)
        return self.lines()


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def numbered(prefix: str, start: int, stop: int) -> bytes:
    return b"".join(f"{prefix} line {i:06d} GET /page\n".encode() for i in range(start, stop))


def names(prefix: str, start: int, stop: int) -> list[bytes]:
    return numbered(prefix, start, stop).split(b"\n")[:-1]


async def test_follows_appended_lines_with_exact_offsets(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    append(path, numbered("a", 0, 100))
    c = Collector(FileTailer([path], batch_size=16, **FAST))
    await c.wait_lines(100)
    append(path, numbered("a", 100, 250))
    assert await c.wait_lines(250) == names("a", 0, 250)
    await c.stop()
    data = path.read_bytes()
    end = 0
    for batch in c.batches:
        assert len(batch) <= 16
        assert batch.offsets[0] == end
        for off, line in zip(batch.offsets, batch.lines, strict=True):
            assert data[off : off + len(line) + 1] == line + b"\n"
        end = batch.end_offset
    assert end == len(data)
    assert c.tailer.stats.lines == 250


async def test_partial_line_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    append(path, b"first\nsec")
    c = Collector(FileTailer([path], **FAST))
    await c.wait_lines(1)
    assert await c.settle() == [b"first"]
    append(path, b"ond\nthi")
    assert await c.wait_lines(2) == [b"first", b"second"]
    assert await c.settle() == [b"first", b"second"]
    assert await c.stop() == [b"first", b"second"]  # a live file's partial line is not emitted
    assert c.batches[-1].end_offset == len(b"first\nsecond\n")


async def test_file_that_does_not_exist_yet(tmp_path: Path) -> None:
    path = tmp_path / "later.log"
    c = Collector(FileTailer([path], **FAST))
    await asyncio.sleep(0.05)
    append(path, b"hello\n")
    assert await c.wait_lines(1) == [b"hello"]
    await c.stop()


async def test_first_line_without_newline_shorter_than_fingerprint(tmp_path: Path) -> None:
    path = tmp_path / "slow.log"
    append(path, b"tiny")
    c = Collector(FileTailer([path], **FAST))
    assert await c.settle() == []
    append(path, b" line\n")
    assert await c.wait_lines(1) == [b"tiny line"]
    await c.stop()


async def test_delete_and_recreate(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    append(path, numbered("old", 0, 50))
    c = Collector(FileTailer([path], **FAST))
    await c.wait_lines(50)
    append(path, numbered("old", 50, 60))
    path.unlink()
    append(path, numbered("new", 0, 40))
    lines = await c.wait_lines(100)
    await c.stop()
    assert sorted(lines) == sorted(names("old", 0, 60) + names("new", 0, 40))
    assert len({b.file_id for b in c.batches}) == 2


async def test_glob_picks_up_new_files(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(b"a1\n")
    c = Collector(FileTailer([str(tmp_path / "*.log")], **FAST))
    await c.wait_lines(1)
    (tmp_path / "b.log").write_bytes(b"b1\n")
    (tmp_path / "ignored.txt").write_bytes(b"no\n")
    assert sorted(await c.wait_lines(2)) == [b"a1", b"b1"]
    assert sorted(await c.stop()) == [b"a1", b"b1"]


async def test_unterminated_last_line_of_rotated_file_is_emitted(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    append(path, b"one\ntwo")
    c = Collector(FileTailer([path], **FAST))
    await c.wait_lines(1)
    path.rename(tmp_path / "access.log.1")
    append(path, b"three\n")
    lines = await c.wait_lines(3)
    await c.stop()
    assert sorted(lines) == [b"one", b"three", b"two"]
    old = next(b for b in c.batches if b"two" in b.lines)
    assert old.end_offset == len(b"one\ntwo")


async def test_gzip_backfill_is_read_once_and_not_tailed(tmp_path: Path) -> None:
    archive = tmp_path / "access.log.2"  # gzip recognised by content, not name
    archive.write_bytes(gzip.compress(numbered("gz", 0, 300)))
    append(tmp_path / "access.log", numbered("live", 0, 10))
    c = Collector(FileTailer([str(tmp_path / "access.log*")], **FAST))
    await c.wait_lines(310)
    await asyncio.sleep(0.2)  # several glob rounds
    assert c.tailer.stats.files_closed == 1
    lines = await c.stop()
    assert sorted(lines) == sorted(names("gz", 0, 300) + names("live", 0, 10))


async def test_gzip_of_a_stream_already_read_adds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    append(path, numbered("a", 0, 200))
    c = Collector(FileTailer([str(tmp_path / "access.log*")], **FAST))
    await c.wait_lines(200)
    # logrotate with compress: rename, then gzip the rotated file and delete it.
    path.rename(tmp_path / "access.log.1")
    append(path, numbered("b", 0, 5))
    await c.wait_lines(205)
    with (
        (tmp_path / "access.log.1").open("rb") as src,
        gzip.open(tmp_path / "access.log.1.gz", "wb") as dst,
    ):
        shutil.copyfileobj(src, dst)
    (tmp_path / "access.log.1").unlink()
    lines = await c.settle(0.5)
    await c.stop()
    assert sorted(lines) == sorted(names("a", 0, 200) + names("b", 0, 5))


async def test_long_line_is_flagged_and_memory_bounded(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    huge = b"Z" * (3 << 20)
    append(path, b"before\n" + huge[: 1 << 20])
    c = Collector(FileTailer([path], max_line_bytes=1 << 20, read_chunk_bytes=256 * 1024, **FAST))
    await c.wait_lines(1)
    append(path, huge[1 << 20 :] + b"\nafter\n")
    lines = await c.wait_lines(3)
    await c.stop()
    assert lines == [b"before", b"Z" * (1 << 20), b"after"]
    flagged = [b.offsets[i] for b in c.batches for i in b.oversized]
    assert flagged == [7]
    assert c.batches[-1].end_offset == path.stat().st_size


async def test_nul_and_invalid_utf8_pass_through(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    append(path, b"a\x00b\n\xc3\x28 bad\n\r\n")
    c = Collector(FileTailer([path], **FAST))
    assert await c.wait_lines(3) == [b"a\x00b", b"\xc3\x28 bad", b"\r"]
    await c.stop()


async def test_resumes_from_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    data = numbered("a", 0, 100)
    append(path, data)
    first = Collector(FileTailer([path], source="web", **FAST))
    await first.wait_lines(100)
    await first.stop()
    file_id = first.batches[0].file_id
    cut = first.batches[0].offsets[0] + len(data) // 2
    cut = data.index(b"\n", cut) + 1
    store = InMemoryCheckpointStore({"web": {file_id: cut}})
    append(path, numbered("a", 100, 110))
    second = Collector(FileTailer([path], source="web", checkpoints=store, **FAST))
    expected = (data + numbered("a", 100, 110))[cut:].split(b"\n")[:-1]
    assert await second.wait_lines(len(expected)) == expected
    await second.stop()
    assert {b.file_id for b in second.batches} == {file_id}


async def test_checkpoint_of_replaced_content_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    append(path, numbered("new", 0, 20))
    st = path.stat()
    # Same device and inode, but the checkpoint was taken on different content (inode reuse).
    stale = FileIdentity(st.st_dev, st.st_ino, 256, "0123456789abcdef").file_id
    store = InMemoryCheckpointStore({"files": {stale: 300}})
    c = Collector(FileTailer([path], checkpoints=store, **FAST))
    assert await c.wait_lines(20) == names("new", 0, 20)
    await c.stop()
    assert c.batches[0].file_id != stale


async def test_start_at_end_skips_existing_content_only(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    append(path, numbered("old", 0, 30))
    c = Collector(FileTailer([path], start_at="end", **FAST))
    await c.settle(0.1)
    append(path, numbered("new", 0, 3))
    assert await c.wait_lines(3) == names("new", 0, 3)
    await c.stop()


async def test_stop_hands_out_lines_already_read(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    append(path, numbered("a", 0, 10))
    tailer = FileTailer([path], batch_size=1000, batch_time_ms=60_000, poll_interval_ms=5)
    c = Collector(tailer)
    await asyncio.sleep(0.2)
    assert c.lines() == []  # held: neither full nor old enough
    assert await c.stop() == names("a", 0, 10)


async def test_run_feeds_a_queue_and_stops_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    append(path, numbered("a", 0, 50))
    tailer = FileTailer([path], batch_size=10, **FAST)
    queue: asyncio.Queue[LineBatch] = asyncio.Queue(maxsize=2)
    runner = asyncio.create_task(tailer.run(queue))
    got: list[bytes] = []
    while len(got) < 50:
        got.extend((await asyncio.wait_for(queue.get(), WAIT)).lines)
    await tailer.stop()
    await asyncio.wait_for(runner, WAIT)
    assert got == names("a", 0, 50)
    assert tailer.stats.files_closed == 1


async def test_cancelling_the_runner_closes_files(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    append(path, numbered("a", 0, 50))
    tailer = FileTailer([path], batch_size=10, **FAST)
    queue: asyncio.Queue[LineBatch] = asyncio.Queue(maxsize=1)
    runner = asyncio.create_task(tailer.run(queue))
    await asyncio.wait_for(queue.get(), WAIT)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert tailer.stats.files_closed == tailer.stats.files_opened == 1


async def test_gzip_still_being_written_is_read_once_complete(tmp_path: Path) -> None:
    packed = gzip.compress(numbered("gz", 0, 2000))
    archive = tmp_path / "access.log.3.gz"
    archive.write_bytes(packed[: len(packed) // 2])
    c = Collector(FileTailer([str(tmp_path / "*.gz")], **FAST))
    await c.wait_lines(1)  # the readable start comes out already
    await asyncio.sleep(0.3)  # a few retries of the cut-short stream
    append(archive, packed[len(packed) // 2 :])
    lines = await c.wait_lines(2000)
    assert await c.settle(0.4) == lines
    await c.stop()
    assert lines == names("gz", 0, 2000)
    assert c.tailer.stats.files_opened == 1


async def test_a_backlog_comes_in_full_batches_and_a_trickle_by_its_age(tmp_path: Path) -> None:
    # Behind (a flood, or a start with a backlog): batches close by size, never above it.
    # Keeping up: the few lines of a poll close by age instead of waiting for the size.
    path = tmp_path / "access.log"
    append(path, numbered("a", 0, 5000))
    c = Collector(FileTailer([path], batch_size=1000, **FAST))
    assert await c.wait_lines(5000) == names("a", 0, 5000)
    assert [len(b.lines) for b in c.batches] == [1000] * 5
    append(path, numbered("b", 0, 7))
    assert (await c.wait_lines(5007))[5000:] == names("b", 0, 7)
    assert [len(b.lines) for b in c.batches[5:]] == [7]
    await c.stop()
