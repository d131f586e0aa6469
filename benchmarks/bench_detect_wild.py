"""Generalisation benchmark: attacks from public payload collections in every request field, and
benign traffic with the oddities of real logs, rules-only and hybrid.

Writes the seeded corpus of one split (`wild_corpus`), parses it with vigil's JSON log parser,
runs the rules (with the per-site probe judgement) and the hybrid models batch by batch, and
reports against the labels:

- attacks flagged (MEDIUM or HIGH) per source and family, and per field the payload sat in;
- benign requests flagged, per class of benign traffic, with examples and the rules that fired;
- the top missed classes (family × field) with examples.

Tune on ``--split tuning``; report ``--split reporting`` (the default).

    python benchmarks/bench_detect_wild.py [--split reporting] [--benign 1000000]
"""

# ruff: noqa: E501  (report lines and source tables read better unwrapped)

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

from verdicts import Verdicts
from vigil.batch import LineBatch, LogRecord
from vigil.detect.result import Detection
from vigil.ingest.parser import build_parser
from vigil.training import wild as wild_corpus
from vigil.training.train import default_datasets_root

BATCH = 2048
ATTACK_TARGET = 0.97
BENIGN_TARGET = 0.0005
MODES = ("rules", "hybrid")


def _batches(path: Path) -> Iterator[list[tuple[int, LogRecord]]]:
    parser = build_parser(wild_corpus.LOG_FORMAT)
    lines: list[bytes] = []
    offsets: list[int] = []
    numbers: dict[int, int] = {}
    offset = 0
    number = 0
    with path.open("rb") as handle:
        for raw in handle:
            number += 1
            line = raw.rstrip(b"\n")
            lines.append(line)
            offsets.append(offset)
            numbers[offset] = number
            offset += len(raw)
            if len(lines) == BATCH:
                yield _parse(parser, path, lines, offsets, offset, numbers)
                lines, offsets = [], []
    if lines:
        yield _parse(parser, path, lines, offsets, offset, numbers)


def _parse(
    parser: object, path: Path, lines: list[bytes], offsets: list[int], end: int,
    numbers: dict[int, int],
) -> list[tuple[int, LogRecord]]:  # fmt: skip
    result = parser.parse_batch(LineBatch("bench", path.name, lines, offsets, end))  # type: ignore[attr-defined]
    if result.dead_letters:
        sys.exit(
            f"{len(result.dead_letters)} lines of {path} did not parse: {result.dead_letters[0]}"
        )
    return [(numbers[r.offset], r) for r in result.records]


