"""Parsing throughput on a seeded 1,000,000-line combined log, single process.

Reads the file into batches of 2048 lines first (reading is not what is measured), then
times `parse_batch` over all of them with `build_parser("combined")` and with `auto`.

    python benchmarks/bench_parse.py [--lines N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import time
from pathlib import Path

from vigil.ingest.parser import build_parser
from vigil.ingest.records import LineBatch
from vigil.simulate.traffic import write_log

BATCH = 2048


def read_batches(path: Path, limit: int) -> list[LineBatch]:
    """The file's lines in batches with their byte offsets, as a file source would give them."""
    batches: list[LineBatch] = []
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
                batches.append(LineBatch("bench", path.name, lines, offsets, offset))
                lines, offsets = [], []
    if lines:
        batches.append(LineBatch("bench", path.name, lines, offsets, offset))
    return batches


def run(spec: str, batches: list[LineBatch], profile: bool) -> None:
    parser = build_parser(spec)
    lines = sum(len(batch) for batch in batches)
    records = dead = malformed = 0
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    cpu_started = time.process_time()
    if profiler is not None:
        profiler.enable()
    for batch in batches:
        result = parser.parse_batch(batch)
        records += len(result.records)
        dead += len(result.dead_letters)
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    for batch in batches[:1]:
        malformed = sum(r.malformed for r in parser.parse_batch(batch).records)
    print(
        f"format={spec:<9} detected={parser.describe()!r} lines={lines:,} "
        f"seconds={seconds:.3f} lines/s={lines / seconds:,.0f} "
        f"cpu_seconds={cpu_seconds:.3f} lines/cpu-s={lines / cpu_seconds:,.0f} records={records:,} "
        f"dead_letters={dead:,} malformed_in_first_batch={malformed}"
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
    batches = read_batches(args.file, args.lines)
    # The million preloaded lines are the benchmark's, not the parser's: keep the garbage
    # collector from walking them over and over while parsing is timed.
    gc.collect()
    gc.freeze()
    for spec in ("combined", "auto"):
        run(spec, batches, args.profile)


if __name__ == "__main__":
    main()
