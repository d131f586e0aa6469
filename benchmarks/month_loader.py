"""A month of attacks loaded fast: 10,000,000 events in minutes, not hours.

    python benchmarks/month_loader.py --postgres postgresql://postgres@127.0.0.1:5432/test \\
        --database vigil_bench_10m --events 10000000

The rows are the ones vigil's store writes for the same threats, made by the store's own row
functions (`_event_values`, `_rule_shapes`): the verdicts vigil gives a generated flood (every
attack family), re-played from a Zipf population of 100,000 clients over 30 days and 3 sites
(event n is at start + n·step, of site n // 20,000 mod 3, as `bench_api.py --loader store`
stores them).
What differs is only how they get in:

- each day's events and matched-rule rows are COPYed into plain tables without indexes, which
  are attached as that day's partitions at the end: PostgreSQL then builds every index of the
  parents once, sorted, instead of updating eight of them row by row;
- incidents are followed in Python as the store follows them (a client's next event more than
  VIGIL_INCIDENT_QUIET_MINUTES after its last opens a new one) and COPYed; block decisions are
  made in SQL for the incidents with a HIGH event;
- the threat rollups are built in SQL from the loaded rows, day by day, with the store's caps
  (top clients, paths and rules per bucket); the traffic rollups count each attack among three
  LOW requests of ordinary traffic, and the distinct-client sketches are built in Python.

Everything is ANALYZEd and autovacuum is switched off for every table. The database must be new
(it is created here; an existing one is refused unless --rebuild drops it first).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import sys
import time
import zlib
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pgtools
from vigil.batch import Threat, event_key
from vigil.config import load_settings
from vigil.db import migrate
from vigil.db.bulk import json_text
from vigil.db.partitions import PARTITIONED_TABLES, partition_name
from vigil.sinks.rollups import ROLLUP_CAPS, SKETCH_LG_K, TRAFFIC_COUNTERS
from vigil.sinks.store import EVENT_COLUMNS, RULE_COLUMNS, _event_values, _rule_shapes

SITES = ("shop", "blog", "api")
DAYS = 30
CLIENTS = 100_000
SITE_RUN = 20_000
"""Consecutive events of one site (the batches of the store-path loader)."""
CHUNK = 50_000
INCIDENT_COLUMNS = (
    "id",
    "site",
    "client_ip",
    "first_seen",
    "last_seen",
    "event_count",
    "top_severity",
    "max_score",
    "categories",
    "status",
    "created_at",
)
_RANK = {"MEDIUM": 1, "HIGH": 2}


def templates(count: int) -> list[Threat]:
    """Threats vigil finds in a generated flood: the request shapes the load re-plays."""
    from vigil.batch import LineBatch
    from vigil.pipeline.analyze import Analyzer
    from vigil.simulate.traffic import generate

    settings = load_settings(detection_mode="rules", behaviour_enabled=False)
    analyzer = Analyzer(settings, enrich=False)
    lines = [item.text.encode() for item in generate(count, 3, attack_ratio=1.0)]
    batch = LineBatch("templates", "t", lines, list(range(len(lines))), len(lines))
    return analyzer.analyze(batch).threats


def client_pool(rng: random.Random) -> tuple[list[str], list[float]]:
    firsts = (23, 45, 62, 81, 94, 103, 151, 185, 193, 212)
    ips = [
        f"{rng.choice(firsts)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        for _ in range(CLIENTS)
    ]
    weights = [1.0 / (rank + 1) ** 1.1 for rank in range(CLIENTS)]
    return ips, weights


class _Shape:
    """One verdict, prepared once: the constant parts of its event row and its rule rows."""

    __slots__ = ("categories", "json", "middle", "rules", "score", "severity", "tail")

    def __init__(self, threat: Threat, now: datetime) -> None:
        row = _event_values(threat, "x", now, None)
        self.middle = row[6:16]
        self.json = (json_text(row[16]), json_text(row[17]), json_text(row[18]))
        self.tail = row[19:26]
        self.rules = _rule_shapes(row[16], row[17])
        self.severity = threat.severity
        self.score = threat.score
        self.categories = set(threat.categories)


class _Incidents:
    """Incidents as the store makes them, followed over the load (one open one per client)."""

    def __init__(self, quiet: timedelta, now: datetime, first_id: int = 1, step: int = 1) -> None:
        self.quiet = quiet
        self.now = now
        self.open: dict[tuple[str, str], list[Any]] = {}
        self.closed: list[tuple[Any, ...]] = []
        self.next_id = first_id
        self.step = step

    def event(self, site: str, ip: str, when: datetime, shape: _Shape) -> int:
        key = (site, ip)
        current = self.open.get(key)
        if current is None or when - current[4] > self.quiet:
            if current is not None:
                self.closed.append(self._row(current))
            current = [self.next_id, site, ip, when, when, 0, shape.severity, 0.0, set()]
            self.next_id += self.step
            self.open[key] = current
        current[4] = when
        current[5] += 1
        if _RANK[shape.severity] > _RANK[current[6]]:
            current[6] = shape.severity
        if shape.score > current[7]:
            current[7] = shape.score
        current[8] |= shape.categories
        return int(current[0])

    def _row(self, state: list[Any]) -> tuple[Any, ...]:
        return (*state[:8], json_text(sorted(state[8])), "open", self.now)

    def take_closed(self) -> list[tuple[Any, ...]]:
        rows, self.closed = self.closed, []
        return rows

    def take_all(self) -> list[tuple[Any, ...]]:
        rows = self.take_closed() + [self._row(state) for state in self.open.values()]
        self.open.clear()
        return rows


def _threat_rollups_sql(day: date, only: frozenset[str] | None = None) -> list[str]:
    """INSERTs of one day's threat rollups, counted from its partitions as the store counts
    (of the dimensions in `only`, when given)."""
    events = partition_name("threat_events", day)
    rules = partition_name("event_rules", day)
    joined = f'"{rules}" r JOIN "{events}" e ON e.id = r.event_id'
    sources = {
        "severity": (f'"{events}" e', "e.severity", ""),
        "client": (f'"{events}" e', "left(e.client_ip, 512)", ""),
        "path": (f'"{events}" e', "left(e.path, 512)", ""),
        "country": (f'"{events}" e', "e.country", "e.country IS NOT NULL"),
        "status": (f'"{events}" e', "e.status::text", "e.status IS NOT NULL"),
        "asn": (
            f'"{events}" e',
            "CASE WHEN coalesce(e.as_org, '') <> '' THEN left('AS' || e.asn || ' ' || e.as_org, "
            "512) ELSE 'AS' || e.asn END",
            "coalesce(e.asn, 0) <> 0",
        ),
        "ua": (f'"{events}" e', "left(e.user_agent, 512)", "e.user_agent <> ''"),
        "rule": (joined, "r.rule_id", "r.rule_id <> ''"),
        "category": (joined, "r.category", "r.first_of_category"),
    }
    statements = []
    for dim, (table, value, where) in sources.items():
        if only is not None and dim not in only:
            continue
        for period in ("m", "h", "d") if dim in ("severity", "category") else ("h", "d"):
            unit = {"m": "minute", "h": "hour", "d": "day"}[period]
            grouped = (
                f"SELECT '{period}' AS period, '{dim}' AS dim, "
                f"date_trunc('{unit}', e.observed_at) AS bucket, e.site AS site, "
                f"{value} AS value, count(*) AS events, max(e.score) AS max_score FROM {table} "
                f"{'WHERE ' + where if where else ''} GROUP BY 3, 4, 5"
            )
            cap = ROLLUP_CAPS.get(dim)
            if cap is not None:
                grouped = (
                    "SELECT period, dim, bucket, site, value, events, max_score FROM ("
                    "SELECT g.*, row_number() OVER (PARTITION BY bucket, site "
                    f"ORDER BY events DESC, value) AS rank FROM ({grouped}) g) ranked "
                    f"WHERE rank <= {cap}"
                )
            statements.append(
                "INSERT INTO threat_rollups (period, dim, bucket, site, value, events, "
                f"max_score) {grouped}"
            )
    return statements


def _traffic_rollups_sql(day: date) -> str:
    """One day's traffic rollups: each attack among three LOW requests of ordinary traffic."""
    events = partition_name("threat_events", day)
    zeros = {"malformed", "dead_letters", "status_3xx", "status_4xx", "status_5xx", "status_other"}
    values = {
        "requests": "4 * count(*)",
        "low": "3 * count(*)",
        "medium": "count(*) FILTER (WHERE severity = 'MEDIUM')",
        "high": "count(*) FILTER (WHERE severity = 'HIGH')",
        "bytes_sent": "8000 * count(*)",
        "status_2xx": "3 * count(*)",
    }
    columns = ", ".join(TRAFFIC_COUNTERS)
    sums = ", ".join("0" if c in zeros else values[c] for c in TRAFFIC_COUNTERS)
    return (
        f"INSERT INTO traffic_rollups (period, bucket, site, {columns}) "
        f"SELECT p.period, date_trunc(p.unit, e.observed_at), e.site, {sums} "
        f"FROM \"{events}\" e CROSS JOIN (VALUES ('m', 'minute'), ('h', 'hour'), ('d', 'day')) "
        "AS p(period, unit) GROUP BY 1, 2, 3"
    )


