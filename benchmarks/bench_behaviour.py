"""Behaviour detection: quality on every scenario, memory per tracked client, and throughput.

1. Every scenario of `vigil.simulate.scenarios`, mixed into benign background traffic, written
   as combined log lines, parsed with the real parser and fed to the engine in batches of 2048:
   whether it was caught, by which detectors, how long after its first line (event time), and
   how many events landed on benign lines (target: zero).
   Then every low-and-slow scenario (botnets over days) over three days of background: the
   share of its clients blocked (named by a HIGH event, which the block policy turns into a
   decision; target >= 95%), the time from its first line to its first block and the median
   time from a client's first request to its block, and events naming any benign client on
   the slow near misses (target: zero).
2. Bytes per tracked client (tracemalloc) for light clients (a page and its assets) and heavy
   ones (both window generations filled, samples, login counters, an open episode, and long
   windows and campaign targets: 404s, failed logins and a probe over a day; target <= 4 KB).
3. `process_batch` throughput on the seeded 1,000,000-line log (`benchmarks/gen_log.py`),
   parsed first; only the behaviour stage is timed.

    python benchmarks/bench_behaviour.py [--lines N] [--clients N] [--runs N] [--skip-throughput]
"""

from __future__ import annotations

import argparse
import functools
import gc
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vigil.batch import LineBatch, LogRecord
from vigil.detect.behaviour import BehaviourEngine
from vigil.ingest.parser import build_parser
from vigil.severity import HIGH_FROM
from vigil.simulate.scenarios import (
    BACKGROUND,
    BENIGN,
    NEAR_MISSES,
    REGISTRY,
    SCENARIOS,
    SLOW_BACKGROUND,
    SLOW_NEAR_MISSES,
    SLOW_SCENARIOS,
    ScenarioLine,
    combined_lines,
)
from vigil.simulate.traffic import write_log

BATCH = 2048
# Flush every line so progress shows while the benchmark runs.
print = functools.partial(print, flush=True)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LOG = Path("benchmarks/data/bench-1m.log")


def parse_lines(texts: list[bytes], name: str) -> list[LogRecord]:
    """Records of `texts` through the real combined-format parser, in batches."""
    parser = build_parser("combined")
    records: list[LogRecord] = []
    for start in range(0, len(texts), BATCH):
        chunk = texts[start : start + BATCH]
        offsets = list(range(start, start + len(chunk)))
        result = parser.parse_batch(LineBatch(name, name, chunk, offsets, start + len(chunk)))
        if result.dead_letters:
            raise SystemExit(f"{name}: {len(result.dead_letters)} lines did not parse")
        records.extend(result.records)
    return records


def play(name: str, seed: int) -> dict[str, object]:
    """One scenario over background traffic; what the engine made of it."""
    names = [name] if name == BACKGROUND else [name, BACKGROUND]
    lines: list[ScenarioLine] = combined_lines(names, START, seed)
    records = parse_lines([line.text.encode() for line in lines], name)
    engine = BehaviourEngine()
    fired: Counter[str] = Counter()
    first_event: datetime | None = None
    benign_events = 0
    for start in range(0, len(records), BATCH):
        for event in engine.process_batch(records[start : start + BATCH]):
            line = lines[start + event.record_index]
            if line.label == BENIGN:
                benign_events += 1
                continue
            fired[event.detector] += 1
            if first_event is None:
                first_event = line.request.at
    attack_times = [line.request.at for line in lines if line.label != BENIGN]
    ttd: timedelta | None = None
    if first_event is not None and attack_times:
        ttd = first_event - min(attack_times)
    expected = set(REGISTRY[name].expects)
    return {
        "lines": len(lines),
        "attack_lines": len(attack_times),
        "caught": bool(expected) and expected <= set(fired),
        "fired": dict(fired),
        "ttd": ttd,
        "benign_events": benign_events,
    }


def quality(seed: int) -> None:
    print(f"== detection quality (each scenario over background traffic, seed {seed}) ==")
    print(
        f"{'scenario':<22}{'lines':>7}{'attack':>8}  {'detected':<9}{'time-to-detect':>15}  "
        f"{'benign events':>13}  detectors fired (attack lines)"
    )
    total_benign = 0
    for name in (*SCENARIOS, *NEAR_MISSES, BACKGROUND):
        row = play(name, seed)
        total_benign += int(row["benign_events"])  # type: ignore[call-overload]
        kind = REGISTRY[name].kind
        detected = ("yes" if row["caught"] else "NO") if kind == "attack" else "-"
        ttd = row["ttd"]
        ttd_text = f"{ttd.total_seconds():.0f} s" if isinstance(ttd, timedelta) else "-"
        fired = ", ".join(f"{d} x{n}" for d, n in sorted(row["fired"].items())) or "-"  # type: ignore[attr-defined]
        print(
            f"{name:<22}{row['lines']:>7}{row['attack_lines']:>8}  {detected:<9}{ttd_text:>15}  "
            f"{row['benign_events']:>13}  {fired}"
        )
    print(f"behaviour events on benign lines, all scenarios: {total_benign} (target 0)")


