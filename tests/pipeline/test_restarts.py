"""The restart benchmark's scenario at a small scale (benchmarks/bench_restarts.py runs it at
2,000 lines a second): `vigil serve` watching the plain path `access.log` is killed three
times at random moments while a writer appends, and the log is rotated twice, once while vigil
is down. Rename rotation (with delayed compression to .gz): every line stored exactly once.
copytruncate: exactly the lines in the ranges vigil reports as unrecoverable are missing, and
those ranges lie in the copy-to-truncate windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.restart_scenario import Mode, describe, run_scenario


@pytest.mark.parametrize("mode", ["rename", "copytruncate"])
async def test_kills_and_rotations_watching_the_plain_path(tmp_path: Path, mode: Mode) -> None:
    result = await run_scenario(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'vigil.db'}",
        mode=mode,
        seconds=5,
        rate=200,
        kills=3,
        rotations=2,
        seed=3,
        catch_up_limit=240,
    )
    report = "\n".join(describe(result))
    assert result.kills == 3 and result.rotations == 2 and result.rotations_while_down >= 1
    assert result.written > 500
    assert not result.doubled, report
    if mode == "rename":
        assert not result.missing, report
        assert not result.gaps, report
    else:
        assert len(result.windows) == 2
        # Lines were written in both windows, and exactly those in a reported range are lost.
        assert result.window_lines > 0
        assert not result.unexplained_missing, report
        assert not result.stored_in_reported_gap, report
        assert not result.gaps_before_copy_end, report
        assert not result.windows_without_gap, report
    assert result.ok, report