def _sketch(ips: set[str]) -> bytes:
    import datasketches

    sketch = datasketches.hll_sketch(SKETCH_LG_K)
    for ip in ips:
        sketch.update(ip)
    return bytes(sketch.serialize_compact())


async def _session(db_url: str) -> Any:
    conn = await pgtools.connect(db_url)
    await conn.execute("SET TIME ZONE 'UTC'")
    # A lost load is loaded again: no need to wait for the disk at each commit.
    await conn.execute("SET synchronous_commit = off")
    await conn.execute("SET maintenance_work_mem = '256MB'")
    await conn.execute("SET work_mem = '64MB'")
    return conn


def _owner(ip: str, parts: int) -> int:
    return zlib.crc32(ip.encode()) % parts


def _copy_part(job: dict[str, Any]) -> dict[str, Any]:
    """One worker process: the events of the clients that hash to its part (so each client's
    incidents are followed by one process), COPYed into the day tables."""
    return asyncio.run(_copy_part_async(**job))


async def _copy_part_async(
    db_url: str,
    events: int,
    start: datetime,
    step: float,
    now: datetime,
    shapes: list[_Shape],
    ips: list[str],
    weights: list[float],
    part: int,
    parts: int,
    quiet: timedelta,
) -> dict[str, Any]:
    mine = {ip for ip in ips if _owner(ip, parts) == part}
    incidents = _Incidents(quiet, now, first_id=part + 1, step=parts)
    visitors: dict[tuple[str, str, datetime], set[str]] = defaultdict(set)
    conn = await _session(db_url)
    try:
        # Every part draws the same sequence and keeps its own clients' events.
        rng = random.Random(11)
        n = 0
        while n < events:
            count = min(CHUNK, events - n)
            clients = rng.choices(ips, weights, k=count)
            picks = rng.choices(range(len(shapes)), k=count)
            rows: dict[date, list[tuple[Any, ...]]] = defaultdict(list)
            rule_rows: dict[date, list[tuple[Any, ...]]] = defaultdict(list)
            for i in range(count):
                ip = clients[i]
                if ip not in mine:
                    continue
                index = n + i
                site = SITES[(index // SITE_RUN) % len(SITES)]
                source = f"bench:{site}"
                when = start + timedelta(seconds=index * step)
                shape = shapes[picks[i]]
                ident = index + 1
                incident = incidents.event(site, ip, when, shape)
                day = when.date()
                rows[day].append(
                    (ident, event_key(source, "bench", index), site, source, when, now, ip,
                     *shape.middle, *shape.json, *shape.tail, incident, False)
                )  # fmt: skip
                rule_rows[day].extend((ident, when, site, *r) for r in shape.rules)
                visitors[(site, "h", when.replace(minute=0, second=0, microsecond=0))].add(ip)
            for day in sorted(rows):
                await conn.copy_records_to_table(
                    partition_name("threat_events", day), records=rows[day], columns=EVENT_COLUMNS
                )
                await conn.copy_records_to_table(
                    partition_name("event_rules", day),
                    records=rule_rows[day],
                    columns=RULE_COLUMNS,
                )
            closed = incidents.take_closed()
            if closed:
                await conn.copy_records_to_table(
                    "incidents", records=closed, columns=INCIDENT_COLUMNS
                )
            n += count
            if part == 0 and n % 1_000_000 < CHUNK:
                print(f"  drawn {n:,} events", flush=True)
        await conn.copy_records_to_table(
            "incidents", records=incidents.take_all(), columns=INCIDENT_COLUMNS
        )
    finally:
        await conn.close()
    by_day: dict[tuple[str, str, datetime], set[str]] = defaultdict(set)
    for (site, _, hour), clients_of in visitors.items():
        by_day[(site, "d", hour.replace(hour=0))] |= clients_of
    return {
        "sketches": {key: _sketch(ips_of) for key, ips_of in (visitors | by_day).items()},
        "last_incident": incidents.next_id - parts,
    }


async def _on_connections(db_url: str, parts: int, statements: list[list[str]]) -> None:
    """Run each list of statements in a transaction, `parts` lists at a time, on `parts`
    connections (PostgreSQL works on each in a process of its own)."""
    queue: asyncio.Queue[list[str]] = asyncio.Queue()
    for group in statements:
        queue.put_nowait(group)

    async def drain() -> None:
        conn = await _session(db_url)
        try:
            while not queue.empty():
                group = queue.get_nowait()
                async with conn.transaction():
                    for statement in group:
                        await conn.execute(statement)
        finally:
            await conn.close()

    await asyncio.gather(*(drain() for _ in range(parts)))


async def fast_load(
    db_url: str, events: int, end: datetime, parts: int = 4, days_before: int = DAYS
) -> dict[str, float]:
    """Load `events` events over the `days_before` days before `end` into the (migrated, empty)
    database of `db_url` with `parts` worker processes; returns the seconds each phase took."""
    settings = load_settings(database_url=db_url)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    now = datetime.now(UTC)
    start = end - timedelta(days=days_before)
    shapes = [_Shape(t, now) for t in templates(20_000)]
    ips, weights = client_pool(random.Random(5))
    timings["templates"] = time.perf_counter() - started
    step = (end - start).total_seconds() / events
    last = start + timedelta(seconds=(events - 1) * step)
    days = [start.date() + timedelta(days=d) for d in range((last.date() - start.date()).days + 1)]
    conn = await _session(db_url)
    try:
        phase = time.perf_counter()
        for day in days:
            await _create_tables(conn, day)
        quiet = timedelta(minutes=settings.incident_quiet_minutes)
        jobs = [
            {"db_url": db_url, "events": events, "start": start, "step": step, "now": now,
             "shapes": shapes, "ips": ips, "weights": weights, "part": part, "parts": parts,
             "quiet": quiet}
            for part in range(parts)
        ]  # fmt: skip
        loop = asyncio.get_running_loop()
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(parts, mp_context=context) as pool:
            results = await asyncio.gather(
                *(loop.run_in_executor(pool, _copy_part, job) for job in jobs)
            )
        timings["copy"] = time.perf_counter() - phase

        phase = time.perf_counter()
        # Each day's indexes are built on its filled table (sorted, once), several at a time;
        # attaching then finds them and only checks the rows.
        definitions = await conn.fetch(
            "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE tablename = ANY($1::text[])",
            list(PARTITIONED_TABLES),
        )
        keys = await conn.fetch(
            "SELECT c.conrelid::regclass::text AS tablename, c.conname, "
            "pg_get_constraintdef(c.oid) AS definition FROM pg_constraint c "
            "WHERE c.conrelid = ANY($1::regclass[]) AND c.contype IN ('p', 'u')",
            list(PARTITIONED_TABLES),
        )
        constraints = {row["conname"] for row in keys}
        builds = [
            [_day_index(row, day)]
            for day in days
            for row in definitions
            if row["indexname"] not in constraints
        ] + [
            # Keys as constraints: attaching adopts a partition's key constraint, not a bare
            # unique index.
            [
                f'ALTER TABLE "{partition_name(row["tablename"], day)}" ADD CONSTRAINT '
                f'"{row["conname"]}_{day:%Y%m%d}" {row["definition"]}'
            ]
            for day in days
            for row in keys
        ]
        await _on_connections(db_url, parts, builds)
        timings["indexes"] = time.perf_counter() - phase

        phase = time.perf_counter()
        for day in days:
            await _attach(conn, day)
        timings["attach"] = time.perf_counter() - phase

        phase = time.perf_counter()
        await _on_connections(
            db_url,
            parts,
            [[*_threat_rollups_sql(day), _traffic_rollups_sql(day)] for day in days],
        )
        sketches: dict[tuple[str, str, datetime], bytes] = {}
        for result in results:
            for key, sketch in result["sketches"].items():
                sketches[key] = _union(sketches.get(key), sketch)
        await conn.executemany(
            "UPDATE traffic_rollups SET visitors = $4 WHERE site = $1 AND period = $2 "
            "AND bucket = $3",
            [(*key, sketch) for key, sketch in sketches.items()],
        )
        await _decisions(conn, settings.block_duration_minutes)
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('threat_events', 'id'), $1)", events
        )
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('incidents', 'id'), $1)",
            max(r["last_incident"] for r in results),
        )
        await conn.executemany(
            "INSERT INTO ingest_checkpoints (source, file_id, byte_offset, updated_at) "
            "VALUES ($1, 'bench', $2, $3)",
            [(f"bench:{site}", events, now) for site in SITES],
        )
        timings["rollups, decisions"] = time.perf_counter() - phase

        phase = time.perf_counter()
        await conn.execute("ANALYZE")
        timings["analyze"] = time.perf_counter() - phase
        await autovacuum_off(conn)
    finally:
        await conn.close()
    timings["total"] = time.perf_counter() - started
    return timings


