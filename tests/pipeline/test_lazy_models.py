"""Hybrid mode loads its models when the first request is scored, not at start-up: a scan of an
empty file (or a serve whose logs stay quiet) never imports onnxruntime or numpy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from vigil.batch import LineBatch
from vigil.config import load_settings
from vigil.pipeline.analyze import Analyzer
from vigil.pipeline.stages import ModelsStage
from vigil.pipeline.work import Work

ATTACK = (
    b'203.0.113.9 - - [07/Dec/2026:10:00:00 +0000] "GET /search?q=%3Cscript%3Ealert(1)'
    b'%3C%2Fscript%3E HTTP/1.1" 200 512 "-" "Mozilla/5.0"'
)


class _Models:
    version = "test-1"

    def score_batch(self, records: list[Any], detections: list[Any]) -> list[Any]:
        return [type("Fused", (), {"score": 0.5})() for _ in records]


def _work(records: list[Any]) -> Work:
    work = Work(LineBatch("test", "f", [], [], 0), "default")
    work.records = records
    return work


def test_loader_runs_once_at_the_first_batch_with_requests() -> None:
    calls: list[int] = []

    def loader() -> _Models:
        calls.append(1)
        return _Models()

    stage = ModelsStage()
    stage.load_later(loader)
    empty = stage(_work([]))
    assert calls == []
    assert empty.models is None
    assert stage(_work(["record"])).models is not None
    assert stage(_work(["record"])).scores == [0.5]
    assert calls == [1]


def test_reading_the_models_loads_them_and_setting_them_cancels_the_loader() -> None:
    stage = ModelsStage()
    stage.load_later(_Models)
    assert isinstance(stage.models, _Models)

    replaced = ModelsStage()
    replaced.load_later(lambda: (_ for _ in ()).throw(AssertionError("loaded")))
    replaced.models = None
    assert replaced(_work(["record"])).models is None


def test_a_loader_giving_none_means_rules_only() -> None:
    analyzer = Analyzer(load_settings(behaviour_enabled=False))
    analyzer.load_models_later(lambda: None)
    assert analyzer.detection_mode == "rules"
    analyzer.load_models_later(_Models)
    assert analyzer.detection_mode == "hybrid"
    analyzer.close()


def _scan_modules(tmp_path: Path, log: Path) -> list[str]:
    """`vigil scan --no-store LOG` in hybrid mode; which of numpy and onnxruntime it imported."""
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['vigil', 'scan', '--no-store', {str(log)!r}]\n"
        "try:\n"
        "    runpy.run_module('vigil', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('imported=' + ','.join(m for m in ('numpy', 'onnxruntime') if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_DETECTION_MODE="hybrid",
        VIGIL_CACHE_DIR=str(tmp_path / "cache"),
        VIGIL_STATE_DIR=str(tmp_path / "state"),
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    (line,) = [line for line in out.stdout.splitlines() if line.startswith("imported=")]
    return [name for name in line.removeprefix("imported=").split(",") if name]


def test_scan_of_an_empty_file_loads_no_models(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.touch()
    assert _scan_modules(tmp_path, empty) == []


def test_scan_of_a_request_loads_the_models(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(ATTACK + b"\n")
    assert _scan_modules(tmp_path, log) == ["numpy", "onnxruntime"]