def _describe(record: LogRecord, detection: Detection, score: float) -> str:
    rules = (
        ",".join(sorted({f"{m.rule_id}@{m.target.split(':')[0]}" for m in detection.matches}))
        or "-"
    )
    where = record.target[:90]
    if record.user_agent and "Mozilla/5.0 (" not in record.user_agent[:14]:
        where += f"  UA={record.user_agent[:60]!r}"
    if record.forwarded_for:
        where += f"  XFF={record.forwarded_for[:60]!r}"
    for name, value in record.extra.items():
        if (name.startswith("http_") and name != "http_cookie") or "sid=" in value:
            where += f"  {name}={value[:60]!r}"
    return f"{score:.2f}  {where}  [{rules}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=wild_corpus.SPLITS, default="reporting")
    parser.add_argument("--benign", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--examples", type=int, default=4)
    args = parser.parse_args()

    log_path, labels_path = wild_corpus.write_corpus(
        args.out, args.split, args.benign, root=default_datasets_root()
    )
    labels = {}
    for row in labels_path.read_text(encoding="utf-8").splitlines():
        number, label, source, family, field = row.split("\t")
        labels[int(number)] = (label, source, family, field)
    verdicts = Verdicts()
    models = verdicts.models
    print(
        f"split={args.split} rules={len(verdicts.engine.active_rules)} "
        f"model={models.version if models else '-'}"
    )

    total: Counter[tuple[str, str]] = Counter()
    by_field_total: Counter[tuple[str, str]] = Counter()
    caught: dict[str, Counter[tuple[str, str]]] = {m: Counter() for m in MODES}
    by_field: dict[str, Counter[tuple[str, str]]] = {m: Counter() for m in MODES}
    missed: dict[tuple[str, str], list[str]] = defaultdict(list)
    benign_total: Counter[str] = Counter()
    benign_flagged: dict[str, Counter[str]] = {m: Counter() for m in MODES}
    false_positives: dict[str, list[str]] = {m: [] for m in MODES}
    fp_rules: Counter[str] = Counter()
    started = time.perf_counter()
    for batch in _batches(log_path):
        records = [record for _, record in batch]
        detections, fused = verdicts.judge(records)
        for position, (number, record) in enumerate(batch):
            label, source, family, field = labels[number]
            detection = detections[position]
            scores = {"rules": detection.score, "hybrid": fused[position]}
            if label == "attack":
                total[(source, family)] += 1
                by_field_total[(family, field)] += 1
                for mode in MODES:
                    if scores[mode] >= 0.5:
                        caught[mode][(source, family)] += 1
                        by_field[mode][(family, field)] += 1
                if scores["hybrid"] < 0.5:
                    missed[(family, field)].append(_describe(record, detection, scores["hybrid"]))
            else:
                benign_total[family] += 1
                for mode in MODES:
                    if scores[mode] >= 0.5:
                        benign_flagged[mode][family] += 1
                        false_positives[mode].append(
                            f"[{family}] " + _describe(record, detection, scores[mode])
                        )
                        if mode == "rules":
                            fp_rules.update({m.rule_id for m in detection.matches})
    seconds = time.perf_counter() - started
    attacks = sum(total.values())
    benign = sum(benign_total.values())
    print(f"{attacks:,} attack and {benign:,} benign requests in {seconds:.1f} s")
    ok = True
    print("\n== attacks flagged, per source and family (rules | hybrid) ==")
    for mode in MODES:
        rate = sum(caught[mode].values()) / attacks
        print(f"all sources, {mode}: {sum(caught[mode].values()):,}/{attacks:,} = {rate:.2%}")
    for key in sorted(total):
        rates = [caught[m][key] / total[key] for m in MODES]
        flag = "" if rates[1] >= ATTACK_TARGET else "   < target"
        ok = ok and rates[1] >= ATTACK_TARGET
        print(
            f"  {key[0]:<22} {key[1]:<14} {total[key]:>6,}  {rates[0]:7.2%} | {rates[1]:7.2%}{flag}"
        )
    print("\n== attacks flagged, per family and field (rules | hybrid) ==")
    for key in sorted(by_field_total):
        rates = [by_field[m][key] / by_field_total[key] for m in MODES]
        flag = "" if rates[1] >= ATTACK_TARGET else "   < target"
        print(
            f"  {key[0]:<14} {key[1]:<13} {by_field_total[key]:>6,}  {rates[0]:7.2%} | {rates[1]:7.2%}{flag}"
        )
    print("\n== benign flagged, per class (rules | hybrid) ==")
    for mode in MODES:
        flagged = sum(benign_flagged[mode].values())
        rate = flagged / benign if benign else 0.0
        ok = ok and rate <= BENIGN_TARGET
        print(
            f"all classes, {mode}: {flagged:,}/{benign:,} = {rate:.4%} (target <= {BENIGN_TARGET:.2%})"
        )
    for cls in sorted(benign_total):
        print(
            f"  {cls:<18} {benign_total[cls]:>8,}  {benign_flagged['rules'][cls]:>5} | {benign_flagged['hybrid'][cls]:>5}"
        )
    if fp_rules:
        print(f"  rules behind rules-only false positives: {dict(fp_rules.most_common(8))}")
    for mode in MODES:
        for line in false_positives[mode][: args.examples * 2]:
            print(f"    {mode}: {line}")
    print("\n== top missed classes (hybrid), family x field ==")
    for (family, field), lines in sorted(missed.items(), key=lambda kv: -len(kv[1]))[:12]:
        print(f"  {family:<14} {field:<13} {len(lines):>5} missed")
        for line in lines[: args.examples]:
            print(f"      {line}")
    print("\ntargets met" if ok else "\ntargets NOT met")


if __name__ == "__main__":
    main()
