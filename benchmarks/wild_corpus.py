"""Writes the development corpora's log lines of one split (see `vigil.training.wild`).

python benchmarks/wild_corpus.py --split reporting --benign 1000000 --out benchmarks/data
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vigil.training.train import default_datasets_root
from vigil.training.wild import SPLITS, write_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=SPLITS, default="reporting")
    parser.add_argument("--benign", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    args = parser.parse_args()
    log_path, labels_path = write_corpus(
        args.out, args.split, args.benign, root=default_datasets_root()
    )
    print(f"wrote {log_path} and {labels_path}")


if __name__ == "__main__":
    main()
