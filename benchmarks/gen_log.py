"""Write a seeded synthetic combined-format access log for benchmarks.

python benchmarks/gen_log.py --lines 1000000 --seed 42 --out benchmarks/data/bench-1m.log
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from vigil.simulate.traffic import write_log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/data/bench-1m.log"))
    parser.add_argument("--labels", type=Path, default=None, help="also write one label a line")
    parser.add_argument("--attack-ratio", type=float, default=0.05)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    counts = write_log(
        args.out, args.lines, args.seed, labels_path=args.labels, attack_ratio=args.attack_ratio
    )
    seconds = time.perf_counter() - started
    attacks = sum(count for label, count in counts.items() if label != "benign")
    print(f"wrote {args.lines:,} lines to {args.out} in {seconds:.1f} s")
    print(f"attacks: {attacks:,} ({attacks / max(args.lines, 1):.1%})")
    for label, count in sorted(counts.items(), key=lambda item: -item[1]):
        print(f"  {label:<20} {count:>9,}")


if __name__ == "__main__":
    main()
