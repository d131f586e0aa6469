"""Rotated while vigil was down: watching only `access.log`, the unread rest of the file that was
rotated away is found among its rotated generations (renamed, compressed, dated, copied) and
read once, oldest first, before the new file."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from pathlib import Path

import pytest

from tests.support.dedup_store import DedupStore
from tests.support.logrotate import LogRotate, gzip_in_place
from vigil.sources.rotated import Generation, generations_to_read, rotated_siblings
from vigil.sources.tailer import FileTailer

SOURCE = "web"
FAST = {"poll_interval_ms": 2, "glob_interval_ms": 10, "rotate_linger_ms": 60, "batch_time_ms": 2}


class Log:
    """A log file written with numbered lines; remembers every line written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written: list[bytes] = []

    def write(self, count: int, label: str = "") -> list[bytes]:
        new = []
        for _ in range(count):
            n = len(self.written)
            text = f'10.0.0.{n % 250} - - [01/Jan/2024] "GET /{label}item/{n:06d} HTTP/1.1" 200 5'
            new.append(text.encode())
            self.written.append(text.encode())
        with self.path.open("ab") as f:
            f.write(b"".join(line + b"\n" for line in new))
        return new


def tailer(store: DedupStore, *paths: Path | str) -> FileTailer:
    return FileTailer(
        list(paths), source=SOURCE, checkpoints=store.checkpoints, batch_size=16, **FAST
    )


async def run_until(
    store: DedupStore, tail: FileTailer, want: int, *, commit: int | None = None
) -> int:
    """Commits batches until `want` lines are stored (or `commit` more batches were committed),
    then stops the tailer without committing anything else, as a crash would."""
    batches = tail.batches()
    committed = 0
    try:
        while len(store.events) < want and (commit is None or committed < commit):
            try:
                batch = await asyncio.wait_for(anext(batches), 10 if commit is None else 0.3)
            except TimeoutError:
                if commit is None:
                    raise
                break
            store.commit(batch)
            committed += 1
    finally:
        await tail.stop()
        with contextlib.suppress(Exception):
            await batches.aclose()
    return committed


def assert_exactly_once(store: DedupStore, written: list[bytes]) -> None:
    counts = Counter(store.events.values())
    assert max(counts.values()) == 1, "a line stored under two event keys"
    missing = set(written) - counts.keys()
    assert not missing, f"{len(missing)} lines lost, e.g. {sorted(missing)[:2]}"
    assert counts.keys() == set(written)


def test_rotated_siblings_oldest_first(tmp_path: Path) -> None:
    names = [
        "access.log",
        "access.log.1",
        "access.log.2.gz",
        "access.log.2",
        "access.log.10.gz",
        "access.log-20240102",
        "access.log-20240101.gz",
        "access.log.2024-01-03",
        "access.1.log",
        "access.log.old",
        "access.log.1.bz2",
        "error.log.1",
        "access.log.1.tmp",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"x\n")
    found = rotated_siblings(str(tmp_path / "access.log"))
    assert [Path(r.path).name for r in found] == [
        "access.log.10.gz",
        "access.log.2",
        "access.log.2.gz",
        "access.1.log",
        "access.log.1",
        "access.log.1.bz2",
        "access.log-20240101.gz",
        "access.log-20240102",
        "access.log.2024-01-03",
    ]
    assert [r.readable for r in found].count(False) == 1


def test_which_generations_are_read() -> None:
    a, b = object(), object()
    g = Generation
    # Nothing known: history from before vigil followed the file is left alone.
    assert generations_to_read([g(None, False), g(None, False)]) == []
    # The known one with an unread rest, then every newer unknown one; older unknowns not.
    assert generations_to_read([g(None, False), g(a, True), g(None, False), g(None, False)]) == [
        1,
        2,
        3,
    ]
    # Read to its end already: only what came after it.
    assert generations_to_read([g(a, False), g(None, False)]) == [1]
    # A plain generation and its compressed copy hold the same bytes: the first one only.
    assert generations_to_read([g(a, True), g(a, True), g(b, True)]) == [0, 2]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"compress": True},
        {"compress": True, "delaycompress": True},
        {"dateext": True},
        {"dateext": True, "compress": True},
    ],
    ids=["numbered", "compress", "delaycompress", "dateext", "dateext-compress"],
)
async def test_rename_rotation_while_down(tmp_path: Path, options: dict[str, bool]) -> None:
    log = Log(tmp_path / "access.log")
    rotate = LogRotate(log.path, **options)
    store = DedupStore()
    log.write(300, "a")
    await run_until(store, tailer(store, log.path), want=100)
    assert 100 <= len(store.events) < 300
    log.write(50, "a")
    rotate.rotate()
    newest = log.write(120, "b")
    await run_until(store, tailer(store, log.path), want=len(log.written))
    assert_exactly_once(store, log.written)
    # The old file's rest comes before anything of the new file.
    first_new = store.order.index(newest[0])
    assert all(b"/aitem/" in line for line in store.order[:first_new])


