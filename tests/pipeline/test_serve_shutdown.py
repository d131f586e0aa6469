"""SIGTERM stops `vigil serve` gracefully: what was read is stored, the process exits 0 within
VIGIL_SHUTDOWN_TIMEOUT, and the checkpoint sits exactly after the last stored line, so a
restart reads the rest once. A second SIGTERM stops at once (exit 1), losing nothing either."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.support.processes import terminate
from tests.support.serve_runs import (
    attack_line,
    checkpoints,
    serve_env,
    start_serve,
    stored_tokens,
    upgrade,
    wait_for_line,
)
from vigil.db.session import close_db, configure_db

SHUTDOWN_TIMEOUT = 8.0
EXIT_SLACK = 3.0
"""Seconds allowed beyond the timeout for the interpreter to exit."""


class Writer:
    """Appends numbered attack lines to a log, optionally from a thread at a steady rate."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ends: list[int] = []
        """ends[n]: the byte offset just after line n."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def write(self, count: int) -> None:
        with self._lock, self.path.open("ab") as out:
            size = self.ends[-1] if self.ends else 0
            chunk = []
            for _ in range(count):
                line = attack_line(len(self.ends))
                size += len(line)
                self.ends.append(size)
                chunk.append(line)
            out.write(b"".join(chunk))

    @contextmanager
    def steady(self, per_second: int) -> Iterator[None]:
        def run() -> None:
            while not self._stop.wait(0.1):
                self.write(per_second // 10)

        self._stop.clear()
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        try:
            yield
        finally:
            self._stop.set()
            self._thread.join()


@asynccontextmanager
async def database(database_url: str) -> AsyncIterator[None]:
    configure_db(make_settings(database_url))
    try:
        yield
    finally:
        await close_db()
        configure_db(None)


async def _stored_prefix(writer: Writer) -> int:
    """Checks that what is stored is exactly the lines before the checkpoint, each once, and
    returns how many lines that is."""
    stored = await stored_tokens()
    offsets = list((await checkpoints()).values())
    assert len(offsets) <= 1, f"one file, one identity: {offsets}"
    checkpoint = offsets[0] if offsets else 0
    assert checkpoint == 0 or checkpoint in writer.ends, "checkpoint inside a line"
    lines = writer.ends.index(checkpoint) + 1 if checkpoint else 0
    doubled = [n for n, count in stored.items() if count > 1]
    assert not doubled, f"{len(doubled)} lines stored twice, e.g. {doubled[:3]}"
    assert set(stored) == set(range(lines)), (
        f"stored {len(stored)} lines, the checkpoint says {lines}"
    )
    return lines


async def _wait_all_stored(writer: Writer, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if max((await checkpoints()).values(), default=0) == writer.ends[-1]:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"not everything stored within {limit} s")


def _sigterm(process: subprocess.Popen[bytes], *, twice_after: float | None = None) -> float:
    """Sends SIGTERM (and another one `twice_after` seconds later); returns the seconds until
    the process exited."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    if twice_after is not None:
        time.sleep(twice_after)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    process.wait(timeout=SHUTDOWN_TIMEOUT + 30)
    return time.monotonic() - started


async def test_sigterm_under_load_stores_what_was_read_and_a_restart_reads_the_rest_once(
    database_url: str, tmp_path: Path
) -> None:
    log_path = tmp_path / "access.log"
    output = tmp_path / "serve.log"
    env = serve_env(
        database_url,
        log_path,
        # At most a few thousand lines in flight: their drain fits the timeout even on a
        # loaded machine, where the embedded database stores a thousand events a second.
        VIGIL_BATCH_SIZE="200",
        VIGIL_QUEUE_SIZE="2",
        VIGIL_SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT),
    )
    upgrade(env, tmp_path)
    writer = Writer(log_path)
    writer.write(8_000)  # a backlog, so the queues are full when the signal comes
    server = start_serve(env, tmp_path, output)
    try:
        with writer.steady(2_000):
            wait_for_line(output, "event=api_started", server, 120)
            await asyncio.sleep(1.5)
            seconds = _sigterm(server)
        log = output.read_text()
        assert server.returncode == 0, log[-3000:]
        assert seconds < SHUTDOWN_TIMEOUT + EXIT_SLACK
        assert "event=shutdown drained=True" in log

        async with database(database_url):
            stored_first = await _stored_prefix(writer)
            assert stored_first > 0

            server = start_serve(env, tmp_path, output)
            await _wait_all_stored(writer, 600)
            assert _sigterm(server) < SHUTDOWN_TIMEOUT + EXIT_SLACK
            assert server.returncode == 0
            assert await _stored_prefix(writer) == len(writer.ends)
    finally:
        terminate(server)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_second_sigterm_stops_at_once_and_loses_nothing(
    database_url: str, tmp_path: Path
) -> None:
    log_path = tmp_path / "access.log"
    output = tmp_path / "serve.log"
    env = serve_env(database_url, log_path, VIGIL_SHUTDOWN_TIMEOUT="600")
    upgrade(env, tmp_path)
    writer = Writer(log_path)
    writer.write(20_000)
    server = start_serve(env, tmp_path, output)
    try:
        wait_for_line(output, "event=api_started", server, 120)
        await asyncio.sleep(1.0)
        seconds = _sigterm(server, twice_after=0.3)
        log = output.read_text()
        assert "event=shutdown_forced" in log, log[-3000:]
        assert server.returncode == 1
        # At once: far sooner than the drain of a full pipeline would allow under the timeout.
        assert seconds < 5

        async with database(database_url):
            stored_first = await _stored_prefix(writer)
            assert stored_first < len(writer.ends), "the forced stop left nothing to read again"
            server = start_serve(env, tmp_path, output)
            await _wait_all_stored(writer, 600)
            _sigterm(server)
            assert server.returncode == 0
            assert await _stored_prefix(writer) == len(writer.ends)
    finally:
        terminate(server)
