"""Throughput of parse + request detection (rules only), single process, on the 1M-line log.

Reads the log into batches of 2048 lines first (reading is not measured), then times parsing
and `DetectionEngine.detect_batch` over every batch, separately and together, in wall-clock
and in CPU time (the latter is what to compare on a machine shared with other work). The log is the
seeded one from ``benchmarks/gen_log.py``; it is written first if missing.

    python benchmarks/bench_detect_speed.py [--lines N] [--matcher auto|re] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from vigil.batch import LineBatch
from vigil.detect.engine import DetectionEngine
from vigil.detect.ruleset import load_ruleset
from vigil.ingest.parser import build_parser
from vigil.runtime import tune_gc

BATCH = 2048
DEFAULT_LOG = Path(__file__).parent / "data" / "bench-1m.log"


def read_batches(path: Path, limit: int) -> list[LineBatch]:
    """The file's lines in batches with their byte offsets, as a file source would give them."""
    batches: list[LineBatch] = []
    lines: list[bytes] = []
    offsets: list[int] = []
    offset = 0
    with path.open("rb") as handle:
        for count, raw in enumerate(handle):
            if count >= limit:
                break
            lines.append(raw[:-1] if raw.endswith(b"\n") else raw)
            offsets.append(offset)
            offset += len(raw)
            if len(lines) == BATCH:
                batches.append(LineBatch("bench", path.name, lines, offsets, offset))
                lines, offsets = [], []
    if lines:
        batches.append(LineBatch("bench", path.name, lines, offsets, offset))
    return batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_LOG)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--matcher", choices=["auto", "hyperscan", "re"], default="auto")
    parser.add_argument("--paranoia", type=int, default=1, choices=[1, 2, 3, 4])
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    args = parser.parse_args()
    if not args.file.exists():
        generator = Path(__file__).parent / "gen_log.py"
        subprocess.run([sys.executable, str(generator), "--out", str(args.file)], check=True)

    batches = read_batches(args.file, args.lines)
    lines = sum(len(batch) for batch in batches)
    log_parser = build_parser("combined")
    started = time.perf_counter()
    engine = DetectionEngine(load_ruleset(), paranoia_level=args.paranoia, matcher=args.matcher)
    build = time.perf_counter() - started
    tune_gc()  # as `vigil scan` and `vigil serve` do once they are set up

    profiler = cProfile.Profile() if args.profile else None
    severities: Counter[str] = Counter()
    parse_seconds = detect_seconds = parse_cpu = detect_cpu = 0.0
    if profiler is not None:
        profiler.enable()
    for batch in batches:
        t0, c0 = time.perf_counter(), time.process_time()
        records = log_parser.parse_batch(batch).records
        t1, c1 = time.perf_counter(), time.process_time()
        detections = engine.detect_batch(records)
        t2, c2 = time.perf_counter(), time.process_time()
        parse_seconds += t1 - t0
        detect_seconds += t2 - t1
        parse_cpu += c1 - c0
        detect_cpu += c2 - c1
        severities.update(d.severity for d in detections)
    if profiler is not None:
        profiler.disable()
    total = parse_seconds + detect_seconds
    print(
        f"lines={lines:,} rules={len(engine.active_rules)} matcher={args.matcher} "
        f"engine_build_s={build:.2f}"
    )
    print(
        f"parse: {parse_seconds:.2f} s ({lines / parse_seconds:,.0f} lines/s)  "
        f"detect: {detect_seconds:.2f} s ({lines / detect_seconds:,.0f} lines/s, "
        f"{detect_seconds / lines * 1e6:.2f} us/line)"
    )
    print(f"parse+detect: {total:.2f} s = {lines / total:,.0f} lines/s (target >= 100,000)")
    cpu = parse_cpu + detect_cpu
    print(
        f"cpu time (less sensitive to other load on the machine): parse {parse_cpu:.2f} s, "
        f"detect {detect_cpu:.2f} s ({detect_cpu / lines * 1e6:.2f} us/line), "
        f"parse+detect {lines / cpu:,.0f} lines/cpu-s"
    )
    print(f"severities: {dict(severities)}")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
