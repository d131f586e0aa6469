"""`vigil scan` and `vigil serve` are two drivers of one pipeline: for the same log and the same
stored controls (an allowlisted client and a rule exclusion, added through the services the API
uses) they store the same events, and `vigil scan --no-store` flags the same lines.

Each command runs as a user runs it, in its own process, against its own database.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.conftest import make_settings
from tests.support.processes import terminate
from vigil.db.models import IngestCheckpoint, ThreatEvent
from vigil.db.session import close_db, configure_db, get_db_context
from vigil.services import allowlist
from vigil.simulate.mix import mixed_lines

LINES = 4000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(database: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        VIGIL_STATE_DIR=str(tmp_path / f"state-{database.stem}"),
        VIGIL_LOG_LEVEL="WARNING",
        # The generated log is dated 2024: serve's pruning would remove what it stored.
        VIGIL_RETENTION_DAYS="0",
        **extra,
    )
    return env


def _vigil(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )


async def _with_db(database: Path, work: Any) -> Any:
    configure_db(make_settings(f"sqlite+aiosqlite:///{database}"))
    try:
        async with get_db_context() as session:
            return await work(session)
    finally:
        await close_db()
        configure_db(None)


def _controls(log: Path, tmp_path: Path) -> tuple[str, str, str]:
    """An attacking client to allowlist, and a (rule, path) of another client to exclude,
    chosen from what a scan of the log finds without them."""
    found = _vigil(
        _env(tmp_path / "probe.db", tmp_path), "scan", str(log), "--no-store", "-o", "jsonl"
    )
    threats = [json.loads(line) for line in found.stdout.splitlines() if line.startswith("{")]
    by_ip = Counter(t["client_ip"] for t in threats if t["rules"])
    allowed_ip = by_ip.most_common(1)[0][0]
    rule_path = Counter(
        (rule, t["path"]) for t in threats if t["client_ip"] != allowed_ip for rule in t["rules"]
    )
    (rule, path), _ = rule_path.most_common(1)[0]
    return allowed_ip, rule, path


async def _store_controls(
    database: Path, env: dict[str, str], controls: tuple[str, str, str]
) -> None:
    allowed_ip, rule, path = controls
    _vigil(env, "db", "upgrade")

    async def add(session: Any) -> None:
        await allowlist.add_allowlist(
            session, site=None, kind="ip", value=allowed_ip, reason="ours",
            expires_at=None, created_by="test",
        )  # fmt: skip
        await allowlist.add_exclusion(
            session, site=None, rule_id=rule, path_prefix=path, path_regex=None,
            argument=None, reason="known false positive", created_by="test",
        )  # fmt: skip

    await _with_db(database, add)


async def _events(database: Path) -> Counter[tuple[Any, ...]]:
    """The stored events, by what they say (their keys differ: each driver names its source)."""

    async def read(session: Any) -> Counter[tuple[Any, ...]]:
        rows = await session.execute(
            select(
                ThreatEvent.client_ip,
                ThreatEvent.observed_at,
                ThreatEvent.method,
                ThreatEvent.path,
                ThreatEvent.query,
                ThreatEvent.score,
                ThreatEvent.severity,
                ThreatEvent.detection_mode,
                ThreatEvent.categories,
            )
        )
        return Counter((*row[:8], tuple(sorted(row.categories or []))) for row in rows)

    events: Counter[tuple[Any, ...]] = await _with_db(database, read)
    return events


async def _checkpoint(database: Path) -> int:
    async def read(session: Any) -> int:
        offsets = await session.scalars(select(IngestCheckpoint.byte_offset))
        return max(offsets, default=0)

    offset: int = await _with_db(database, read)
    return offset


async def _serve_until_stored(env: dict[str, str], database: Path, log: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "vigil", "serve"],
        env={**env, "VIGIL_LOG_PATHS": str(log), "VIGIL_PORT": str(_free_port())},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        size = log.stat().st_size
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and await _checkpoint(database) < size:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            await asyncio.sleep(0.25)
        assert await _checkpoint(database) == size, "serve did not store the whole log in time"
    finally:
        terminate(server, timeout=60)


async def test_scan_and_serve_store_the_same_events_under_the_same_stored_controls(
    tmp_path: Path,
) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(f"{line}\n" for line, _label in mixed_lines(LINES, seed=11)))
    controls = _controls(log, tmp_path)
    allowed_ip, rule, path = controls

    scan_db, serve_db = tmp_path / "scan.db", tmp_path / "serve.db"
    scan_env, serve_env = _env(scan_db, tmp_path), _env(serve_db, tmp_path)
    await _store_controls(scan_db, scan_env, controls)
    await _store_controls(serve_db, serve_env, controls)

    _vigil(scan_env, "scan", str(log))
    await _serve_until_stored(serve_env, serve_db, log)
    scanned, served = await _events(scan_db), await _events(serve_db)

    assert scanned, "the log must give events"
    assert any(detection_mode == "behaviour" for (*_, detection_mode, _c) in scanned)
    assert served == scanned
    # The stored controls were in force in both: no event about the allowlisted client (neither
    # a request verdict nor a behaviour event), and the excluded rule never fires on its path.
    assert not [e for e in scanned if e[0] == allowed_ip]

    # The same controls reach `vigil scan --no-store`: it flags the lines scan stored.
    listed = _vigil(scan_env, "scan", str(log), "--no-store", "-o", "jsonl").stdout.splitlines()
    threats = [json.loads(line) for line in listed if line.startswith("{")]
    requests = [t for t in threats if not all(r.startswith("behaviour:") for r in t["rules"])]
    assert not [t for t in threats if t["client_ip"] == allowed_ip]
    assert not [t for t in threats if t["path"] == path and t["rules"] == [rule]]
    stored_requests = Counter(
        (ip, method, p, q, score, severity)
        for (ip, _at, method, p, q, score, severity, mode, _c), n in scanned.items()
        for _ in range(n)
        if mode != "behaviour"
    )
    listed_requests = Counter(
        (t["client_ip"], t["method"], t["path"], t["query"], t["score"], t["severity"])
        for t in requests
    )
    assert listed_requests == stored_requests
