"""Parsing throughput on a seeded 1,000,000-line combined log, single process.

Reads the file in batches of 2048 lines, as a file source would, and times only the
`parse_batch` calls, with `build_parser("combined")` and with `auto`. Both wall-clock and
process CPU time are shown: on a shared machine the first also measures the neighbours.

    python benchmarks/bench_parse.py [--lines N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Iterator
from pathlib import Path

from vigil.batch import LineBatch
from vigil.ingest.parser import build_parser
from vigil.runtime import tune_gc
from vigil.simulate.traffic import write_log

BATCH = 2048


def read_batches(path: Path, limit: int) -> Iterator[LineBatch]:
    """The file's lines in batches with their byte offsets, as a file source would give them."""
    lines: list[bytes] = []
    offsets: list[int] = []
    offset = 0
    count = 0
    with path.open("rb") as handle:
        for raw in handle:
            if count >= limit:
                break
            lines.append(raw[:-1] if raw.endswith(b"\n") else raw)
            offsets.append(offset)
            offset += len(raw)
            count += 1
            if len(lines) == BATCH:
                yield LineBatch("bench", path.name, lines, offsets, offset)
                lines, offsets = [], []
    if lines:
        yield LineBatch("bench", path.name, lines, offsets, offset)


def run(spec: str, path: Path, limit: int, profile: bool) -> None:
    """Parse the file batch by batch, timing only `parse_batch` (reading is not measured)."""
    parser = build_parser(spec)
    tune_gc()  # as `vigil scan` and `vigil serve` do once they are set up
    lines = records = dead = malformed = 0
    seconds = cpu_seconds = 0.0
    profiler = cProfile.Profile() if profile else None
    clock, cpu_clock = time.perf_counter, time.process_time
    for batch in read_batches(path, limit):
        if profiler is not None:
            profiler.enable()
        started, cpu_started = clock(), cpu_clock()
        result = parser.parse_batch(batch)
        seconds += clock() - started
        cpu_seconds += cpu_clock() - cpu_started
        if profiler is not None:
            profiler.disable()
        lines += len(batch)
        records += len(result.records)
        dead += len(result.dead_letters)
        malformed += sum(record.malformed for record in result.records)
    print(
        f"format={spec:<9} detected={parser.describe()!r} lines={lines:,} "
        f"seconds={seconds:.3f} lines/s={lines / seconds:,.0f} "
        f"cpu_seconds={cpu_seconds:.3f} lines/cpu-s={lines / cpu_seconds:,.0f} "
        f"records={records:,} dead_letters={dead:,} malformed={malformed:,}"
    )
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=Path("benchmarks/data/bench-1m.log"))
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    args = parser.parse_args()
    if not args.file.exists():
        args.file.parent.mkdir(parents=True, exist_ok=True)
        print(f"generating {args.file} ({args.lines:,} lines, seed {args.seed}) ...")
        write_log(args.file, args.lines, args.seed)
    for spec in ("combined", "auto"):
        run(spec, args.file, args.lines, args.profile)


if __name__ == "__main__":
    main()
