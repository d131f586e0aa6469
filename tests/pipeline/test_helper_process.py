"""A helper process (behaviour windows, some of the detection) gives the same verdicts as one
process alone, and losing it never loses a batch: the main process carries on alone."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import make_settings
from vigil.batch import LineBatch, ScoredBatch
from vigil.cli.app import app
from vigil.config import Settings
from vigil.pipeline.analyze import Analyzer
from vigil.pipeline.helper_process import (
    LARGE_INPUT_BYTES,
    HelperLost,
    HelperProcess,
    HelperResult,
    wanted,
)
from vigil.simulate.mix import mixed_lines

BATCH = 512


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    """Mixed traffic with every behaviour scenario in it, a few thousand lines."""
    return [text.encode() for text, _label in mixed_lines(6000, seed=7)]


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return make_settings(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}", **overrides)


def _batches(lines: list[bytes]) -> Iterator[LineBatch]:
    for start in range(0, len(lines), BATCH):
        chunk = lines[start : start + BATCH]
        offsets = [(start + i) * 300 for i in range(len(chunk))]
        yield LineBatch("mixed.log", "f1", chunk, offsets, offsets[-1] + 300)


def _verdicts(scored: list[ScoredBatch]) -> list[tuple[Any, ...]]:
    return [
        (t.key, t.severity, t.score, tuple(t.categories), t.detection_mode)
        for batch in scored
        for t in batch.threats
    ]


def _analyze_all(analyzer: Analyzer, lines: list[bytes], ahead: int) -> list[ScoredBatch]:
    """Prefetch `ahead` batches before analysing each, as `vigil scan` does."""
    batches = list(_batches(lines))
    pending = [analyzer.prefetch(b) for b in batches[:ahead]]
    out = []
    for i, batch in enumerate(batches):
        if i + ahead < len(batches):
            pending.append(analyzer.prefetch(batches[i + ahead]))
        out.append(analyzer.analyze(batch, prefetched=pending.pop(0) if ahead else None))
    return out


@pytest.mark.parametrize("backlog", [0, 2, 1_000_000], ids=["never", "balanced", "always"])
def test_the_helper_finds_what_one_process_finds(
    tmp_path: Path, lines: list[bytes], backlog: int
) -> None:
    settings = _settings(tmp_path, detection_mode="rules")
    alone = _analyze_all(Analyzer(settings, keep_results=True), lines, ahead=0)
    helped = Analyzer(settings, keep_results=True)
    helped.helper = HelperProcess(settings)
    helped.helper.detect_while_backlog_below = backlog
    try:
        with_helper = _analyze_all(helped, lines, ahead=4)
        assert helped.helper is not None, "the helper was given up on"
    finally:
        helped.close()
    behaviour = [v for v in _verdicts(alone) if v[4] == "behaviour"]
    assert len(behaviour) >= 5, "the scenarios should make the behaviour windows fire"
    assert _verdicts(with_helper) == _verdicts(alone)
    assert [b.results for b in with_helper] == [b.results for b in alone]
    assert all("helper_behaviour" in b.timings for b in with_helper)
    detected_there = sum("helper_detect" in b.timings for b in with_helper)
    if backlog == 0:
        assert detected_there == 0
    if backlog == 1_000_000:
        assert detected_there == len(with_helper)


def test_a_lost_helper_hands_over_to_this_process(
    tmp_path: Path, lines: list[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path, detection_mode="rules")
    analyzer = Analyzer(settings)
    process = HelperProcess(settings)
    analyzer.helper = process
    batches = list(_batches(lines))
    try:
        first = analyzer.analyze(batches[0])
        assert "helper_behaviour" in first.timings
        prefetched = [analyzer.prefetch(b) for b in batches[1:4]]
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        with caplog.at_level(logging.ERROR):
            rest = [
                analyzer.analyze(b, prefetched=f)
                for b, f in zip(batches[1:4], prefetched, strict=True)
            ]
            rest += [analyzer.analyze(b) for b in batches[4:]]
    finally:
        analyzer.close()
    assert analyzer.helper is None
    assert "helper_process_lost" in caplog.text
    scored = [first, *rest]
    assert sum(b.lines for b in scored) == len(lines)
    assert sum(b.records + len(b.dead_letters) for b in scored) == len(lines)
    # Every batch after the loss was analysed here, windows and all (the three sent before it
    # may have been finished by the helper before it died).
    after = rest[3:]
    assert all("helper_behaviour" not in b.timings for b in after)
    assert any(t.detection_mode == "behaviour" for b in after for t in b.threats)


def test_a_helper_that_disagrees_is_given_up_on(tmp_path: Path, lines: list[bytes]) -> None:
    settings = _settings(tmp_path, detection_mode="rules")
    analyzer = Analyzer(settings)
    helper = HelperProcess(settings)
    analyzer.helper = helper
    batch = next(_batches(lines))
    wrong = HelperResult(records=1, events=[], detections=None, timings={})
    helper.result = lambda _prefetched: wrong  # type: ignore[method-assign]
    try:
        scored = analyzer.analyze(batch)
    finally:
        analyzer.close()
    assert analyzer.helper is None
    assert scored.records + len(scored.dead_letters) == len(batch.lines)
    assert "helper_behaviour" not in scored.timings


def test_a_batch_the_helper_fails_on_is_reported_and_it_goes_on(
    tmp_path: Path, lines: list[bytes]
) -> None:
    helper = HelperProcess(_settings(tmp_path, detection_mode="rules"))
    good = list(_batches(lines))[:2]
    not_lines = LineBatch("x", "f", [None, None], [0, 1], 2)  # type: ignore[list-item]
    try:
        sent = [helper.submit(good[0], "default"), helper.submit(not_lines, "default")]
        sent.append(helper.submit(good[1], "default"))
        assert helper.result(sent[0]).records == len(good[0].lines)
        with pytest.raises(HelperLost, match="the helper failed: TypeError"):
            helper.result(sent[1])
        assert helper.result(sent[2]).records == len(good[1].lines)
    finally:
        helper.close()


def test_behaviour_can_be_switched_off(tmp_path: Path, lines: list[bytes]) -> None:
    on = _analyze_all(Analyzer(_settings(tmp_path, detection_mode="rules")), lines, ahead=0)
    off_settings = _settings(tmp_path, detection_mode="rules", behaviour_enabled=False)
    off = _analyze_all(Analyzer(off_settings), lines, ahead=0)
    assert any(v[4] == "behaviour" for v in _verdicts(on))
    assert _verdicts(off) == [v for v in _verdicts(on) if v[4] != "behaviour"]


def test_when_the_process_is_wanted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    auto = _settings(tmp_path).runner
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1})
    assert not wanted(auto, None)  # stdin: size unknown, maybe short
    assert wanted(_settings(tmp_path, helper_process=True).runner, None)
    assert wanted(auto, LARGE_INPUT_BYTES)
    assert not wanted(auto, LARGE_INPUT_BYTES - 1)
    assert wanted(_settings(tmp_path, helper_process=True).runner, 10)
    assert not wanted(_settings(tmp_path, helper_process=False).runner, None)
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0})
    assert not wanted(auto, LARGE_INPUT_BYTES)


def test_scan_prints_the_same_lines_with_and_without_the_helper(
    tmp_path: Path, lines: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "mixed.log"
    log.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setenv("VIGIL_DETECTION_MODE", "rules")
    outputs = []
    for flag in ("false", "true"):
        monkeypatch.setenv("VIGIL_HELPER_PROCESS", flag)
        result = CliRunner().invoke(app, ["scan", str(log), "--no-store", "--jsonl-all"])
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    assert '"behaviour:' in outputs[0]


def test_a_setting_the_helper_cannot_start_with_gives_one_clear_error(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(
        '10.0.0.1 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8"\n'
    )
    bad = tmp_path / "behaviour.yaml"
    bad.write_text("scan: [not, a, mapping\n")
    result = _vigil(
        tmp_path,
        "scan",
        str(log),
        "--no-store",
        VIGIL_HELPER_PROCESS="true",
        VIGIL_BEHAVIOUR_CONFIG_FILE=str(bad),
    )
    assert result.returncode != 0
    assert "VIGIL_BEHAVIOUR_CONFIG_FILE" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def _vigil(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    return subprocess.run(
        [sys.executable, "-m", "vigil", *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        cwd=cwd,
        timeout=300,
        check=False,
    )


def test_a_stored_scan_stores_the_same_events_with_and_without_the_helper(
    tmp_path: Path, lines: list[bytes]
) -> None:
    log = tmp_path / "mixed.log"
    log.write_bytes(b"\n".join(lines) + b"\n")
    stored = []
    for flag in ("false", "true"):
        workdir = tmp_path / flag  # a database of its own for each run
        workdir.mkdir()
        result = _vigil(
            workdir, "scan", str(log), "-o", "json",
            VIGIL_HELPER_PROCESS=flag, VIGIL_DETECTION_MODE="rules",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        stages = json.loads(result.stdout)["stage_seconds"]
        assert ("helper_behaviour" in stages) is (flag == "true")
        with sqlite3.connect(workdir / "vigil.db") as db:
            events = db.execute(
                "SELECT event_key, severity, score, categories FROM threat_events ORDER BY 1"
            ).fetchall()
            checkpoint = db.execute("SELECT byte_offset FROM ingest_checkpoints").fetchall()
        assert checkpoint == [(log.stat().st_size,)]
        stored.append(events)
    assert stored[0] == stored[1]
    assert any('"behaviour:' in row[3] for row in stored[0])


async def _run_with_update(
    settings: Settings, lines: list[bytes], rule: str, state_dir: Path
) -> tuple[list[ScoredBatch], bytes]:
    """Half the batches, then an exclusion of `rule` everywhere, then the rest."""
    from vigil.pipeline.assembly import SNAPSHOT_FILE, open_pipeline

    settings = settings.model_copy(update={"state_dir": state_dir})
    scored: list[ScoredBatch] = []
    batches = list(_batches(lines))
    half = len(batches) // 2
    async with open_pipeline(
        settings, store=False, snapshots=True, on_scored=scored.append
    ) as pipeline:
        if pipeline.analyzer.helper is not None:
            pipeline.analyzer.helper.detect_while_backlog_below = 1_000_000  # detects them all
        for batch in batches[:half]:
            await pipeline.submit(batch)
        pipeline.set_exclusions(None, [{"rule_id": rule}], [])
        for batch in batches[half:]:
            await pipeline.submit(batch)
        await pipeline.stop()
        assert (pipeline.analyzer.helper is not None) == bool(settings.helper_process)
    return scored, (state_dir / SNAPSHOT_FILE).read_bytes()


async def test_exclusions_and_snapshots_reach_the_helper_in_order_with_the_batches(
    tmp_path: Path, lines: list[bytes]
) -> None:
    settings = _settings(tmp_path, detection_mode="rules")
    first = Analyzer(settings).analyze(next(_batches(lines)))
    rule = Counter(m["rule_id"] for t in first.threats for m in t.matches).most_common(1)[0][0]

    alone, alone_state = await _run_with_update(
        settings.model_copy(update={"helper_process": False}), lines, rule, tmp_path / "alone"
    )
    helped, helped_state = await _run_with_update(
        settings.model_copy(update={"helper_process": True}), lines, rule, tmp_path / "helped"
    )
    half = len(alone) // 2
    fired = [{m["rule_id"] for t in b.threats for m in t.matches} for b in helped]
    assert any(rule in rules for rules in fired[:half])
    assert not any(rule in rules for rules in fired[half:]), "the helper kept the old exclusions"
    assert all("helper_detect" in b.timings for b in helped[half:])
    assert _verdicts(helped) == _verdicts(alone)
    # The windows kept by the helper are snapshotted from it, the same as one process's.
    assert helped_state == alone_state
