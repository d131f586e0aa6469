"""API latency over a month of attacks: /stats, /threats (each filter, a deep cursor) and
/incidents on a PostgreSQL database of 10,000,000 events, with autovacuum off.

    python benchmarks/bench_api.py --postgres postgresql://postgres@127.0.0.1:5432/test \\
        --database vigil_bench_10m --events 10000000          # builds it (once), then measures
    python benchmarks/bench_api.py --database vigil_bench_10m  # measures an existing one

A new database is loaded by `month_loader.py` (COPY into day tables attached as partitions,
incidents followed as the store follows them, rollups built in SQL from the loaded rows: minutes
for 10,000,000 events); `--loader store` loads through vigil's own store path instead
(`StoreSink.write`, one transaction per batch of 20,000; resumes an interrupted load), far slower.
Autovacuum is off for every table and partition; the loader's ANALYZE is the only statistics
the planner gets. Then the API is served by uvicorn on loopback and each case is
called 200 times one after another (20 untimed calls first, on the same connection): p50, p95,
p99 and max per case. The database is kept (its name is printed) unless --drop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import month_loader
import pgtools
from month_loader import DAYS, SITES, client_pool, templates
from vigil.api.app import create_app
from vigil.batch import ScoredBatch, Threat, event_key
from vigil.config import load_settings
from vigil.db import migrate
from vigil.db.partitions import Partitions
from vigil.db.session import close_db, configure_db, get_db_context, get_engine
from vigil.services.keys import create_key
from vigil.sinks.store import StoreSink

BATCH = 20_000


def admin_url(value: str | None) -> str:
    url = value or os.environ.get("VIGIL_TEST_POSTGRES_URL")
    if not url:
        sys.exit("give --postgres or set VIGIL_TEST_POSTGRES_URL")
    return url


def replay(shape: Threat, source: str, offset: int, client: str, when: datetime) -> Threat:
    """`shape` (a verdict vigil gave) as the threat of another line, client and moment."""
    record = shape.record._replace(
        source=source, file_id="bench", offset=offset, client_ip=client, observed_at=when
    )
    return Threat(
        key=event_key(source, "bench", offset),
        record=record,
        score=shape.score,
        severity=shape.severity,
        categories=shape.categories,
        matches=shape.matches,
        components={"rules": shape.score},
        detection_mode="rules",
    )


async def load(db_url: str, events: int, end: datetime, done: int = 0) -> float:
    """Store events `done` … `events` through the store path; returns the seconds it took.

    Batch k holds events k·BATCH … (k+1)·BATCH of one site, made from a generator seeded with
    k, so a load that was interrupted resumes where its last committed batch ended.
    """
    settings = load_settings(database_url=db_url, db_pool_size=4)
    configure_db(settings)
    shapes = templates(20_000)
    ips, weights = client_pool(random.Random(5))
    start = end - timedelta(days=DAYS)
    days = [(start + timedelta(days=d)).date() for d in range(DAYS + 1)]
    await Partitions().ensure(get_engine(), days)
    await _autovacuum_off(db_url)
    sink = StoreSink(settings, messages=False)
    step = (end - start).total_seconds() / events
    started = time.perf_counter()
    first = done
    while done < events:
        index = done // BATCH
        rng = random.Random(index)
        n = min(BATCH, events - done)
        site = SITES[index % len(SITES)]
        source = f"bench:{site}"
        clients = rng.choices(ips, weights, k=n)
        threats: list[Threat] = []
        minutes: dict[datetime, Counter[str]] = {}
        visitors: dict[datetime, set[str]] = {}
        for i in range(n):
            when = start + timedelta(seconds=(done + i) * step)
            shape = shapes[rng.randrange(len(shapes))]
            threats.append(replay(shape, source, done + i, clients[i], when))
            minute = when.replace(second=0, microsecond=0)
            counts = minutes.get(minute)
            if counts is None:
                counts = minutes[minute] = Counter()
            # Each attack among three LOW requests of ordinary traffic.
            counts["requests"] += 4
            counts["low"] += 3
            counts["bytes_sent"] += 8000
            counts["status_2xx"] += 3
            counts["high" if shape.severity == "HIGH" else "medium"] += 1
            visitors.setdefault(minute.replace(minute=0), set()).add(clients[i])
        batch = ScoredBatch(
            source=source,
            file_id="bench",
            end_offset=done + n,
            site=site,
            lines=n,
            records=n,
            malformed=0,
            threats=threats,
            dead_letters=[],
            counters=minutes,
            visitors=visitors,
        )
        await sink.write(batch)
        done += n
        if done % 500_000 < BATCH:
            rate = (done - first) / (time.perf_counter() - started)
            print(f"  loaded {done:,} events ({rate:,.0f}/s)", flush=True)
    seconds = time.perf_counter() - started
    analyzed = time.perf_counter()
    await sink.analyze_changed(minimum=1)
    print(f"  ANALYZE of the loaded partitions and tables: {time.perf_counter() - analyzed:.1f} s")
    await _autovacuum_off(db_url)
    await close_db()
    configure_db(None)
    return seconds


async def _autovacuum_off(db_url: str) -> None:
    conn = await pgtools.connect(db_url)
    try:
        names = await conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r'"
        )
        for row in names:
            # Names come from the catalogue of this database.
            await conn.execute(f'ALTER TABLE "{row[0]}" SET (autovacuum_enabled = false)')
    finally:
        await conn.close()


async def data_end(db_url: str) -> datetime:
    conn = await pgtools.connect(db_url)
    try:
        value = await conn.fetchval("SELECT max(bucket) FROM traffic_rollups WHERE period = 'h'")
    finally:
        await conn.close()
    return (value + timedelta(hours=1)).astimezone(UTC)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def cases(client: httpx.AsyncClient, end: datetime) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, path, params) of every measured call, with values taken from the data."""
    sample = (await client.get("/threats", params={"limit": 1})).json()["items"][0]
    stats = (
        await client.get(
            "/stats",
            params={
                "from": (end - timedelta(days=30)).isoformat(),
                "to": end.isoformat(),
                "top": 100,
            },
        )
    ).json()
    rules = [r["value"] for r in stats["top_rules"]]
    categories = sorted(stats["categories"], key=lambda c: stats["categories"][c])
    incident = (await client.get("/incidents", params={"limit": 1})).json()["items"][0]
    ip = sample["client_ip"]
    cidr16 = ".".join(ip.split(".")[:2]) + ".0.0/16"
    day = end - timedelta(days=12)
    window = {"since": day.isoformat(), "until": (day + timedelta(hours=6)).isoformat()}
    since = (end - timedelta(days=1)).isoformat()
    out: list[tuple[str, str, dict[str, Any]]] = []
    for label, span in (("1h", timedelta(hours=1)), ("24h", timedelta(days=1)),
                        ("7d", timedelta(days=7)), ("30d", timedelta(days=30))):  # fmt: skip
        out.append(
            (f"/stats {label}", "/stats", {"from": (end - span).isoformat(), "to": end.isoformat()})
        )
    out.append(
        (
            "/stats 24h site=blog",
            "/stats",
            {"from": (end - timedelta(days=1)).isoformat(), "to": end.isoformat(), "site": "blog"},
        )
    )
    out += [
        ("/threats newest", "/threats", {}),
        ("/threats severity=HIGH", "/threats", {"severity": "HIGH"}),
        ("/threats severity=MEDIUM", "/threats", {"severity": "MEDIUM"}),
        ("/threats site=blog", "/threats", {"site": "blog"}),
        ("/threats category common", "/threats", {"category": categories[-1]}),
        ("/threats category rare", "/threats", {"category": categories[0]}),
        ("/threats rule common", "/threats", {"rule_id": rules[0]}),
        ("/threats rule rare", "/threats", {"rule_id": rules[-1]}),
        ("/threats client ip", "/threats", {"client": ip}),
        ("/threats client /16", "/threats", {"client": cidr16}),
        ("/threats path contains", "/threats", {"path": sample["path"][:12] or "/"}),
        ("/threats reviewed=false", "/threats", {"reviewed": "false"}),
        ("/threats incident", "/threats", {"incident_id": incident["id"]}),
        ("/threats 6h window", "/threats", window),
        ("/threats site+sev+24h", "/threats", {"site": "api", "severity": "HIGH", "since": since}),
        ("/threats by score", "/threats", {"sort": "-score"}),
        ("/incidents newest", "/incidents", {}),
        ("/incidents site", "/incidents", {"site": "shop"}),
        ("/incidents severity", "/incidents", {"severity": "MEDIUM"}),
        ("/incidents client", "/incidents", {"client": incident["client_ip"]}),
    ]  # fmt: skip
    return out