def _day_index(row: Any, day: date) -> str:
    """The CREATE INDEX of one day's table from its parent's partitioned index."""
    table, name = row["tablename"], row["indexname"]
    return (
        row["indexdef"]
        .replace(f" ON ONLY public.{table} ", f' ON "{partition_name(table, day)}" ')
        .replace(f" INDEX {name} ", f' INDEX "{name}_{day:%Y%m%d}" ')
    )


def _union(previous: bytes | None, sketch: bytes) -> bytes:
    import datasketches

    if previous is None:
        return sketch
    union = datasketches.hll_union(SKETCH_LG_K)
    union.update(datasketches.hll_sketch.deserialize(previous))
    union.update(datasketches.hll_sketch.deserialize(sketch))
    return bytes(union.get_result().serialize_compact())


async def _create_tables(conn: Any, day: date) -> None:
    for table in PARTITIONED_TABLES:
        # Names are made from this module's tables and a date.
        await conn.execute(
            f'CREATE TABLE "{partition_name(table, day)}" '
            f'(LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
        )


async def _attach(conn: Any, day: date) -> None:
    low = datetime(day.year, day.month, day.day, tzinfo=UTC)
    high = low + timedelta(days=1)
    for table in PARTITIONED_TABLES:
        await conn.execute(
            f'ALTER TABLE "{table}" ATTACH PARTITION "{partition_name(table, day)}" '
            f"FOR VALUES FROM ('{low.isoformat()}') TO ('{high.isoformat()}')"
        )


