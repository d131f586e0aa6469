"""A bad night for `vigil serve`: kills and rotations while a log is written, nothing lost.

`vigil serve` watches the plain path `access.log` (not a glob) while a writer appends
numbered SQL-injection lines at `--rate` lines a second for `--seconds`; the process is
killed with SIGKILL `--kills` times at random moments and restarted after a pause of one to
three seconds, and the log is rotated `--rotations` times, at least once while vigil is down.
Every line becomes one event carrying its number, so the stored events say which lines were
stored and how often (a line read twice under two file ids would show).

Modes:
  rename        logrotate `create` + `compress` + `delaycompress` (the second rotation
                compresses the first to access.log.2.gz): every line stored exactly once.
  copytruncate  the writer goes on writing between the copy and the truncate: exactly the
                lines in a range vigil reports as unrecoverable may be missing, each reported
                range must start at or after the copy's end, and nothing else may be missing.

    python benchmarks/bench_restarts.py                       # both modes, 30 s at 2,000/s
    python benchmarks/bench_restarts.py --mode rename --seconds 60 --postgres

The database is a fresh SQLite file in the work directory, or with `--postgres` a fresh
database on VIGIL_TEST_POSTGRES_URL (dropped afterwards). Exit status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.restart_scenario import Mode, describe, run_scenario


@asynccontextmanager
async def database(workdir: Path, postgres: bool) -> AsyncIterator[str]:
    if not postgres:
        yield f"sqlite+aiosqlite:///{workdir / 'vigil.db'}"
        return
    os.environ.setdefault("VIGIL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    from tests.conftest import fresh_postgres

    async with fresh_postgres() as url:
        yield url


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["rename", "copytruncate", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the writer writes")
    parser.add_argument("--rate", type=int, default=2000, help="lines a second")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--rotations", type=int, default=2)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None, help="kept afterwards if given")
    args = parser.parse_args()
    modes: list[Mode] = ["rename", "copytruncate"] if args.mode == "both" else [args.mode]
    failed = False
    for mode in modes:
        with tempfile.TemporaryDirectory(prefix="vigil-restarts-") as scratch:
            workdir = (args.workdir or Path(scratch)) / mode
            workdir.mkdir(parents=True, exist_ok=True)
            started = time.monotonic()
            async with database(workdir, args.postgres) as url:
                result = await run_scenario(
                    workdir,
                    url,
                    mode=mode,
                    seconds=args.seconds,
                    rate=args.rate,
                    kills=args.kills,
                    rotations=args.rotations,
                    seed=args.seed,
                    say=lambda message: print(f"  {message}", flush=True),
                )
            backend = "postgresql" if args.postgres else "sqlite"
            print(f"== {mode} on {backend}, {time.monotonic() - started:.0f} s in all")
            for line in describe(result):
                print(line)
            print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            failed = failed or not result.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
