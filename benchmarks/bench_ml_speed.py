"""Cost of the models per line on the 1,000,000-line benchmark log, stage by stage.

Parsing and rule detection run first for each batch (not timed here: see bench_scan.py);
then `HybridModels.score_batch` is timed, split into value extraction and caching, feature
building, the ONNX call, the site baseline and fusion. Also prints model load time and the
artifact sizes.

    python benchmarks/bench_ml_speed.py [--log benchmarks/data/bench-1m.log] [--lines N]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vigil.batch import LineBatch, LogRecord
from vigil.config import load_settings
from vigil.detect.engine import DetectionEngine
from vigil.detect.ml import features, runtime
from vigil.ingest.parser import build_parser
from vigil.training.retrain import fit_baseline

ROOT = Path(__file__).resolve().parents[1]
BATCH = 2048
clock = time.process_time  # CPU time: the machine is shared, wall time is not ours alone


def batches(path: Path, limit: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle):
            if number >= limit:
                break
            chunk.append(line.rstrip(b"\n"))
            if len(chunk) == BATCH:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def timed(totals: Counter[str], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[name] += clock() - started

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--log", type=Path, default=ROOT / "benchmarks" / "data" / "bench-1m.log")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--baseline-lines", type=int, default=100_000)
    args = parser.parse_args()

    settings = load_settings()
    started = clock()
    models = runtime.load_models(runtime.shipped_model_dir())
    load_seconds = clock() - started
    print(f"model {models.version}: loaded in {load_seconds * 1000:.0f} ms")
    for item in sorted(runtime.shipped_model_dir().iterdir()):
        if item.is_file():
            print(f"  {item.name:18} {item.stat().st_size / 1024:8.1f} KiB")

    log_parser = build_parser("combined")
    engine = DetectionEngine.from_section(settings.rules)

    def parsed(limit: int) -> Iterator[list[LogRecord]]:
        for offset, chunk in enumerate(batches(args.log, limit)):
            batch = LineBatch("bench", "f", chunk, list(range(len(chunk))), offset)
            yield log_parser.parse_batch(batch).records

    baseline = fit_baseline(r for recs in parsed(args.baseline_lines) for r in recs)
    print(
        f"site baseline fitted on {args.baseline_lines:,} lines: {len(baseline.profiles)} profiles"
    )

    for label, hybrid in (
        ("classifier only", models),
        ("classifier + baseline", runtime.HybridModels(models.classifier, baseline)),
    ):
        totals: Counter[str] = Counter()
        classifier = hybrid.classifier
        original_predict = classifier.predict
        original_dense = features.dense_features
        classifier.predict = timed(totals, "onnx+features", original_predict)  # type: ignore[method-assign]
        runtime.features.dense_features = timed(totals, "features", original_dense)  # type: ignore[assignment]
        hybrid.value_verdicts = timed(totals, "values", hybrid.value_verdicts)  # type: ignore[method-assign]
        if hybrid.anomaly is not None:
            hybrid.anomaly.score_batch = timed(totals, "anomaly", hybrid.anomaly.score_batch)  # type: ignore[method-assign]
        lines = 0
        for records in parsed(args.lines):
            detections = engine.detect_batch(records)
            started = clock()
            fused = hybrid.score_batch(records, detections)
            totals["score_batch"] += clock() - started
            assert len(fused) == len(records)
            lines += len(records)
        classifier.predict = original_predict  # type: ignore[method-assign]
        runtime.features.dense_features = original_dense
        total = totals["score_batch"]
        onnx = totals["onnx+features"] - totals["features"]
        values = totals["values"] - totals["onnx+features"]
        rest = total - totals["values"]
        print(f"\n{label}: {lines:,} lines, score_batch {total:.2f} s = "
              f"{total / lines * 1e6:.2f} us/line ({lines / total:,.0f} lines/s)")  # fmt: skip
        for name, seconds in (
            ("value extraction + caches", values),
            ("feature building", totals["features"]),
            ("onnx inference", onnx),
            ("site baseline", totals["anomaly"]),
            ("fusion", rest - totals["anomaly"]),
        ):
            print(f"  {name:26} {seconds:7.2f} s {seconds / lines * 1e6:7.2f} us/line")
        print(f"  distinct values cached: {len(hybrid._values):,}")


if __name__ == "__main__":
    main()