async def test_two_rotations_while_down_are_read_in_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = Log(tmp_path / "access.log")
    rotate = LogRotate(log.path, compress=True, delaycompress=True)
    store = DedupStore()
    log.write(200, "a")
    await run_until(store, tailer(store, log.path), want=64)
    log.write(40, "a")
    rotate.rotate()  # access.log.1 (plain, delaycompress)
    log.write(150, "b")
    rotate.rotate()  # the first becomes access.log.2.gz, the second access.log.1
    log.write(90, "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "access.log",
        "access.log.1",
        "access.log.2.gz",
    ]
    caplog.set_level(logging.INFO, logger="vigil.sources.tailer")
    tail = tailer(store, log.path)
    await run_until(store, tail, want=len(log.written))
    assert_exactly_once(store, log.written)
    labels = [line.split(b"GET /")[1][:1] for line in store.order]
    assert labels == sorted(labels), "generations read out of order"
    assert tail.stats.recovered_files == 2
    recovered = [r.getMessage() for r in caplog.records if "recovered rotated" in r.getMessage()]
    assert len(recovered) == 2
    assert "access.log.2.gz" in recovered[0] and "access.log.1 " in recovered[1]

    # Once: a further restart reads nothing from the rotated files again.
    before = dict(store.events)
    log.write(5, "c")
    again = tailer(store, log.path)
    await run_until(store, again, want=len(log.written))
    assert again.stats.recovered_files == 0
    assert_exactly_once(store, log.written)
    assert set(before) <= set(store.events)


async def test_short_stream_found_in_its_compressed_rotation(tmp_path: Path) -> None:
    # Its identity covers fewer bytes than the usual fingerprint: still recognised in the .gz.
    log = Log(tmp_path / "access.log")
    store = DedupStore()
    log.write(2)
    await run_until(store, tailer(store, log.path), want=2)
    log.write(3)
    LogRotate(log.path, compress=True).rotate()
    log.write(4)
    assert (tmp_path / "access.log.1.gz").exists()
    await run_until(store, tailer(store, log.path), want=len(log.written))
    assert_exactly_once(store, log.written)


