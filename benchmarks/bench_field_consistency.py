"""Field consistency: does a payload get the same verdict in every field an attacker controls?

Every tuning-split payload of the chosen families (and, with ``--extra``, payloads of your own,
one ``family<TAB>payload`` a line) is placed in each field the way the wild corpus places it
(`vigil.training.wild.place`: argument, path segment, raw query, cookie, user agent, referer
argument, X-Forwarded-For, another header), twice with different random choices (parameter,
encoding, referer host). Rules and hybrid judge every request; the payloads flagged in some
fields and missed in others are listed with the rules that fired where they were flagged.

    python benchmarks/bench_field_consistency.py --families xss,cmdi,ssti,ssrf --mode rules

A payload missed in the raw query only is expected when it holds its own ``&`` or ``=``.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path

from verdicts import Verdicts, parse_lines
from vigil.ingest.parser import build_parser
from vigil.training import wild
from vigil.training.train import default_datasets_root

FIELDS = ("arg", "path_segment", "query", "cookie", "user_agent", "referer", "xff", "header")
PLACINGS = 2
BATCH = 2000


def _payloads(families: set[str], extra: Path | None) -> list[tuple[str, str]]:
    root = default_datasets_root()
    out = [(f, p) for _, f, p in wild.load_payloads(root, "tuning") if f in families]
    if extra is not None:
        for line in extra.read_text(encoding="utf-8").splitlines():
            family, _, payload = line.partition("\t")
            if payload:
                out.append((family, payload))
    return out


def _lines(payloads: list[tuple[str, str]]) -> list[bytes]:
    lines: list[bytes] = []
    when = wild.START
    for index, (family, payload) in enumerate(payloads):
        for where in FIELDS:
            for placing in range(PLACINGS):
                rng = random.Random(f"{index}:{where}:{placing}")
                pieces = wild.place(payload, family, where, rng)
                when += timedelta(seconds=1)
                line = wild._json_line(
                    wild._ip(rng), when, pieces.method, pieces.target, pieces.status,
                    agent=pieces.agent, referer=pieces.referer, cookie=pieces.cookie,
                    xff=pieces.xff, headers=pieces.headers,
                )  # fmt: skip
                lines.append(line.encode())
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", default="xss,cmdi,ssti,ssrf")
    parser.add_argument("--extra", type=Path, help="family<TAB>payload lines of your own")
    parser.add_argument("--mode", choices=("rules", "hybrid"), default="hybrid")
    parser.add_argument("--examples", type=int, default=40)
    args = parser.parse_args()

    payloads = _payloads(set(args.families.split(",")), args.extra)
    lines = _lines(payloads)
    verdicts = Verdicts(hybrid=args.mode == "hybrid")
    log = build_parser(wild.LOG_FORMAT)
    flagged: list[bool] = []
    fired: list[str] = []
    for start in range(0, len(lines), BATCH):
        records = parse_lines(log, lines[start : start + BATCH], start)
        detections, scores = verdicts.judge(records)
        flagged.extend(score >= 0.5 for score in scores)
        fired.extend(",".join(sorted({m.rule_id for m in d.matches})) for d in detections)

    per_payload = len(FIELDS) * PLACINGS
    missed: Counter[tuple[str, str]] = Counter()
    total: Counter[tuple[str, str]] = Counter()
    differing = 0
    everywhere: list[str] = []
    for index, (family, payload) in enumerate(payloads):
        base = index * per_payload
        verdicts = flagged[base : base + per_payload]
        for k, verdict in enumerate(verdicts):
            where = FIELDS[k // PLACINGS]
            total[(family, where)] += 1
            missed[(family, where)] += not verdict
        if not any(verdicts):
            everywhere.append(f"[{family}] {payload[:110]!r}")
        if len(set(verdicts)) < 2:
            continue
        differing += 1
        if differing > args.examples:
            continue
        lost = sorted({FIELDS[k // PLACINGS] for k, v in enumerate(verdicts) if not v})
        rules = sorted({fired[base + k] for k, v in enumerate(verdicts) if v} - {""})
        print(f"[{family}] {payload[:110]!r}\n    missed in {lost}; flagged elsewhere by {rules}")
    if everywhere:
        print(f"\nmissed in every field ({len(everywhere)}):")
        print("\n".join(f"  {line}" for line in everywhere[: args.examples]))
    print(f"\n{differing} of {len(payloads)} payloads differ between fields ({args.mode})")
    print("misses per family and field:")
    for family in sorted({f for f, _ in payloads}):
        row = "  ".join(f"{w}:{missed[(family, w)]}/{total[(family, w)]}" for w in FIELDS)
        print(f"  {family:<8} {row}")


if __name__ == "__main__":
    main()
