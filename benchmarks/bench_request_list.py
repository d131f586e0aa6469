"""Judge a list of request targets (or user agents) written by hand: which are flagged.

    python benchmarks/bench_request_list.py benchmarks/techniques/probe-paths.txt --status 404
    python benchmarks/bench_request_list.py benchmarks/techniques/benign-targets.txt \
        --expect benign --status 200
    python benchmarks/bench_request_list.py benchmarks/techniques/benign-agents.txt \
        --agents --expect benign --status 200
    python benchmarks/bench_request_list.py my-referers.txt --referers

Each line becomes one combined-format log line (GET of the target, or of /products?id=12 with
the line as its user agent or its referer), answered --status. Rules and the hybrid models
judge every line; the lines whose verdict differs from --expect are printed with the rules that
fired. As in the pipeline, probe rules are judged with the answer and what the site was seen
serving.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from verdicts import Verdicts, parse_lines
from vigil.ingest.parser import build_parser
from vigil.simulate.traffic import nginx_escape

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)


def _line(index: int, item: str, field: str, status: int) -> bytes:
    target, agent, referer = "/products?id=12", BROWSER, "-"
    if field == "agent":
        agent = item
    elif field == "referer":
        referer = item
    else:
        target = item
    return (
        f"198.51.100.{index % 250 + 1} - - [10/Oct/2024:13:55:36 +0000] "
        f'"GET {nginx_escape(target)} HTTP/1.1" {status} 5120 "{nginx_escape(referer)}" '
        f'"{nginx_escape(agent)}"'
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--agents", action="store_true", help="lines are user agents")
    parser.add_argument("--referers", action="store_true", help="lines are referers")
    parser.add_argument("--status", type=int, default=404)
    parser.add_argument("--expect", choices=("attack", "benign"), default="attack")
    args = parser.parse_args()

    items = [line for line in args.path.read_text(encoding="utf-8").splitlines() if line]
    field = "agent" if args.agents else "referer" if args.referers else "target"
    lines = [_line(i, item, field, args.status) for i, item in enumerate(items)]
    records = parse_lines(build_parser("combined"), lines)
    detections, scores = Verdicts().judge(records)
    flagged = {"rules": 0, "hybrid": 0}
    for item, detection, score in zip(items, detections, scores, strict=True):
        rules_hit, hybrid_hit = detection.score >= 0.5, score >= 0.5
        flagged["rules"] += rules_hit
        flagged["hybrid"] += hybrid_hit
        if hybrid_hit != (args.expect == "attack"):
            fired = sorted({m.rule_id for m in detection.matches})
            print(f"  {detection.score:.2f} {score:.2f}  {item[:100]}  {fired}")
    for mode, count in flagged.items():
        print(f"{mode}: {count}/{len(items)} flagged ({args.status}, expected {args.expect})")


if __name__ == "__main__":
    main()