class CaseFailed(Exception):
    """A call of a case failed (an error status, or no answer within the call timeout)."""


async def call(client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> httpx.Response:
    try:
        response = await client.get(path, params=params)
    except httpx.TimeoutException:
        raise CaseFailed(f"no answer within {client.timeout.read:.0f} s") from None
    except httpx.HTTPError as exc:
        raise CaseFailed(f"{type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise CaseFailed(f"status {response.status_code}: {response.text[:200]}")
    return response


async def deep_cursor(client: httpx.AsyncClient, params: dict[str, Any], pages: int) -> str:
    cursor = None
    for _ in range(pages):
        query = {**params, "limit": 50, **({"cursor": cursor} if cursor else {})}
        cursor = (await call(client, "/threats", query)).json()["next_cursor"]
        if not cursor:
            raise CaseFailed(f"fewer than {pages} pages")
    assert cursor
    return cursor


async def measure_case(
    client: httpx.AsyncClient, path: str, query: dict[str, Any], calls: int, budget: float
) -> list[float]:
    """20 untimed calls, then `calls` timed ones (ms); stops early when the case has run for
    `budget` seconds, so one slow case cannot hold up the rest."""
    started = time.perf_counter()
    for _ in range(20):
        await call(client, path, query)
    timings: list[float] = []
    for _ in range(calls):
        began = time.perf_counter()
        await call(client, path, query)
        timings.append((time.perf_counter() - began) * 1000)
        if time.perf_counter() - started > budget:
            break
    return timings


async def measure(db_url: str, calls: int, timeout: float, budget: float) -> None:
    settings = load_settings(database_url=db_url, db_pool_size=4)
    configure_db(settings)
    async with get_db_context() as session:
        _, key = await create_key(session, name="bench", scope="read")
    await close_db()
    end = await data_end(db_url)
    app = create_app(settings)
    port = 18000 + random.randrange(2000)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    failed: list[str] = []
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=timeout,
            limits=limits,
        ) as client:  # fmt: skip
            todo = await cases(client, end)
            rule = next(p["rule_id"] for n, _, p in todo if n == "/threats rule common")
            category = next(p["category"] for n, _, p in todo if n == "/threats category common")
            for name, params, pages in (
                ("/threats deep cursor (page 200)", {}, 200),
                ("/threats rule, page 100", {"rule_id": rule}, 100),
                ("/threats category, page 100", {"category": category}, 100),
            ):
                try:
                    cursor = await deep_cursor(client, params, pages)
                except CaseFailed as exc:
                    failed.append(f"{name}: {exc}")
                    continue
                todo.append((name, "/threats", {**params, "cursor": cursor}))
            print(
                f"\nAPI latency, {calls} sequential calls per case after 20 on the same "
                f"connection (ms); data ends {end.isoformat()}; a call fails after {timeout:.0f} s"
            )
            print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
            print(f"{'case':40} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}")
            worst = 0.0
            for name, path, params in todo:
                query = {**params, "limit": 50} if path != "/stats" else params
                try:
                    timings = await measure_case(client, path, query, calls, budget)
                except CaseFailed as exc:
                    failed.append(f"{name}: {exc}")
                    print(f"{name:40} FAILED: {exc}", flush=True)
                    continue
                worst = max(worst, pct(timings, 0.99))
                cut = (
                    f"  (only {len(timings)} calls in {budget:.0f} s)"
                    if len(timings) < calls
                    else ""
                )
                points = (pct(timings, 0.5), pct(timings, 0.95), pct(timings, 0.99))
                spread = " ".join(f"{v:7.1f}" for v in (*points, max(timings)))
                print(f"{name:40} {spread}{cut}", flush=True)
            print(f"worst p99: {worst:.1f} ms (target <= 50)")
            for line in failed:
                print(f"FAILED {line}")
    finally:
        server.should_exit = True
        await task
        await close_db()
        configure_db(None)


async def _store_load(db_url: str, events: int) -> None:
    """Load (or resume loading) through the store path, batch by batch."""
    conn = await pgtools.connect(db_url)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM threat_events")
        first = await conn.fetchval("SELECT min(observed_at) FROM threat_events")
    finally:
        await conn.close()
    if stored >= events:
        return
    # The first event is at the start of the 30 days; a new load ends at this hour.
    if first is not None:
        end = first.astimezone(UTC) + timedelta(days=DAYS)
    else:
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    print(f"loading events {stored:,} … {events:,} over {DAYS} days, {len(SITES)} sites")
    seconds = await load(db_url, events, end, done=stored)
    print(
        f"loaded {events - stored:,} events through the store path in {seconds:.0f} s "
        f"({(events - stored) / seconds:,.0f} events/s)"
    )


async def run(args: argparse.Namespace) -> None:
    admin = admin_url(args.postgres)
    name = args.database
    conn = await pgtools.connect(admin)
    try:
        exists = await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name)
    finally:
        await conn.close()
    from sqlalchemy.engine import make_url

    url = make_url(admin).set(drivername="postgresql+asyncpg", database=name)
    db_url = url.render_as_string(hide_password=False)
    if not exists and args.loader == "fast":
        db_url = await month_loader.create(admin, name, args.events, rebuild=False)
    elif not exists:
        # The name is checked by argparse to be [a-z0-9_].
        await pgtools.execute(admin, f'CREATE DATABASE "{name}"')
        await asyncio.to_thread(migrate.upgrade, "head", load_settings(database_url=db_url))
    if args.loader == "store":
        await _store_load(db_url, args.events)
    conn = await pgtools.connect(db_url)
    try:
        count = await conn.fetchval("SELECT count(*) FROM threat_events")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    finally:
        await conn.close()
    print(f"database {name}: {count:,} events, {size}")
    await measure(db_url, args.calls, args.timeout, args.budget)
    if args.drop:
        await pgtools.drop_database(admin, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=None, help="admin URL of the server")
    parser.add_argument("--database", default="vigil_bench_10m", type=month_loader.database_name)
    parser.add_argument(
        "--loader",
        choices=["fast", "store"],
        default="fast",
        help="how a new database is loaded: COPY and SQL (month_loader.py) or the store path",
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds a call may take before it fails"
    )
    parser.add_argument(
        "--budget", type=float, default=120.0, help="seconds one case may run before it stops"
    )
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
