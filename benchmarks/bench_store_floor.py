"""The database's floor under a flood: what PostgreSQL alone spends on the rows vigil writes.

    python benchmarks/bench_store_floor.py --postgres postgresql://postgres@127.0.0.1:5432/test
    python benchmarks/bench_store_floor.py --lines 300000 --clients 3000

`bench_flood.py` measures `vigil scan` end to end. This one asks how fast it could be at best on
this machine with the schema the API needs: it scans a flood (every line an attack) into a
throwaway database with the real command, reads back every row the scan wrote (events, their
`event_rules` rows, incidents), and loads the same rows into a second, freshly migrated database
with nothing but COPY, in transactions of the size the scan uses. No parsing, detection, row
building or incident bookkeeping happens in the reload, and incidents are inserted once in their
final state instead of being updated batch after batch, so its time is a lower bound for the
store.

It prints the reload's wall time and the PostgreSQL backend's CPU seconds, per event, and the
events/s the CPU budget of the machine's cores would allow if the database were the only cost.
With `--without-secondary-indexes` the reload is repeated with only the keys kept, to show what
the query indexes cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine

import pgtools
from bench_flood import DATA, flood_log
from vigil.db.partitions import Partitions, day_of

CHUNK = 8192
"""Events per transaction in the reload: the scan's transaction size (`STORE_MERGE_LINES`)."""
TABLES = ("threat_events", "event_rules", "incidents")
_READ = {
    "threat_events": "SELECT * FROM threat_events ORDER BY id",
    "event_rules": "SELECT * FROM event_rules ORDER BY event_id",
    "incidents": "SELECT * FROM incidents ORDER BY id",
}


def _backend_cpu(pid: int) -> float:
    """User + system CPU seconds of a PostgreSQL backend on this machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _scan_into(db_url: str, log: Path) -> None:
    env = pgtools.vigil_env(VIGIL_DATABASE_URL=db_url, VIGIL_DETECTION_MODE="rules")
    pgtools.migrate(env)
    subprocess.run(
        [sys.executable, "-m", "vigil", "scan", str(log), "-o", "json"],
        env=env,
        check=True,
        capture_output=True,
    )


async def _make_partitions(db_url: str, days: set[date]) -> None:
    """The day partitions the rows go to, made the way the store makes them."""
    engine = create_async_engine(db_url)
    try:
        await Partitions().ensure(engine, days)
    finally:
        await engine.dispose()


async def _read_rows(url: str) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    conn = await pgtools.connect(url)
    try:
        out: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
        for table, query in _READ.items():
            rows = await conn.fetch(query)
            columns = list(rows[0].keys()) if rows else []
            out[table] = (columns, [tuple(r.values()) for r in rows])
        return out
    finally:
        await conn.close()


async def _drop_secondary_indexes(url: str) -> int:
    """Drop every index of the three tables that is not a primary key or unique; how many."""
    conn = await pgtools.connect(url)
    try:
        names = await conn.fetch(
            """
            SELECT i.relname AS name FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            WHERE t.relname = ANY($1::text[]) AND NOT x.indisunique AND NOT x.indisprimary
            """,
            list(TABLES),
        )
        for row in names:
            # Names come from the catalog, quoted.
            await conn.execute(f'DROP INDEX "{row["name"]}"')
        return len(names)
    finally:
        await conn.close()


async def _reload(
    url: str, rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]]
) -> dict[str, float]:
    """COPY the rows in transactions of `CHUNK` events (with their rule rows, and the
    incidents first seen among them); wall and backend CPU seconds."""
    conn = await pgtools.connect(url)
    try:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        event_columns, events = rows["threat_events"]
        rule_columns, rules = rows["event_rules"]
        incident_columns, incidents = rows["incidents"]
        id_at = event_columns.index("id")
        incident_at = event_columns.index("incident_id")
        by_event: dict[int, list[tuple[Any, ...]]] = {}
        for rule in rules:
            by_event.setdefault(rule[0], []).append(rule)
        incident_rows = {row[incident_columns.index("id")]: row for row in incidents}
        written: set[int] = set()
        cpu_before = _backend_cpu(pid)
        started = time.perf_counter()
        for start in range(0, len(events), CHUNK):
            chunk = events[start : start + CHUNK]
            chunk_rules = [r for e in chunk for r in by_event.get(e[id_at], ())]
            new_incidents = []
            for event in chunk:
                ident = event[incident_at]
                if ident is not None and ident not in written and ident in incident_rows:
                    written.add(ident)
                    new_incidents.append(incident_rows[ident])
            async with conn.transaction():
                if new_incidents:
                    await conn.copy_records_to_table(
                        "incidents", records=new_incidents, columns=incident_columns
                    )
                await conn.copy_records_to_table(
                    "threat_events", records=chunk, columns=event_columns
                )
                if chunk_rules:
                    await conn.copy_records_to_table(
                        "event_rules", records=chunk_rules, columns=rule_columns
                    )
        wall = time.perf_counter() - started
        return {"wall": wall, "cpu": _backend_cpu(pid) - cpu_before}
    finally:
        await conn.close()


def _report(label: str, result: dict[str, float], events: int) -> None:
    cores = os.cpu_count() or 1
    per_event = result["cpu"] / events * 1e6
    print(f"  {label}")
    print(f"    wall {result['wall']:.2f} s ({events / result['wall']:,.0f} events/s)")
    print(f"    PostgreSQL backend CPU {result['cpu']:.2f} s = {per_event:.1f} us per event")
    print(
        f"    if the database were the only cost: at most {cores * 1e6 / per_event:,.0f} "
        f"events/s on {cores} cores (one core: {1e6 / per_event:,.0f})"
    )


async def _run(args: argparse.Namespace) -> None:
    log = DATA / f"flood-{args.lines}-{args.clients}.log"
    if not log.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        flood_log(log, args.lines, args.clients)
    made: list[str] = []
    try:
        name, source_url = await pgtools.create_database(args.postgres)
        made.append(name)
        started = time.perf_counter()
        await asyncio.to_thread(_scan_into, source_url, log)
        print(
            f"scanned {log.name} into a throwaway database in {time.perf_counter() - started:.1f} s"
        )
        rows = await _read_rows(source_url)
        events = len(rows["threat_events"][1])
        print(
            f"rows written by the scan: events {events:,}, event_rules "
            f"{len(rows['event_rules'][1]):,}, incidents {len(rows['incidents'][1]):,}"
        )
        at = rows["threat_events"][0].index("observed_at")
        days = {day_of(row[at]) for row in rows["threat_events"][1]}
        print(f"reload by COPY alone, {CHUNK:,} events a transaction:")
        variants = [False, True] if args.without_secondary_indexes else [False]
        for bare in variants:
            name, url = await pgtools.create_database(args.postgres)
            made.append(name)
            await asyncio.to_thread(pgtools.migrate, pgtools.vigil_env(VIGIL_DATABASE_URL=url))
            await _make_partitions(url, days)
            label = "schema as migrated (every query index)"
            if bare:
                dropped = await _drop_secondary_indexes(url)
                label = f"without the {dropped} secondary indexes (keys only)"
            _report(label, await _reload(url, rows), events)
    finally:
        for name in made:
            await pgtools.drop_database(args.postgres, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--clients", type=int, default=3_000)
    parser.add_argument("--without-secondary-indexes", action="store_true")
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
