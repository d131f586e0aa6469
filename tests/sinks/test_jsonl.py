"""The JSON-lines file sink, built by the pipeline from its config section alone."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import make_settings
from vigil.batch import LineBatch, ScoredBatch
from vigil.config import JsonlSinkSection, load_settings
from vigil.db import migrate
from vigil.db.models import ThreatEvent
from vigil.db.session import get_db_context
from vigil.errors import ConfigError
from vigil.pipeline.assembly import configured_sinks, open_pipeline
from vigil.sinks.jsonl import JsonlSink

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
REQUESTS = [
    "GET /index.html HTTP/1.1",
    "GET /item.php?id=1%27%20UNION%20SELECT%20password%20FROM%20users-- HTTP/1.1",
    "GET /view?file=..%2F..%2F..%2Fetc%2Fpasswd HTTP/1.1",
    "GET /products?page=3 HTTP/1.1",
]


def _batch() -> LineBatch:
    lines = [
        (
            f"198.51.100.{n % 7 + 1} - - [10/Oct/2026:14:00:{n % 60:02d} +0000] "
            f'"{REQUESTS[n % len(REQUESTS)]}" 200 512 "-" "{UA}"'
        ).encode()
        for n in range(40)
    ]
    offsets = [n * 200 for n in range(len(lines))]
    return LineBatch("web.log", "f1", lines, offsets, offsets[-1] + 200)


def test_the_section_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_JSONL_SINK__PATH", "/var/log/vigil/events.jsonl")
    settings = load_settings()
    assert settings.jsonl_sink == JsonlSinkSection(path=Path("/var/log/vigil/events.jsonl"))
    assert settings.redacted()["jsonl_sink__path"] == "/var/log/vigil/events.jsonl"
    sinks = configured_sinks(settings, store=False)
    assert [type(s) for s in sinks] == [JsonlSink]
    monkeypatch.setenv("VIGIL_JSONL_SINK__COLOUR", "blue")
    with pytest.raises(ConfigError, match="VIGIL_JSONL_SINK__COLOUR"):
        load_settings()


def test_without_its_section_there_is_no_such_sink(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert not settings.jsonl_sink.enabled
    assert configured_sinks(settings, store=False) == []


async def test_without_a_store_each_threat_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "out" / "threats.jsonl"
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'absent.db'}",
        detection_mode="rules",
        jsonl_sink={"path": out},
    )
    scored: list[ScoredBatch] = []
    async with open_pipeline(settings, store=False, on_scored=scored.append) as pipeline:
        await pipeline.submit(_batch())
    threats = [t for batch in scored for t in batch.threats]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert threats, "the batch must hold attacks"
    assert lines == [json.loads(json.dumps(t.to_dict())) for t in threats]
    assert not (tmp_path / "absent.db").exists(), "a scan that stores nothing made a database"


async def test_behind_the_store_each_stored_event_is_one_line_with_its_id(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'vigil.db'}",
        detection_mode="rules",
        jsonl_sink={"path": out},
    )
    await asyncio.to_thread(migrate.upgrade, "head", settings)
    async with open_pipeline(settings) as pipeline:
        await pipeline.submit(_batch())
        await pipeline.stop()
        async with get_db_context() as session:
            stored = {row.id: row.event_key for row in await session.scalars(select(ThreatEvent))}
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert stored
    assert {line["id"] for line in lines} == set(stored)
    assert all(line["incident_id"] for line in lines)
    # A replay of the same lines stores nothing new, so the file gets nothing new either.
    async with open_pipeline(settings) as pipeline:
        await pipeline.submit(_batch())
    assert len(out.read_text().splitlines()) == len(lines)


def test_vigil_scan_writes_the_file_its_environment_names(tmp_path: Path) -> None:
    # The sink as an operator enables it: one variable, then `vigil scan` as a user runs it.
    log = tmp_path / "access.log"
    log.write_bytes(b"\n".join(_batch().lines) + b"\n")
    out = tmp_path / "exports" / "events.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update({"VIGIL_JSONL_SINK__PATH": str(out), "VIGIL_DETECTION_MODE": "rules"})
    result = subprocess.run(
        [sys.executable, "-m", "vigil", "scan", str(log), "-o", "json"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines and len(lines) == summary["stored_events"]
    assert all(line["id"] and line["event_key"] for line in lines)
    with sqlite3.connect(tmp_path / "vigil.db") as db:
        stored = {row[0] for row in db.execute("SELECT event_key FROM threat_events")}
    assert {line["event_key"] for line in lines} == stored