async def _decisions(conn: Any, minutes: int) -> None:
    """A block decision for each incident with a HIGH event, from its first event on (what the
    store's default policy decides for such a client while no decision of it is active)."""
    await conn.execute(
        "INSERT INTO decisions (site, value, scope, reason, origin, incident_id, simulated, "
        "created_at, expires_at) "
        "SELECT site, client_ip, 'ip', 'HIGH severity', 'vigil', id, false, first_seen, "
        "first_seen + make_interval(mins => $1) FROM incidents WHERE top_severity = 'HIGH'",
        minutes,
    )


async def autovacuum_off(conn: Any) -> None:
    names = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind = 'r'"
    )
    for row in names:
        # Names come from the catalogue of this database.
        await conn.execute(f'ALTER TABLE "{row[0]}" SET (autovacuum_enabled = false)')


async def create(admin: str, name: str, events: int, rebuild: bool) -> str:
    """Create (or with `rebuild`, drop and create) database `name`, migrate it and load it;
    returns its URL."""
    from sqlalchemy.engine import make_url

    conn = await pgtools.connect(admin)
    try:
        exists = await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name)
    finally:
        await conn.close()
    if exists and not rebuild:
        raise SystemExit(f"database {name} exists; --rebuild drops and loads it again")
    if exists:
        await pgtools.drop_database(admin, name)
    # The name is checked to be [a-z0-9_].
    await pgtools.execute(admin, f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(drivername="postgresql+asyncpg", database=name)
    db_url = url.render_as_string(hide_password=False)
    await asyncio.to_thread(migrate.upgrade, "head", load_settings(database_url=db_url))
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    print(f"loading {events:,} events over {DAYS} days, {len(SITES)} sites, ending {end:%F %H:%M}")
    timings = await fast_load(db_url, events, end)
    size = await pgtools.fetchval(
        db_url, "SELECT pg_size_pretty(pg_database_size(current_database()))"
    )
    print(
        "  " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
        + f"\nloaded {events:,} events in {timings['total']:.0f} s "
        f"({events / timings['total']:,.0f} events/s); database {name}: {size}"
    )  # fmt: skip
    return db_url


async def add_rollups(db_url: str, dims: frozenset[str]) -> None:
    """Build the rollups of `dims` for every day of a loaded database (dimensions added to the
    store after the database was loaded)."""
    conn = await _session(db_url)
    try:
        names = await conn.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'threat_events'"
        )
        days = sorted(datetime.strptime(r[0][-8:], "%Y%m%d").date() for r in names)
        await conn.execute("DELETE FROM threat_rollups WHERE dim = ANY($1::text[])", sorted(dims))
    finally:
        await conn.close()
    await _on_connections(db_url, 2, [_threat_rollups_sql(day, dims) for day in days])


def database_name(value: str) -> str:
    if not (value.replace("_", "").isalnum() and value.isascii() and value.islower()):
        raise argparse.ArgumentTypeError("database names are made of a-z, 0-9 and _")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--database", default="vigil_bench_10m", type=database_name)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument(
        "--add-rollups",
        metavar="DIMS",
        help="only build the rollups of these comma-separated dimensions in an existing database",
    )
    args = parser.parse_args()
    if args.add_rollups:
        from sqlalchemy.engine import make_url

        url = make_url(args.postgres).set(drivername="postgresql+asyncpg", database=args.database)
        dims = frozenset(args.add_rollups.split(","))
        asyncio.run(add_rollups(url.render_as_string(hide_password=False), dims))
        return
    asyncio.run(create(args.postgres, args.database, args.events, args.rebuild))


if __name__ == "__main__":
    main()
