"""A flood: every line an attack, from many clients, stored into PostgreSQL by `vigil scan`.

    python benchmarks/bench_flood.py --postgres postgresql://postgres@127.0.0.1:5432/test
    python benchmarks/bench_flood.py --lines 200000 --clients 2000   # a smaller flood

Writes (once, seeded) a log of --lines attack lines from the generator's attack families, each
from one of --clients addresses, creates a throwaway database, migrates it, and runs the real
command in a subprocess. Prints events/s from process start to exit, the peak RSS of the scan's
processes (the main one, the helper, and both at once, sampled every 50 ms), and checks that
every flagged line was stored exactly once (stored events = the scan's threats, one row per
event key, and rollup totals equal to the events). The same flood through `vigil serve` is
`bench_serve.py --attacks all`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pgtools

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"


def flood_log(path: Path, lines: int, clients: int, seed: int = 7) -> None:
    """`lines` attack lines (the generator's families) from `clients` addresses."""
    from vigil.simulate.traffic import generate

    rng = random.Random(seed)
    firsts = (23, 45, 62, 81, 94, 103, 151, 185, 193, 212)
    pool = [
        f"{rng.choice(firsts)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        for _ in range(clients)
    ]
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        chunk: list[str] = []
        for item in generate(lines, seed, attack_ratio=1.0):
            text = item.text
            chunk.append(pool[rng.randrange(clients)] + text[text.index(" ") :] + "\n")
            if len(chunk) >= 10_000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))
    tmp.replace(path)


def _cpu_seconds(pid: str) -> float | None:
    """User + system CPU seconds of a process so far (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backends(database: str) -> list[str]:
    """The PostgreSQL server processes serving `database` (their titles name it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"postgres: ") and f" {database} ".encode() in title:
            found.append(entry.name)
    return found


def _tree_rss_kib(pid: int) -> tuple[int, int]:
    """RSS of `pid` and of `pid` with its children, in KiB."""
    own = total = 0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for index, proc in enumerate([str(pid), *children]):
        try:
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    value = int(line.split()[1])
                    total += value
                    if index == 0:
                        own = value
        except OSError:
            continue
    return own, total


class RssSampler(threading.Thread):
    """Peak RSS of the scan's processes every 50 ms; with `database`, also the CPU seconds of
    the scan's processes and of the PostgreSQL backends serving it (read every ~0.5 s, so the
    last half second of each may be missing). CPU seconds say more than wall time on a shared
    machine."""

    def __init__(self, pid: int, database: str | None = None) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.database = database
        self.peak_main = 0
        self.peak_total = 0
        self.cpu: dict[str, float] = {}
        self.backend_cpu: dict[str, float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        ticks = 0
        while not self.done.wait(0.05):
            own, total = _tree_rss_kib(self.pid)
            self.peak_main = max(self.peak_main, own)
            self.peak_total = max(self.peak_total, total)
            ticks += 1
            if self.database is not None and ticks % 10 == 0:
                self._cpu()

    def _cpu(self) -> None:
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        except OSError:
            children = []
        for pid in [str(self.pid), *children]:
            seconds = _cpu_seconds(pid)
            if seconds is not None:
                self.cpu[pid] = seconds
        for pid in _backends(self.database or ""):
            seconds = _cpu_seconds(pid)
            if seconds is not None:
                self.backend_cpu[pid] = seconds


async def _verify(db_url: str) -> dict[str, int]:
    conn = await pgtools.connect(db_url)
    try:
        return {
            "events": await conn.fetchval("SELECT count(*) FROM threat_events"),
            "distinct_keys": await conn.fetchval(
                "SELECT count(DISTINCT event_key) FROM threat_events"
            ),
            "rollup_events": await conn.fetchval(
                "SELECT coalesce(sum(events), 0) FROM threat_rollups "
                "WHERE period = 'd' AND dim = 'severity'"
            ),
            "incidents": await conn.fetchval("SELECT count(*) FROM incidents"),
            "decisions": await conn.fetchval("SELECT count(*) FROM decisions"),
            "partitions": await conn.fetchval(
                "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent "
                "WHERE p.relname = 'threat_events'"
            ),
        }
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--mode", choices=["rules", "hybrid"], default="rules")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    log = DATA / f"flood-{args.lines}-{args.clients}.log"
    if not log.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        flood_log(log, args.lines, args.clients)
        print(f"wrote {log.name} in {time.perf_counter() - started:.1f} s")
    name, db_url = asyncio.run(pgtools.create_database(args.postgres))
    env = pgtools.vigil_env(VIGIL_DATABASE_URL=db_url, VIGIL_DETECTION_MODE=args.mode)
    try:
        pgtools.migrate(env)
        started = time.perf_counter()
        scan = subprocess.Popen(
            [sys.executable, "-m", "vigil", "scan", str(log), "-o", "json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        sampler = RssSampler(scan.pid, name)
        sampler.start()
        stdout, stderr = scan.communicate()
        wall = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
        if scan.returncode != 0:
            print(stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"scan failed with exit code {scan.returncode}")
        summary = json.loads(stdout)
        found = asyncio.run(_verify(db_url))
        severities = summary["by_severity"]
        threats = sum(
            severities.get(k, 0)
            for k in ("HIGH", "MEDIUM", "HIGH (behaviour)", "MEDIUM (behaviour)")
        )
        print(f"vigil scan of a flood into PostgreSQL, mode={args.mode}, log={log.name}")
        print(f"  lines            {summary['lines']:,} from {args.clients:,} clients")
        print(f"  wall time        {wall:.2f} s (process start to exit)")
        print(
            f"  events stored    {found['events']:,} ({found['events'] / wall:,.0f} events/s wall)"
        )
        print(f"  lines/s (wall)   {summary['lines'] / wall:,.0f}")
        print(
            f"  peak RSS         main {sampler.peak_main / 1024:.0f} MiB, "
            f"main + helper {sampler.peak_total / 1024:.0f} MiB"
        )
        main_cpu = sampler.cpu.get(str(scan.pid), 0.0)
        helper_cpu = sum(v for k, v in sampler.cpu.items() if k != str(scan.pid))
        backend_cpu = sum(sampler.backend_cpu.values())
        print(
            f"  CPU seconds      main {main_cpu:.1f}, helper {helper_cpu:.1f}, PostgreSQL "
            f"backends {backend_cpu:.1f}, total {main_cpu + helper_cpu + backend_cpu:.1f} "
            f"({(main_cpu + helper_cpu + backend_cpu) / max(found['events'], 1) * 1e6:.0f} "
            f"us per event); load average {os.getloadavg()[0]:.1f}"
        )
        print(f"  severities       {severities}")
        print(f"  stage seconds    {summary['stage_seconds']}")
        print(
            f"  incidents        {found['incidents']:,}   decisions {found['decisions']:,}   "
            f"day partitions {found['partitions']}"
        )
        once = found["events"] == found["distinct_keys"] == threats == found["rollup_events"]
        print(
            f"  stored once      {'yes' if once else 'NO'}: threats {threats:,}, rows "
            f"{found['events']:,}, distinct keys {found['distinct_keys']:,}, rollup total "
            f"{found['rollup_events']:,}"
        )
        if not once:
            raise SystemExit(1)
    finally:
        if args.keep:
            print(f"  database kept: {name}")
        else:
            asyncio.run(pgtools.drop_database(args.postgres, name))


if __name__ == "__main__":
    main()
