"""A bad night for `vigil serve`, as one scenario for the restart test and benchmark.

`vigil serve` watches the plain path `access.log` while a writer appends numbered attack lines
at a steady rate; the process is killed with SIGKILL at random moments (and restarted after a
random pause), and the log is rotated, at least once while vigil is down. Afterwards every
line written must be stored exactly once, counted by the number each line carries (see
`tests.support.serve_runs`).

Two rotation modes:

- `rename`: logrotate's `create` with `compress` and `delaycompress` (the first rotation leaves
  `access.log.1`, the second turns it into `access.log.2.gz`). Nothing may be lost.
- `copytruncate` (no compression): the writer goes on writing between the copy and the
  truncate; those lines are in no file. The scenario knows exactly which bytes of which
  generation they were, and checks that vigil lost exactly those lines that lie in a range it
  reported (`unrecoverable range file_id=… from=…`), that each reported range starts at or
  after the copy's end, and that nothing outside the copy-to-truncate windows was lost.
"""

from __future__ import annotations

import asyncio
import random
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tests.support.logrotate import LogRotate
from tests.support.serve_runs import (
    attack_line,
    checkpoints,
    serve_env,
    start_serve,
    stored_count,
    stored_tokens,
    upgrade,
)
from vigil.config import Settings, load_settings
from vigil.db.session import close_db, configure_db
from vigil.sources.identity import FINGERPRINT_BYTES, FileIdentity

Mode = Literal["rename", "copytruncate"]
GAP_LINE = re.compile(r"unrecoverable range file_id=(\S+) from=(\d+)")
COPY_WINDOW_SECONDS = 0.15
"""How long the writer writes between copytruncate's copy and its truncate."""


@dataclass(slots=True)
class _Line:
    generation: int
    start: int
    end: int


@dataclass
class Window:
    """One copytruncate: the copy held `[0, copy_end)` of `generation`; the file had grown to
    `truncated_at` when it was truncated."""

    generation: int
    copy_end: int
    truncated_at: int
    while_down: bool


@dataclass
class Gap:
    """A range vigil reported as unrecoverable, matched to the generation it belongs to."""

    file_id: str
    start: int
    generation: int | None


@dataclass
class ScenarioResult:
    mode: Mode
    written: int
    stored_once: int
    doubled: list[int]
    missing: list[int]
    kills: int
    rotations: int
    rotations_while_down: int
    windows: list[Window] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    window_lines: int = 0
    unexplained_missing: list[int] = field(default_factory=list)
    stored_in_reported_gap: list[int] = field(default_factory=list)
    gaps_before_copy_end: list[Gap] = field(default_factory=list)
    windows_without_gap: list[Window] = field(default_factory=list)
    seconds_writing: float = 0.0
    seconds_to_catch_up: float = 0.0

    @property
    def ok(self) -> bool:
        if self.doubled:
            return False
        if self.mode == "rename":
            return not self.missing and not self.gaps
        return not (
            self.unexplained_missing
            or self.stored_in_reported_gap
            or self.gaps_before_copy_end
            or self.windows_without_gap
        )


class LogWriter:
    """Appends numbered attack lines at `rate` lines a second from a thread, remembering
    which generation of the file and which bytes each line went to."""

    def __init__(self, path: Path, rate: int) -> None:
        self.path = path
        self.rate = rate
        self.lock = threading.Lock()
        self.lines: list[_Line] = []
        self.heads: dict[int, bytes] = {0: b""}
        self.generation = 0
        self.size = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        tick = 0.05
        per_tick = max(1, round(self.rate * tick))
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.write(per_tick)
            next_at += tick
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def write(self, count: int) -> None:
        with self.lock:
            chunk = []
            for _ in range(count):
                line = attack_line(len(self.lines))
                self.lines.append(_Line(self.generation, self.size, self.size + len(line)))
                self.size += len(line)
                chunk.append(line)
            data = b"".join(chunk)
            head = self.heads[self.generation]
            if len(head) < FINGERPRINT_BYTES:
                self.heads[self.generation] = (head + data)[:FINGERPRINT_BYTES]
            with self.path.open("ab") as out:
                out.write(data)

    def _new_generation(self) -> None:
        self.generation += 1
        self.heads[self.generation] = b""
        self.size = 0

    def rename(self, rotate: LogRotate) -> None:
        with self.lock:
            rotate.rotate()
            self._new_generation()

    def copytruncate(self, rotate: LogRotate, while_down: bool) -> Window:
        copy_end = 0

        def window() -> None:
            nonlocal copy_end
            # The copy is made: let the writer go on for a moment before the truncate.
            copy_end = self.size
            self.lock.release()
            time.sleep(COPY_WINDOW_SECONDS)
            self.lock.acquire()

        with self.lock:
            generation = self.generation
            rotate.rotate(before_truncate=window)
            truncated_at = self.size
            self._new_generation()
        return Window(generation, copy_end, truncated_at, while_down)


