"""Kill `vigil serve` with SIGKILL mid-stream, several times, while a writer appends; restart it
each time. The stored events must equal the expected set: no gaps, no duplicates."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from tests.conftest import make_settings
from tests.support.processes import terminate
from vigil.batch import event_key
from vigil.db.models import IngestCheckpoint, ThreatEvent
from vigil.db.session import close_db, configure_db, get_db_context
from vigil.pipeline.analyze import Analyzer
from vigil.sources.files import LineReader

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
REQUESTS = [
    "GET /index.html HTTP/1.1",
    "GET /static/site.css HTTP/1.1",
    "GET /item.php?id=1%27%20UNION%20SELECT%20password%20FROM%20users-- HTTP/1.1",
    "GET /products?page=3 HTTP/1.1",
    "GET /view?file=..%2F..%2F..%2Fetc%2Fpasswd HTTP/1.1",
    "GET /q?s=%3Csvg%2Fonload%3Dalert(1)%3E HTTP/1.1",
]


def _line(n: int) -> str:
    minute, second = divmod(n % 3600, 60)
    return (
        f"198.51.{n % 200}.{n % 250 + 1} - - [10/Oct/2026:14:{minute:02d}:{second:02d} +0000] "
        f'"{REQUESTS[n % len(REQUESTS)]}" 200 {n % 900 + 100} "-" "{UA}"\n'
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "vigil", "serve"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _checkpoints() -> list[tuple[str, str, int]]:
    async with get_db_context() as session:
        rows = await session.execute(
            select(IngestCheckpoint.source, IngestCheckpoint.file_id, IngestCheckpoint.byte_offset)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def _checkpoint() -> int:
    return max((offset for _s, _f, offset in await _checkpoints()), default=0)


async def test_sigkill_and_restart_lose_and_double_nothing(
    database_url: str, tmp_path: Path
) -> None:
    log_path = tmp_path / "access.log"
    log_path.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_DATABASE_URL=database_url,
        VIGIL_LOG_PATHS=str(log_path),
        VIGIL_PORT=str(_free_port()),
        VIGIL_DETECTION_MODE="rules",
        VIGIL_BATCH_SIZE="50",
        VIGIL_LOG_LEVEL="WARNING",
    )
    subprocess.run(
        [sys.executable, "-m", "vigil", "db", "upgrade"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    rng = random.Random(5)
    written = 0
    server = _start(env, tmp_path)
    try:
        with log_path.open("a") as out:
            for _round in range(4):
                deadline = time.monotonic() + rng.uniform(1.5, 3.0)
                while time.monotonic() < deadline:
                    out.write("".join(_line(written + i) for i in range(40)))
                    out.flush()
                    written += 40
                    await asyncio.sleep(0.02)
                server.send_signal(signal.SIGKILL)
                server.wait()
                server = _start(env, tmp_path)
            for i in range(200):
                out.write(_line(written + i))
            written += 200
        size = log_path.stat().st_size
        settings = make_settings(database_url)
        configure_db(settings)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and await _checkpoint() < size:
            await asyncio.sleep(0.25)
        checkpoints = await _checkpoints()
        assert len(checkpoints) == 1, f"one file, one identity: {checkpoints}"
        assert checkpoints[0][2] == size
    finally:
        terminate(server)

    try:
        async with get_db_context() as session:
            rows = list(
                await session.execute(
                    select(ThreatEvent.event_key).where(ThreatEvent.detection_mode != "behaviour")
                )
            )
            source, file_id = (
                await session.execute(select(IngestCheckpoint.source, IngestCheckpoint.file_id))
            ).one()
    finally:
        await close_db()
        configure_db(None)
    stored = [r.event_key for r in rows]

    # What a single uninterrupted pass over the same file flags, keyed by the same origins.
    analyzer = Analyzer(make_settings(database_url, detection_mode="rules"))
    expected: set[str] = set()
    for batch in LineReader(log_path):
        for threat in analyzer.analyze(batch).threats:
            if threat.detection_mode != "behaviour":
                expected.add(event_key(source, file_id, threat.record.offset))
    assert written > 500
    assert expected, "the log must contain attacks"
    assert len(stored) == len(set(stored)), "an event was stored twice"
    assert set(stored) == expected
