"""A brute force split across a restart of the pipeline is still detected: behaviour windows
are snapshotted by the running pipeline and restored by the next one."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_settings
from vigil.batch import LineBatch, ScoredBatch
from vigil.pipeline.analyze import Analyzer
from vigil.pipeline.runner import Pipeline

UA = "python-requests/2.31"


def _attempts(start: int, count: int) -> list[bytes]:
    return [
        (
            f"203.0.113.66 - - [10/Oct/2026:15:00:{(start + i) % 60:02d} +0000] "
            f'"POST /login HTTP/1.1" 401 120 "-" "{UA}"'
        ).encode()
        for i in range(count)
    ]


def _batch(lines: list[bytes], first_offset: int) -> LineBatch:
    offsets = [first_offset + i * 200 for i in range(len(lines))]
    return LineBatch("auth.log", "f1", lines, offsets, offsets[-1] + 200)


async def _run(settings_path: Path, snapshot: Path, lines: list[bytes], offset: int) -> list[str]:
    settings = make_settings(f"sqlite+aiosqlite:///{settings_path}", detection_mode="rules")
    fired: list[str] = []

    def collect(batch: ScoredBatch) -> None:
        fired.extend(t.categories[0] for t in batch.threats if t.detection_mode == "behaviour")

    pipeline = Pipeline(
        settings, analyzer=Analyzer(settings), on_scored=collect, snapshot_path=snapshot
    )
    await pipeline.start()
    await pipeline.submit(_batch(lines, offset))
    await pipeline.stop()
    return fired


async def test_attack_across_restart_is_detected(tmp_path: Path) -> None:
    snapshot = tmp_path / "behaviour.state"
    db = tmp_path / "unused.db"
    first = await _run(db, snapshot, _attempts(0, 6), 0)
    assert first == []
    assert snapshot.exists()
    second = await _run(db, snapshot, _attempts(6, 6), 10_000)
    assert second == ["behaviour:bruteforce"]


async def test_without_the_snapshot_the_second_half_alone_is_below_threshold(
    tmp_path: Path,
) -> None:
    fired = await _run(tmp_path / "unused.db", tmp_path / "fresh.state", _attempts(6, 6), 10_000)
    assert fired == []
