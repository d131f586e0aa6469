"""Site profile quality: learn a simulated site's normal day, then judge another day plus
anomalous requests of every class.

1. `vigil.simulate.site` makes a shop of 40 endpoints (server-rendered ``.jsp`` forms with
   Spanish fields, a JSON API, blog slugs, hashed assets, images, downloads). Day A (seed
   `--learn-seed`) is written as combined log lines, parsed by the real parser, and learned the
   way `vigil serve` learns: only requests answered 2xx/3xx that no rule flagged.
2. Day B (seed `--test-seed`, other clients, other values) is judged: every request flagged
   MEDIUM or above counts against the profile (target ≤ 0.2 %).
3. `vigil.simulate.mutations` (which knows nothing of the scorer) turns day B's requests into
   anomalies, `--per-class` of each class: unknown parameter names, values of the wrong type,
   appended extensions, foreign paths, over-long values, encoded junk, and ordinary attacks.
   Target: ≥ 95 % flagged.

Reported for the profile alone, the rules alone, and both fused as the pipeline fuses them
(the higher score).

    python benchmarks/bench_site_profile.py [--lines N] [--per-class N]
"""

from __future__ import annotations

import argparse
import functools
import time
from collections import Counter
from datetime import UTC, datetime

from vigil.batch import LineBatch, LogRecord
from vigil.config import load_settings
from vigil.detect.engine import DetectionEngine
from vigil.detect.profile import ProfileJudge, SiteProfile
from vigil.ingest.parser import build_parser
from vigil.simulate.mutations import MUTATIONS, mutate
from vigil.simulate.scenarios import format_combined
from vigil.simulate.site import ENDPOINTS, site_day

BATCH = 2048
MEDIUM = 0.5
print = functools.partial(print, flush=True)


def parse(lines: list[str], name: str) -> list[LogRecord]:
    parser = build_parser("combined")
    records: list[LogRecord] = []
    for start in range(0, len(lines), BATCH):
        chunk = [line.encode() for line in lines[start : start + BATCH]]
        offsets = list(range(start, start + len(chunk)))
        result = parser.parse_batch(LineBatch(name, name, chunk, offsets, start + len(chunk)))
        if result.dead_letters:
            raise SystemExit(f"{name}: {len(result.dead_letters)} lines did not parse")
        records.extend(result.records)
    return records


def rule_scores(engine: DetectionEngine, records: list[LogRecord]) -> list[float]:
    scores: list[float] = []
    for start in range(0, len(records), BATCH):
        scores.extend(d.score for d in engine.detect_batch(records[start : start + BATCH]))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=150_000, help="requests per day")
    parser.add_argument("--per-class", type=int, default=1_000, help="anomalies per class")
    parser.add_argument("--learn-seed", type=int, default=101)
    parser.add_argument("--test-seed", type=int, default=202)
    parser.add_argument("--mutation-seed", type=int, default=303)
    parser.add_argument("--show", type=int, default=3, help="misses shown per class")
    args = parser.parse_args()

    settings = load_settings(detection_mode="rules")
    engine = DetectionEngine.from_section(settings.rules)
    print(f"site: {ENDPOINTS} endpoints; {args.lines:,} requests a day")

    day_a = site_day(args.lines, day_seed=args.learn_seed, start=datetime(2024, 10, 1, tzinfo=UTC))
    records_a = parse([format_combined(r) for r in day_a], "day-a")
    started = time.perf_counter()
    rules_a = rule_scores(engine, records_a)
    normal_a = [
        r
        for r, score in zip(records_a, rules_a, strict=True)
        if score < MEDIUM and r.status is not None and 200 <= r.status < 400
    ]
    profile = SiteProfile("bench")
    profile.learn_records(normal_a)
    profile.trained = True
    profile.version += 1
    learn_seconds = time.perf_counter() - started
    print(
        f"learned {len(normal_a):,} of {len(records_a):,} requests in {learn_seconds:.1f} s "
        f"(rules included): {len(profile.endpoints)} endpoints, {profile.param_count} "
        f"parameter models, {profile.client_count():,} clients"
    )

    day_b = site_day(args.lines, day_seed=args.test_seed, start=datetime(2024, 10, 2, tzinfo=UTC))
    anomalies = mutate(day_b, args.per_class, args.mutation_seed)
    records_b = parse([format_combined(r) for r in day_b], "day-b")
    records_m = parse([format_combined(r) for _, r in anomalies], "mutations")
    labels = [label for label, _ in anomalies]

    judge = ProfileJudge(profile)
    started = time.perf_counter()
    profile_b = [v.score for v in judge.judge_batch(records_b)]
    judged = time.perf_counter() - started
    verdicts_m = judge.judge_batch(records_m)
    profile_m = [v.score for v in verdicts_m]
    rules_b = rule_scores(engine, records_b)
    rules_m = rule_scores(engine, records_m)
    print(f"judged day B: {len(records_b) / judged:,.0f} requests/s (profile stage alone)")

    def rate(scores: list[float]) -> float:
        return sum(s >= MEDIUM for s in scores) / max(1, len(scores))

    fused_b = list(map(max, profile_b, rules_b))
    fused_m = list(map(max, profile_m, rules_m))
    print(f"\nnormal requests of day B flagged ({len(records_b):,}; target ≤ 0.2 %):")
    for name, scores in (("profile", profile_b), ("rules", rules_b), ("fused", fused_b)):
        print(f"  {name:8} {100 * rate(scores):6.3f} %  ({sum(s >= MEDIUM for s in scores):,})")
    print(f"\nanomalies flagged ({len(records_m):,}; target ≥ 95 %):")
    print(f"  {'class':20} {'profile':>8} {'rules':>8} {'fused':>8}")
    for cls in MUTATIONS:
        idx = [i for i, label in enumerate(labels) if label == cls]
        cells = [100 * rate([scores[i] for i in idx]) for scores in (profile_m, rules_m, fused_m)]
        print(f"  {cls:20} {cells[0]:7.1f}% {cells[1]:7.1f}% {cells[2]:7.1f}%")
    totals = [100 * rate(scores) for scores in (profile_m, rules_m, fused_m)]
    print(f"  {'all':20} {totals[0]:7.1f}% {totals[1]:7.1f}% {totals[2]:7.1f}%")

    flagged_normal = [
        (r, v) for r, v in zip(records_b, judge.judge_batch(records_b), strict=True)
        if v.score >= MEDIUM
    ]  # fmt: skip
    if flagged_normal:
        print("\nnormal requests the profile flags (first 5):")
        for record, verdict in flagged_normal[:5]:
            print(f"  {record.method} {record.target[:100]}  {verdict.reasons[0]}")
    misses: Counter[str] = Counter()
    print("\nanomalies missed by both (a few per class):")
    for label, record, p, r in zip(labels, records_m, profile_m, rules_m, strict=True):
        if max(p, r) < MEDIUM and misses[label] < args.show:
            misses[label] += 1
            print(f"  {label:20} {record.method} {record.target[:100]} ({record.status})")
    example = next(
        (v for v, label in zip(verdicts_m, labels, strict=True) if label == "unknown-param"), None
    )
    if example is not None:
        print(f"\nan unknown parameter, as an event says it: {example.reasons[0]}")


if __name__ == "__main__":
    main()
