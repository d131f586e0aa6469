"""Detection quality of the request rules on labeled access logs.

Builds (seeded) the HttpParams corpus of one split and the generated benign corpus, parses the
logs, runs the rule engine and reports, against the labels files:

- attacks flagged (MEDIUM or HIGH) overall and per attack class, with missed examples;
- benign requests flagged, with examples and the rules responsible.

Tune on ``--split train``; report ``--split test`` (the default).

    python benchmarks/bench_detect_quality.py [--split test] [--benign 100000] [--paranoia 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import benign_corpus
import httpparams_corpus
from vigil.batch import LineBatch, LogRecord
from vigil.detect.engine import DetectionEngine
from vigil.detect.result import Detection
from vigil.detect.ruleset import load_ruleset

BATCH = 2048
ATTACK_TARGET = 0.99
CLASS_TARGET = 0.97
BENIGN_TARGET = 0.005
GENERATED_TARGET = 0.001


def _parse(path: Path) -> Iterator[list[tuple[int, LogRecord]]]:
    """Batches of (line number, record) for a log file, through vigil's own parser."""
    from vigil.ingest.parser import build_parser

    parser = build_parser("combined")
    lines: list[bytes] = []
    offsets: list[int] = []
    offset = 0
    with path.open("rb") as handle:
        raw_lines = handle.read().split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    numbers: dict[int, int] = {}
    for number, raw in enumerate(raw_lines, 1):
        lines.append(raw)
        offsets.append(offset)
        numbers[offset] = number
        offset += len(raw) + 1
        if len(lines) == BATCH or number == len(raw_lines):
            result = parser.parse_batch(LineBatch("bench", path.name, lines, offsets, offset))
            if result.dead_letters:
                sys.exit(f"{len(result.dead_letters)} lines of {path} did not parse")
            yield [(numbers[record.offset], record) for record in result.records]
            lines, offsets = [], []


def run(engine: DetectionEngine, path: Path) -> dict[int, tuple[LogRecord, Detection]]:
    """Line number -> (record, detection) for every line of `path`."""
    out: dict[int, tuple[LogRecord, Detection]] = {}
    for batch in _parse(path):
        detections = engine.detect_batch([record for _, record in batch])
        for (number, record), detection in zip(batch, detections, strict=True):
            out[number] = (record, detection)
    return out


def _describe(record: LogRecord, detection: Detection) -> str:
    rules = ",".join(sorted({m.rule_id for m in detection.matches})) or "-"
    return f"{detection.severity:<6} {detection.points:>3} pts  {record.target[:110]}  [{rules}]"


def report_httpparams(engine: DetectionEngine, split: str, datasets: Path, out: Path) -> bool:
    log_path, labels_path = httpparams_corpus.write_corpus(split, out, datasets=datasets)
    labels = httpparams_corpus.read_labels(labels_path)
    started = time.perf_counter()
    results = run(engine, log_path)
    seconds = time.perf_counter() - started
    total: Counter[str] = Counter()
    flagged: Counter[str] = Counter()
    missed: dict[str, list[str]] = {}
    false_positives: list[str] = []
    rule_hits: Counter[str] = Counter()
    for number, (label, kind) in labels.items():
        record, detection = results[number]
        total[kind] += 1
        if detection.flagged:
            flagged[kind] += 1
            if label == "benign":
                false_positives.append(_describe(record, detection))
                rule_hits.update({m.rule_id for m in detection.matches})
        elif label == "attack":
            missed.setdefault(kind, []).append(_describe(record, detection))
    attacks = sum(n for kind, n in total.items() if kind != "norm")
    caught = sum(n for kind, n in flagged.items() if kind != "norm")
    print(f"== HttpParams {split} split: {len(labels):,} requests in {seconds:.1f} s ==")
    ok = caught / attacks >= ATTACK_TARGET
    print(f"attacks flagged: {caught:,}/{attacks:,} = {caught / attacks:.2%} "
          f"(target >= {ATTACK_TARGET:.0%})  false negatives: {attacks - caught}")  # fmt: skip
    for kind in sorted(k for k in total if k != "norm"):
        rate = flagged[kind] / total[kind]
        ok = ok and rate >= CLASS_TARGET
        print(f"  {kind:<15} {flagged[kind]:>6,}/{total[kind]:<6,} = {rate:7.2%}  "
              f"missed {total[kind] - flagged[kind]}")  # fmt: skip
    benign_rate = flagged["norm"] / total["norm"]
    ok = ok and benign_rate <= BENIGN_TARGET
    print(f"benign flagged: {flagged['norm']:,}/{total['norm']:,} = {benign_rate:.3%} "
          f"(target <= {BENIGN_TARGET:.1%})  false positives: {flagged['norm']}")  # fmt: skip
    for kind, lines in sorted(missed.items()):
        print(f"  missed {kind} (first 5 of {len(lines)}):")
        for line in lines[:5]:
            print(f"    {line}")
    if false_positives:
        print(f"  false positives (first 8 of {len(false_positives)}), rules: {dict(rule_hits)}")
        for line in false_positives[:8]:
            print(f"    {line}")
    return ok


def report_benign(engine: DetectionEngine, count: int, out: Path) -> bool:
    log_path, _ = benign_corpus.write_corpus(out, count)
    started = time.perf_counter()
    results = run(engine, log_path)
    seconds = time.perf_counter() - started
    flagged = [(r, d) for r, d in results.values() if d.flagged]
    low_with_matches = sum(1 for _, d in results.values() if d.matches and not d.flagged)
    rule_hits: Counter[str] = Counter(m.rule_id for _, d in flagged for m in d.matches)
    rate = len(flagged) / len(results)
    print(f"== generated benign traffic: {len(results):,} requests in {seconds:.1f} s ==")
    print(f"benign flagged: {len(flagged):,} = {rate:.3%} (target <= {GENERATED_TARGET:.1%})  "
          f"false positives: {len(flagged)}; LOW with some match: {low_with_matches}")  # fmt: skip
    if flagged:
        print(f"  rules: {dict(rule_hits.most_common(10))}")
        for record, detection in flagged[:8]:
            print(f"    {_describe(record, detection)}")
    return rate <= GENERATED_TARGET


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=["train", "test"], default="test")
    parser.add_argument("--datasets", type=Path, default=httpparams_corpus.DEFAULT_DATASETS)
    parser.add_argument("--benign", type=int, default=100_000, help="generated benign requests")
    parser.add_argument("--paranoia", type=int, default=1, choices=[1, 2, 3, 4])
    parser.add_argument("--matcher", choices=["auto", "hyperscan", "re"], default="auto")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    args = parser.parse_args()
    engine = DetectionEngine(load_ruleset(), paranoia_level=args.paranoia, matcher=args.matcher)
    print(f"rules={len(engine.active_rules)} paranoia={args.paranoia} matcher={args.matcher}")
    ok = report_httpparams(engine, args.split, args.datasets, args.out)
    if args.benign:
        ok = report_benign(engine, args.benign, args.out) and ok
    print("targets met" if ok else "targets NOT met")


if __name__ == "__main__":
    main()
