"""A brute force split across a restart of the pipeline is still detected: behaviour windows
are snapshotted by the running pipeline and restored by the next one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_settings
from vigil.batch import LineBatch, ScoredBatch
from vigil.pipeline.assembly import SNAPSHOT_FILE, open_pipeline

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


async def _run(
    settings_path: Path, state_dir: Path, lines: list[bytes], offset: int, helper: bool = False
) -> list[str]:
    settings = make_settings(
        f"sqlite+aiosqlite:///{settings_path}",
        detection_mode="rules",
        state_dir=state_dir,
        helper_process=helper,
    )
    fired: list[str] = []

    def collect(batch: ScoredBatch) -> None:
        fired.extend(t.categories[0] for t in batch.threats if t.detection_mode == "behaviour")

    async with open_pipeline(settings, store=False, snapshots=True, on_scored=collect) as pipe:
        assert (pipe.analyzer.helper is not None) == helper
        await pipe.submit(_batch(lines, offset))
    return fired


@pytest.mark.parametrize("helper", [False, True], ids=["one-process", "helper-process"])
async def test_attack_across_restart_is_detected(tmp_path: Path, helper: bool) -> None:
    # With a helper process, the windows live there: the snapshot is taken from it and
    # restored into it.
    db = tmp_path / "unused.db"
    first = await _run(db, tmp_path, _attempts(0, 6), 0, helper)
    assert first == []
    assert (tmp_path / SNAPSHOT_FILE).exists()
    second = await _run(db, tmp_path, _attempts(6, 6), 10_000, helper)
    assert second == ["behaviour:bruteforce"]


async def test_without_the_snapshot_the_second_half_alone_is_below_threshold(
    tmp_path: Path,
) -> None:
    fired = await _run(tmp_path / "unused.db", tmp_path / "fresh", _attempts(6, 6), 10_000)
    assert fired == []