async def test_copytruncate_while_down_reads_the_copy_and_names_the_gap(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = Log(tmp_path / "access.log")
    store = DedupStore()
    log.write(200, "a")
    await run_until(store, tailer(store, log.path), want=80)
    lost: list[bytes] = []
    # Lines written between the copy and the truncate are in neither file.
    LogRotate(log.path, mode="copytruncate").rotate(lambda: lost.extend(log.write(7, "a")))
    log.write(60, "b")
    caplog.set_level(logging.INFO, logger="vigil.sources.tailer")
    tail = tailer(store, log.path)
    await run_until(store, tail, want=len(log.written) - len(lost))
    assert_exactly_once(store, [line for line in log.written if line not in lost])
    gap = [r.getMessage() for r in caplog.records if "unrecoverable range" in r.getMessage()]
    copy_size = (tmp_path / "access.log.1").stat().st_size
    assert len(gap) == 1 and f"from={copy_size} " in gap[0]
    assert [offset for _id, offset in tail.stats.unrecoverable] == [copy_size]
    recovered = [r.getMessage() for r in caplog.records if "recovered rotated" in r.getMessage()]
    assert len(recovered) == 1 and "access.log.1 " in recovered[0]
    first = int(recovered[0].split("range=")[1].split("-")[0])
    assert f"bytes={copy_size - first} " in recovered[0]


async def test_copytruncate_while_down_after_the_copy_was_read_still_names_the_gap(
    tmp_path: Path,
) -> None:
    # Everything the copy holds had been stored: nothing to read from it, but the lines
    # written between the copy and the truncate are lost all the same, and said so.
    log = Log(tmp_path / "access.log")
    store = DedupStore()
    log.write(100, "a")
    await run_until(store, tailer(store, log.path), want=100)
    lost: list[bytes] = []
    LogRotate(log.path, mode="copytruncate").rotate(lambda: lost.extend(log.write(5, "a")))
    log.write(30, "b")
    tail = tailer(store, log.path)
    await run_until(store, tail, want=len(log.written) - len(lost))
    assert_exactly_once(store, [line for line in log.written if line not in lost])
    copy_size = (tmp_path / "access.log.1").stat().st_size
    assert [offset for _id, offset in tail.stats.unrecoverable] == [copy_size]
    assert tail.stats.recovered_files == 0


async def test_two_copytruncates_while_down_name_both_gaps(tmp_path: Path) -> None:
    log = Log(tmp_path / "access.log")
    rotate = LogRotate(log.path, mode="copytruncate")
    store = DedupStore()
    log.write(120, "a")
    await run_until(store, tailer(store, log.path), want=40)
    lost: list[bytes] = []
    rotate.rotate(lambda: lost.extend(log.write(4, "a")))  # copy of the first: later .2
    log.write(70, "b")
    rotate.rotate(lambda: lost.extend(log.write(6, "b")))  # copy of the second: .1
    log.write(30, "c")
    tail = tailer(store, log.path)
    await run_until(store, tail, want=len(log.written) - len(lost))
    assert_exactly_once(store, [line for line in log.written if line not in lost])
    sizes = [(tmp_path / name).stat().st_size for name in ("access.log.2", "access.log.1")]
    assert [offset for _id, offset in tail.stats.unrecoverable] == sizes
    assert tail.stats.recovered_files == 2


async def test_rename_rotations_while_down_report_no_gap(tmp_path: Path) -> None:
    log = Log(tmp_path / "access.log")
    rotate = LogRotate(log.path, compress=True, delaycompress=True)
    store = DedupStore()
    log.write(50, "a")
    await run_until(store, tailer(store, log.path), want=50)
    for _ in range(3):
        rotate.rotate()
        log.write(20, "b")
    tail = tailer(store, log.path)
    await run_until(store, tail, want=len(log.written))
    assert_exactly_once(store, log.written)
    assert tail.stats.unrecoverable == []


async def test_copytruncate_while_running_reads_the_unwatched_copy(tmp_path: Path) -> None:
    log = Log(tmp_path / "access.log")
    store = DedupStore()
    log.write(400, "a")
    tail = FileTailer(
        [log.path],
        source=SOURCE,
        checkpoints=store.checkpoints,
        batch_size=8,
        read_chunk_bytes=1024,
        **FAST,
    )
    batches = tail.batches()
    # The reader is behind: it has handed out only part of the file when it is truncated.
    for _ in range(5):
        store.commit(await asyncio.wait_for(anext(batches), 10))
    LogRotate(log.path, mode="copytruncate").rotate()
    log.write(50, "b")
    try:
        while len(store.events) < len(log.written):
            store.commit(await asyncio.wait_for(anext(batches), 10))
    finally:
        await tail.stop()
        await batches.aclose()
    assert_exactly_once(store, log.written)
    assert tail.stats.truncations == 1 and tail.stats.recovered_files == 1
    # The copy was made when the file was whole: it ends where the original was truncated.
    copy_size = (tmp_path / "access.log.1").stat().st_size
    assert [offset for _id, offset in tail.stats.unrecoverable] == [copy_size]


async def test_rotated_history_from_before_is_left_alone(tmp_path: Path) -> None:
    # Rotated files that no run followed are not a backlog to read at start.
    log = Log(tmp_path / "access.log")
    old = Log(tmp_path / "access.log.1")
    old.write(30, "old")
    gzip_in_place(old.path)
    store = DedupStore()
    log.write(20, "a")
    await run_until(store, tailer(store, log.path), want=10)
    log.write(5, "a")
    tail = tailer(store, log.path)
    await run_until(store, tail, want=len(log.written))
    assert_exactly_once(store, log.written)
    assert tail.stats.recovered_files == 0


@pytest.mark.parametrize("seed", range(30))
async def test_crashes_and_rotations_watching_the_plain_path(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    log = Log(tmp_path / "access.log")
    rotate = LogRotate(
        log.path,
        mode=rng.choice(["rename", "rename", "copytruncate"]),
        compress=rng.random() < 0.7,
        delaycompress=rng.random() < 0.5,
        dateext=rng.random() < 0.3,
    )
    store = DedupStore()
    runs: list[FileTailer] = []
    log.write(rng.randint(20, 200))
    for run in range(rng.randint(2, 5)):
        # The first run stores something: without any checkpoint nothing tells the rotated
        # files vigil followed from history that was there before it.
        commit = rng.randint(1 if run == 0 else 0, 12)
        runs.append(tailer(store, log.path))
        await run_until(store, runs[-1], want=10**9, commit=commit)
        for _ in range(rng.choice([0, 1, 1, 2])):
            log.write(rng.randint(0, 80))
            rotate.rotate()
            log.write(rng.randint(20, 80))
    runs.append(tailer(store, log.path))
    await run_until(store, runs[-1], want=len(log.written))
    assert_exactly_once(store, log.written)
    if rotate.mode == "rename":
        # Nothing is lost in rename rotation, so no run may claim a gap.
        assert [gap for run in runs for gap in run.stats.unrecoverable] == []