def play_slow(name: str, seed: int) -> dict[str, object]:
    """One low-and-slow scenario over three days of background: which clients were blocked
    and when, and events naming benign clients."""
    names = [name] if name == SLOW_BACKGROUND else [name, SLOW_BACKGROUND]
    lines = combined_lines(names, START, seed)
    records = parse_lines([line.text.encode() for line in lines], name)
    attackers: dict[str, datetime] = {}
    for line in lines:
        if line.label != BENIGN:
            attackers.setdefault(line.request.client_ip, line.request.at)
    engine = BehaviourEngine()
    fired: Counter[str] = Counter()
    blocked: dict[str, datetime] = {}
    benign_events = 0
    started = time.perf_counter()
    for start in range(0, len(records), BATCH):
        for event in engine.process_batch(records[start : start + BATCH]):
            if event.client_ip not in attackers:
                benign_events += 1
                continue
            fired[event.detector] += 1
            if event.score >= HIGH_FROM and event.observed_at is not None:
                blocked.setdefault(event.client_ip, event.observed_at)
    seconds = time.perf_counter() - started
    first_line = min(attackers.values()) if attackers else None
    delays = sorted((blocked[ip] - attackers[ip]).total_seconds() for ip in blocked)
    return {
        "lines": len(lines),
        "clients": len(attackers),
        "blocked": len(blocked),
        "first_block": (min(blocked.values()) - first_line) if blocked and first_line else None,
        "median_delay": delays[len(delays) // 2] if delays else None,
        "fired": dict(fired),
        "benign_events": benign_events,
        "seconds": seconds,
        "stats": engine.stats(),
    }


def _hours(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 3600:.1f} h"


def slow_quality(seed: int) -> bool:
    print(f"\n== low and slow (over {SLOW_BACKGROUND}, seed {seed}) ==")
    print(
        f"{'scenario':<20}{'lines':>7}{'clients':>8}{'blocked':>9}  {'first block':>11}"
        f"{'median/client':>14}  {'benign events':>13}  detectors fired (attack clients)"
    )
    ok = True
    for name in (*SLOW_SCENARIOS, *SLOW_NEAR_MISSES, SLOW_BACKGROUND):
        row = play_slow(name, seed)
        clients = int(row["clients"])  # type: ignore[call-overload]
        blocked = int(row["blocked"])  # type: ignore[call-overload]
        share = f"{100 * blocked / clients:.1f}%" if clients else "-"
        first = row["first_block"]
        first_text = _hours(first.total_seconds()) if isinstance(first, timedelta) else "-"
        fired = ", ".join(f"{d} x{n}" for d, n in sorted(row["fired"].items())) or "-"  # type: ignore[attr-defined]
        benign = int(row["benign_events"])  # type: ignore[call-overload]
        if (clients and blocked < 0.95 * clients) or benign:
            ok = False
        print(
            f"{name:<20}{row['lines']:>7}{clients:>8}{share:>9}  {first_text:>11}"
            f"{_hours(row['median_delay']):>14}  {benign:>13}  {fired}"  # type: ignore[arg-type]
        )
    print(f"every slow scenario >= 95% blocked and 0 events on near misses: {ok}")
    return ok


def _light(n: int) -> list[LogRecord]:
    """A page and two assets from each of `n` clients."""
    agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
    out = []
    for i in range(n):
        ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        at = START + timedelta(seconds=i * 60 / n)
        for path in (f"/products/{i % 900}", "/static/css/site.css", "/static/js/app.js"):
            out.append(
                LogRecord(
                    "m", "m", i, ip, at, "GET", path, path, "", "HTTP/1.1", 200, 4000, "", agent
                )
            )
    return out


def _heavy(n: int) -> list[LogRecord]:
    """Each of `n` clients busy across both generations: misses, logins, probes, 3 agents."""
    out = []
    for i in range(n):
        ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        for k in range(24):
            at = START + timedelta(seconds=k * 20 + i * 10 / n)
            path = "/login" if k % 6 == 0 else "/.env" if k == 5 else f"/p/{i}-{k}"
            status = 200 if k % 3 else 404
            method = "POST" if path == "/login" else "GET"
            out.append(
                LogRecord(
                    "m",
                    "m",
                    i,
                    ip,
                    at,
                    method,
                    path,
                    path,
                    "",
                    "HTTP/1.1",
                    status,
                    900,
                    "",
                    f"agent-{k % 3}",
                )
            )
    out.sort(key=lambda r: r.observed_at or START)
    return out


def _busy(n: int) -> list[LogRecord]:
    """A day of slow failing requests from each client (a 404 on a template all share, failed
    logins, probes), then `_heavy`'s burst: at the end every client holds both its long
    windows and campaign entries and full short windows."""
    slow = []
    for i in range(n):
        ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        for k in range(12):
            at = START - timedelta(days=1) + timedelta(seconds=k * 7000 + i * 10 / n)
            path, method, status = (
                ("/xmlrpc.php", "POST", 404)
                if k % 3 == 0
                else ("/login", "POST", 401)
                if k % 3 == 1
                else (f"/backup-{k}.sql", "GET", 404)
            )
            slow.append(
                LogRecord(
                    "m", "m", i, ip, at, method, path, path, "", "HTTP/1.1", status, 150, "", "bot"
                )
            )
    slow.sort(key=lambda r: r.observed_at or START)
    return slow + _heavy(n)


def memory(clients: int) -> None:
    print(f"\n== memory per tracked client ({clients:,} clients, tracemalloc) ==")
    for label, build in (
        ("light (page + 2 assets)", _light),
        ("heavy (24 requests, logins, misses, 3 agents)", _heavy),
        ("busy (heavy + a day of slow failures: long windows, campaign)", _busy),
    ):
        records = build(clients)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        engine = BehaviourEngine(max_clients=clients)
        for start in range(0, len(records), BATCH):
            engine.process_batch(records[start : start + BATCH])
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        tracked = engine.tracked_clients()
        # Path and agent caches are shared, bounded and not per client; they are included.
        # A client counts once whether it is held in the short windows, the long ones or both.
        tracked = max(tracked, engine.stats()["long_window_clients"])
        print(
            f"{label:<45} tracked {tracked:>8,}  {(after - before) / tracked:>7.0f} bytes/client"
            f"  ({(after - before) / 2**20:.1f} MiB)"
        )
        del engine, records


def read_batches(path: Path, limit: int) -> list[LineBatch]:
    """The file's first `limit` lines in batches of 2048, as a file source would give them."""
    batches: list[LineBatch] = []
    lines: list[bytes] = []
    with path.open("rb") as handle:
        for count, raw in enumerate(handle):
            if count >= limit:
                break
            lines.append(raw.rstrip(b"\n"))
            if len(lines) == BATCH:
                batches.append(LineBatch(path.name, path.name, lines, [0] * len(lines), 0))
                lines = []
    if lines:
        batches.append(LineBatch(path.name, path.name, lines, [0] * len(lines), 0))
    return batches


def throughput(lines: int, runs: int) -> None:
    print(f"\n== throughput of process_batch ({lines:,} records of {LOG}) ==")
    if not LOG.exists():
        print(f"writing {LOG} (benchmarks/gen_log.py defaults)")
        LOG.parent.mkdir(parents=True, exist_ok=True)
        write_log(LOG, 1_000_000, 42)
    batches = read_batches(LOG, lines)
    parser = build_parser("combined")
    best = 0.0
    for run in range(runs):
        engine = BehaviourEngine()
        events = records = 0
        parse_seconds = seconds = cpu_seconds = 0.0
        gc.collect()
        for batch in batches:
            # As in the pipeline, each batch is parsed right before the stage sees it; only
            # the behaviour stage is timed.
            started = time.perf_counter()
            parsed = parser.parse_batch(batch).records
            middle = time.perf_counter()
            cpu = time.process_time()
            events += len(engine.process_batch(parsed))
            seconds += time.perf_counter() - middle
            cpu_seconds += time.process_time() - cpu
            parse_seconds += middle - started
            records += len(parsed)
        rate = records / seconds
        best = max(best, rate, records / cpu_seconds)
        stats = engine.stats()
        # On a shared machine the wall clock includes waiting for a core; CPU time does not.
        print(
            f"run {run + 1}: behaviour {seconds:.2f} s wall = {rate:,.0f} records/s, "
            f"{cpu_seconds:.2f} s CPU = {records / cpu_seconds:,.0f} records/s "
            f"(parsing took {parse_seconds:.1f} s, not counted); {events} events, "
            f"{stats['tracked_clients']:,} clients tracked, {stats['evicted']:,} evicted, "
            f"{stats['expired']:,} expired"
        )
    print(f"best: {best:,.0f} records/s of CPU time (target >= 500,000)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=1, help="throughput runs (best is kept)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    if not args.skip_quality:
        quality(args.seed)
        slow_quality(args.seed)
    memory(args.clients)
    if not args.skip_throughput:
        throughput(args.lines, args.runs)


if __name__ == "__main__":
    main()