async def run_scenario(
    workdir: Path,
    database_url: str,
    *,
    mode: Mode = "rename",
    seconds: float = 30.0,
    rate: int = 2000,
    kills: int = 3,
    rotations: int = 2,
    seed: int = 1,
    catch_up_limit: float = 600.0,
    say: Callable[[str], None] = lambda _m: None,
    env_overrides: dict[str, str] | None = None,
) -> ScenarioResult:
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "access.log"
    output = workdir / "serve.log"
    env = serve_env(database_url, log_path, **(env_overrides or {}))
    upgrade(env, workdir)
    if mode == "rename":
        rotate = LogRotate(log_path, compress=True, delaycompress=True)
    else:
        rotate = LogRotate(log_path, mode="copytruncate")
    writer = LogWriter(log_path, rate)
    writer.write(rate // 4)  # something to read from the first moment
    # One rotation while vigil is down (after the kill `down_at`), the others while it runs
    # (before other kills: two copytruncates in one stop would leave the second copy's stream
    # unknown to every checkpoint).
    down_at = rng.randrange(kills)
    running_at = rng.sample([k for k in range(kills) if k != down_at] or [down_at], 1)
    running_at += [rng.randrange(kills) for _ in range(max(0, rotations - 2))]
    windows: list[Window] = []
    rotations_while_down = 0
    configure_db(_settings(database_url))
    server: subprocess.Popen[bytes] | None = None
    began = time.monotonic()

    def note(action: str) -> None:
        say(f"{time.monotonic() - began:6.1f}s {action}")

    def rotate_now() -> None:
        nonlocal rotations_while_down
        rotations_while_down += server is None
        if mode == "rename":
            writer.rename(rotate)
        else:
            windows.append(writer.copytruncate(rotate, while_down=server is None))
        note("rotate" + (" (vigil down)" if server is None else ""))

    try:
        server = start_serve(env, workdir, output)
        writer.start()
        for k in range(kills):
            # Killed at a random moment once this run is at work (it has stored a batch):
            # a process killed before it ever stored anything leaves no checkpoint to say
            # which rotated files it was following.
            await _until_working(server, say)
            for _ in range(running_at.count(k)):
                await asyncio.sleep(rng.uniform(0.2, 1.0))
                rotate_now()
                await _until_working(server, say)
            await asyncio.sleep(rng.uniform(0.1, 1.5))
            server.send_signal(signal.SIGKILL)
            server.wait()
            server = None
            note("SIGKILL")
            down = rng.uniform(1.0, 3.0)
            if k == down_at:
                await asyncio.sleep(down / 2)
                rotate_now()
                await asyncio.sleep(down / 2)
            else:
                await asyncio.sleep(down)
            server = start_serve(env, workdir, output)
            note("start")
        await asyncio.sleep(max(1.0, began + seconds - time.monotonic()))
        writer.stop()
        written_at = time.monotonic()
        note(f"writer stopped after {len(writer.lines)} lines")
        window_tokens = {
            n
            for n, line in enumerate(writer.lines)
            for w in windows
            if line.generation == w.generation and line.start >= w.copy_end
        }
        expected = len(writer.lines) - len(window_tokens)
        try:
            await _wait_stored(expected, catch_up_limit, say)
            caught_up = time.monotonic()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
            note(f"SIGTERM, exit code {server.returncode}")
            stored = await stored_tokens()
        finally:
            await close_db()
            configure_db(None)
    finally:
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()
        writer.stop()
    return _judge(
        mode,
        writer,
        stored,
        windows,
        _gaps(output.read_text(errors="replace"), writer),
        kills=kills,
        rotations=rotations,
        rotations_while_down=rotations_while_down,
        seconds_writing=written_at - began,
        seconds_to_catch_up=caught_up - written_at,
    )


def _settings(database_url: str) -> Settings:
    return load_settings(database_url=database_url)


async def _until_working(process: subprocess.Popen[bytes], say: Callable[[str], None]) -> None:
    """Waits until `process` has stored a batch (a checkpoint moved since it started)."""
    before = await checkpoints()
    deadline = time.monotonic() + 300
    while await checkpoints() == before:
        if process.poll() is not None:
            raise AssertionError(f"vigil serve exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError("vigil serve stored nothing within 300 s")
        await asyncio.sleep(0.2)


async def _wait_stored(expected: int, limit: float, say: Callable[[str], None]) -> int:
    """Waits until at least `expected` events are stored and the count has settled (lines of
    a copytruncate window that vigil read in time count too), or until nothing has moved for
    three minutes. Counts rows, which is cheap: reading every event's number while the store
    writes would slow it down."""
    deadline = time.monotonic() + limit
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = await stored_count()
        now = time.monotonic()
        if count != last:
            last, last_change = count, now
            say(f"stored {count} of at least {expected}")
        settled = now - last_change
        if (count >= expected and settled >= 5) or settled > 180:
            return count
        await asyncio.sleep(2.0)
    return last


def _gaps(log_text: str, writer: LogWriter) -> list[Gap]:
    gaps = []
    seen = set()
    for file_id, start in GAP_LINE.findall(log_text):
        if (file_id, start) in seen:
            continue
        seen.add((file_id, start))
        identity = FileIdentity.parse(file_id)
        generation = next(
            (
                g
                for g, head in writer.heads.items()
                if identity is not None and identity.verifies(head)
            ),
            None,
        )
        gaps.append(Gap(file_id, int(start), generation))
    return gaps


def _judge(
    mode: Mode,
    writer: LogWriter,
    stored: Counter[int],
    windows: list[Window],
    gaps: list[Gap],
    **numbers: object,
) -> ScenarioResult:
    written = len(writer.lines)
    doubled = sorted(n for n, count in stored.items() if count > 1)
    missing = sorted(set(range(written)) - stored.keys())
    result = ScenarioResult(
        mode=mode,
        written=written,
        stored_once=sum(1 for count in stored.values() if count == 1),
        doubled=doubled,
        missing=missing,
        windows=windows,
        gaps=gaps,
        **numbers,  # type: ignore[arg-type]
    )
    by_generation = {w.generation: w for w in windows}
    result.window_lines = sum(
        1
        for line in writer.lines
        if line.generation in by_generation
        and line.start >= by_generation[line.generation].copy_end
    )
    reported: dict[int, int] = {}
    for gap in gaps:
        window = by_generation.get(gap.generation) if gap.generation is not None else None
        if window is None or gap.start < window.copy_end:
            result.gaps_before_copy_end.append(gap)
            continue
        reported[window.generation] = min(gap.start, reported.get(window.generation, gap.start))
    in_reported = {
        n
        for n, line in enumerate(writer.lines)
        if line.generation in reported
        and line.start >= reported[line.generation]
        and line.end <= by_generation[line.generation].truncated_at
    }
    result.unexplained_missing = sorted(set(missing) - in_reported)
    result.stored_in_reported_gap = sorted(in_reported & stored.keys())
    result.windows_without_gap = [
        w for w in windows if w.truncated_at > w.copy_end and w.generation not in reported
    ]
    return result


def describe(result: ScenarioResult) -> list[str]:
    """The result as report lines."""
    out = [
        f"mode={result.mode} written={result.written} stored_once={result.stored_once} "
        f"doubled={len(result.doubled)} missing={len(result.missing)} kills={result.kills} "
        f"rotations={result.rotations} (while down: {result.rotations_while_down})",
        f"writing {result.seconds_writing:.1f} s, then {result.seconds_to_catch_up:.1f} s until "
        "everything was stored",
    ]
    for w in result.windows:
        lost = [gap.start for gap in result.gaps if gap.generation == w.generation]
        when = "while down" if w.while_down else "while running"
        out.append(
            f"copytruncate of generation {w.generation} ({when}): copy ended at byte "
            f"{w.copy_end}, truncated at byte {w.truncated_at} "
            f"(window {w.truncated_at - w.copy_end} bytes); vigil reported unrecoverable from "
            f"{lost or 'nothing'} to the truncation"
        )
    if result.mode == "copytruncate":
        out.append(
            f"lines in copy-to-truncate windows: {result.window_lines}; lost: "
            f"{len(result.missing)}; lost outside a reported range: "
            f"{len(result.unexplained_missing)}; stored although inside a reported range: "
            f"{len(result.stored_in_reported_gap)}; reported ranges starting before the copy's "
            f"end: {len(result.gaps_before_copy_end)}"
        )
    out.append("RESULT: " + ("OK" if result.ok else "FAILED"))
    return out
