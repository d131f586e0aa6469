"""Running `vigil serve` as its own process over a log of uniquely numbered attacks, and
counting what it stored, for the shutdown and restart tests and the restart benchmark.

Every line is a SQL injection carrying a number of its own (`t=00000042` in the query), so
each line becomes exactly one rules event and the stored events say, by number, which lines
were stored and how often: a line read twice under two different file ids (which no event key
would catch) shows up as a number stored twice.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from vigil.db.models import IngestCheckpoint, ThreatEvent
from vigil.db.session import get_db_context

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
TOKEN = re.compile(r"t=(\d{8})")


def attack_line(n: int, when: datetime | None = None) -> bytes:
    """Line number `n`: one SQL injection from one of 64 addresses, dated `when` (now).

    A few clients attacking hard, as in a scan: each batch then updates their incidents
    rather than opening thousands of new ones, so the store keeps pace with a fast writer."""
    stamp = (when or datetime.now(UTC)).strftime("%d/%b/%Y:%H:%M:%S +0000")
    ip = f"10.0.{n % 64 // 8}.{n % 8 + 1}"
    request = f"GET /item.php?id=1%27%20UNION%20SELECT%20password%20FROM%20users--&t={n:08d}"
    return f'{ip} - - [{stamp}] "{request} HTTP/1.1" 200 512 "-" "{UA}"\n'.encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_env(database_url: str, log_path: Path, **overrides: str) -> dict[str, str]:
    """The environment of a `vigil serve` tailing `log_path` into `database_url` (rules only,
    no pruning, behaviour windows on as shipped)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_DATABASE_URL=database_url,
        VIGIL_LOG_PATHS=str(log_path),
        VIGIL_PORT=str(free_port()),
        VIGIL_DETECTION_MODE="rules",
        VIGIL_LOG_LEVEL="INFO",
        VIGIL_RETENTION_DAYS="0",
        VIGIL_STATE_DIR=str(log_path.parent / "state"),
    )
    env.update(overrides)
    return env


def upgrade(env: dict[str, str], cwd: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "vigil", "db", "upgrade"],
        env=env,
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def start_serve(env: dict[str, str], cwd: Path, log_file: Path) -> subprocess.Popen[bytes]:
    """`vigil serve` with its log lines appended to `log_file`."""
    with log_file.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "vigil", "serve"],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


def wait_for_line(
    log_file: Path, text: str, process: subprocess.Popen[bytes], limit: float
) -> None:
    """Waits until `text` appears in `log_file` (the process must stay up meanwhile)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if text in log_file.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise AssertionError(f"vigil serve exited ({process.returncode}) before {text!r}")
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not logged within {limit} s")


async def stored_tokens() -> Counter[int]:
    """How many times each line number was stored as an event (behaviour events aside)."""
    async with get_db_context() as session:
        rows = await session.execute(
            select(ThreatEvent.query).where(ThreatEvent.detection_mode != "behaviour")
        )
        found: Counter[int] = Counter()
        for (query,) in rows:
            match = TOKEN.search(query or "")
            if match:
                found[int(match.group(1))] += 1
        return found


async def stored_count() -> int:
    """How many events were stored (behaviour events aside): a cheap progress measure."""
    async with get_db_context() as session:
        result = await session.execute(
            select(func.count())
            .select_from(ThreatEvent)
            .where(ThreatEvent.detection_mode != "behaviour")
        )
        return int(result.scalar_one())


async def checkpoints() -> dict[str, int]:
    """file_id -> stored offset."""
    async with get_db_context() as session:
        rows = await session.execute(select(IngestCheckpoint.file_id, IngestCheckpoint.byte_offset))
        return {file_id: offset for file_id, offset in rows}
