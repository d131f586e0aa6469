"""Retention on PostgreSQL: how long pruning one day of 330,000 events takes, and whether any
reader waits for it.

    python benchmarks/bench_prune.py --postgres postgresql://postgres@127.0.0.1:5432/test

Creates a throwaway database, loads --events events on a day past VIGIL_RETENTION_DAYS (by
`month_loader.py`) and a few thousand on yesterday through the store path, then runs
`vigil.db.retention.prune` while two readers query the events table without pause (newest page
across every partition, and a count over yesterday), each on its own connection. Prints the
prune time, the partitions it dropped and each reader's slowest query during the prune next to
its usual latency.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pgtools
from bench_api import admin_url, replay
from month_loader import client_pool, fast_load, templates
from vigil.batch import ScoredBatch
from vigil.config import load_settings
from vigil.db import migrate
from vigil.db.retention import prune
from vigil.db.session import close_db, configure_db, get_engine
from vigil.sinks.store import StoreSink

BATCH = 20_000


async def store_day(sink: StoreSink, day: datetime, events: int, first_offset: int) -> None:
    shapes = templates(5_000)
    ips, weights = client_pool(random.Random(1))
    step = 86_000 / events
    done = 0
    while done < events:
        rng = random.Random(first_offset + done)
        n = min(BATCH, events - done)
        clients = rng.choices(ips, weights, k=n)
        threats = []
        minutes: dict[datetime, Counter[str]] = {}
        for i in range(n):
            when = day + timedelta(seconds=(done + i) * step)
            shape = shapes[rng.randrange(len(shapes))]
            offset = first_offset + done + i
            threats.append(replay(shape, "prune", offset, clients[i], when))
            minutes.setdefault(when.replace(second=0, microsecond=0), Counter())["requests"] += 1
        await sink.store(
            ScoredBatch(
                source="prune",
                file_id="bench",
                end_offset=first_offset + done + n,
                site="shop",
                lines=n,
                records=n,
                malformed=0,
                threats=threats,
                dead_letters=[],
                counters=minutes,
            )
        )
        done += n


async def reader(
    url: str, sql: str, stop: asyncio.Event, timings: list[tuple[float, float]]
) -> None:
    conn = await pgtools.connect(url)
    try:
        while not stop.is_set():
            started = time.perf_counter()
            await conn.fetch(sql)
            timings.append((started, time.perf_counter() - started))
            await asyncio.sleep(0.005)
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> None:
    admin = admin_url(args.postgres)
    name, url = await pgtools.create_database(admin)
    try:
        settings = load_settings(database_url=url, retention_days=30, rollup_retention_days=400)
        await asyncio.to_thread(migrate.upgrade, "head", settings)
        configure_db(settings)
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        old_day = today - timedelta(days=40)
        sink = StoreSink(settings, messages=False)
        started = time.perf_counter()
        # The old day by the fast loader (the rows, incidents and rollups the store would
        # write), yesterday through the store path.
        await fast_load(url, args.events, old_day + timedelta(days=1), parts=2, days_before=1)
        await store_day(sink, today - timedelta(days=1), args.recent, args.events)
        await sink.analyze_changed(minimum=1)
        print(f"stored {args.events:,} events on {old_day.date()} and {args.recent:,} on "
              f"yesterday in {time.perf_counter() - started:.0f} s")  # fmt: skip
        readers = {
            "newest page, every partition": (
                "SELECT id, observed_at FROM threat_events ORDER BY observed_at DESC, id DESC "
                "LIMIT 50"
            ),
            "count over yesterday": (
                "SELECT count(*) FROM threat_events WHERE observed_at >= now() - interval '2 days'"
            ),
        }
        stop = asyncio.Event()
        timings: dict[str, list[tuple[float, float]]] = {key: [] for key in readers}
        tasks = [
            asyncio.create_task(reader(url, sql, stop, timings[key]))
            for key, sql in readers.items()
        ]
        await asyncio.sleep(2.0)
        began = time.perf_counter()
        report = await prune(get_engine(), settings)
        ended = time.perf_counter()
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*tasks)
        print(f"prune: {report.seconds:.3f} s in all, of which {report.partition_seconds:.3f} s "
              f"detaching and dropping {report.partitions_dropped}; rows deleted "
              f"{report.rows_deleted}")  # fmt: skip
        for key, samples in timings.items():
            before = [d for t, d in samples if t < began]
            during = [d for t, d in samples if t < ended and t + d >= began]
            print(
                f"reader '{key}': usual median {statistics.median(before) * 1000:.1f} ms, "
                f"slowest during the prune {max(during, default=0) * 1000:.1f} ms "
                f"({len(during)} queries)"
            )
    finally:
        await close_db()
        configure_db(None)
        await pgtools.drop_database(admin, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--events", type=int, default=330_000)
    parser.add_argument("--recent", type=int, default=20_000)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
