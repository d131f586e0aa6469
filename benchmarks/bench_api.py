"""GET /threats latency over a large PostgreSQL table, with the plans of the main queries.

Creates a throwaway database, migrates it, bulk-loads synthetic events with COPY, serves the
API with uvicorn on loopback and times filtered requests one after another (latency, not
throughput). Prints p50/p95/p99 per filter and EXPLAIN ANALYZE of each query; drops the
database at the end.

    VIGIL_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python benchmarks/bench_api.py --rows 1000000 --requests 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pgtools
from vigil.api.app import create_app
from vigil.config import load_settings
from vigil.db import migrate
from vigil.db.session import close_db, configure_db, get_db_context, get_engine
from vigil.services.keys import create_key

SITES = ["shop", "blog", "api", "admin", "static"]
CATEGORIES = ["sqli", "xss", "traversal", "rce", "scanner", "bruteforce"]
RULES = [f"9{n:05d}" for n in range(30)]
PATHS = ["/login", "/wp-login.php", "/search", "/api/v1/users", "/index.php", "/cart", "/.env"]
NOW = datetime(2026, 6, 1, tzinfo=UTC)
SPAN = timedelta(days=30)
COLUMNS = [
    "event_key", "site", "source", "observed_at", "created_at", "client_ip", "method", "path",
    "query", "status", "bytes_sent", "user_agent", "referer", "score", "severity",
    "detection_mode", "categories", "matched_rules", "component_scores", "reviewed",
]  # fmt: skip


def admin_url() -> str:
    url = os.environ.get("VIGIL_BENCH_POSTGRES_URL") or os.environ.get("VIGIL_TEST_POSTGRES_URL")
    if not url:
        sys.exit("set VIGIL_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    return url


def synthetic_rows(count: int, seed: int = 11) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    ips = [".".join(str(rng.randint(1, 254)) for _ in range(4)) for _ in range(50_000)]
    span = int(SPAN.total_seconds())
    rows = []
    for i in range(count):
        high = rng.random() < 0.3
        score = round(rng.uniform(0.7, 1.0) if high else rng.uniform(0.5, 0.7), 3)
        category = rng.choice(CATEGORIES)
        rule = rng.choice(RULES)
        observed = NOW - timedelta(seconds=rng.randrange(span))
        rows.append(
            (
                f"bench-{i:012d}",
                rng.choice(SITES),
                "bench.log",
                observed,
                observed,
                rng.choice(ips),
                "GET",
                rng.choice(PATHS),
                "id=1%27%20OR%201%3D1--",
                rng.choice([200, 403, 404]),
                rng.randint(100, 5000),
                "sqlmap/1.7",
                "",
                score,
                "HIGH" if high else "MEDIUM",
                "rules",
                orjson.dumps([category]).decode(),
                orjson.dumps(
                    [{"rule_id": rule, "category": category, "target": "query", "points": 5}]
                ).decode(),
                "{}",
                rng.random() < 0.1,
            )
        )
    return rows


async def load(database_url: str, count: int) -> None:
    conn = await pgtools.connect(database_url)
    try:
        started = time.perf_counter()
        chunk = 100_000
        for start in range(0, count, chunk):
            rows = synthetic_rows(min(chunk, count - start), seed=start)
            rows = [(f"bench-{start + i:012d}", *row[1:]) for i, row in enumerate(rows)]
            await conn.copy_records_to_table("threat_events", records=rows, columns=COLUMNS)
        await conn.execute("ANALYZE threat_events")
        print(f"loaded {count:,} events with COPY in {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()


CASES: list[tuple[str, dict[str, Any]]] = [
    ("newest first", {}),
    ("severity=HIGH", {"severity": "HIGH"}),
    ("site", {"site": "shop"}),
    (
        "site+severity+24h",
        {"site": "api", "severity": "HIGH", "since": (NOW - timedelta(days=1)).isoformat()},
    ),
    (
        "time range 6h (old)",
        {
            "since": (NOW - timedelta(days=20)).isoformat(),
            "until": (NOW - timedelta(days=20) + timedelta(hours=6)).isoformat(),
        },
    ),
    ("category", {"category": "rce"}),
    ("rule_id", {"rule_id": "900007"}),
    ("path contains", {"path": "wp-login"}),
    ("client ip", {"client": "CLIENT"}),
    ("client /8 cidr", {"client": "10.0.0.0/8"}),
    ("not reviewed", {"reviewed": "false"}),
    ("by score", {"sort": "-score"}),
    ("page 5 (cursor)", {"pages": 5}),
]


async def time_requests(
    base: str, headers: dict[str, str], requests: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Wall-clock ms of each request per case, and CPU ms per request (server and client)."""
    results: dict[str, list[float]] = {}
    cpu: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        sample = (await client.get("/threats", params={"limit": 1})).json()["items"][0]
        for name, params in CASES:
            params = dict(params)
            if params.get("client") == "CLIENT":
                params["client"] = sample["client_ip"]
            pages = int(params.pop("pages", 1))
            timings: list[float] = []
            cpu_started = time.process_time()
            for _ in range(requests):
                cursor = None
                for _page in range(pages):
                    query = {**params, "limit": 50}
                    if cursor:
                        query["cursor"] = cursor
                    started = time.perf_counter()
                    response = await client.get("/threats", params=query)
                    elapsed = time.perf_counter() - started
                    assert response.status_code == 200, response.text
                    cursor = response.json()["next_cursor"]
                timings.append(elapsed * 1000)
            results[name] = timings
            cpu[name] = (time.process_time() - cpu_started) * 1000 / (requests * pages)
    return results, cpu


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def explain(base: str, headers: dict[str, str]) -> None:
    """EXPLAIN ANALYZE of the statement each case runs, captured from the engine."""
    captured: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM threat_events" in statement and "api_keys" not in statement:
            captured.append((statement, parameters))

    event.listen(get_engine().sync_engine, "before_cursor_execute", remember)
    try:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
            sample = (await client.get("/threats", params={"limit": 1})).json()["items"][0]
            for name, params in CASES:
                params = dict(params)
                if params.get("client") == "CLIENT":
                    params["client"] = sample["client_ip"]
                params.pop("pages", None)
                captured.clear()
                await client.get("/threats", params={**params, "limit": 50})
                statement, parameters = captured[-1]
                async with get_db_context() as session:
                    conn = await session.connection()
                    # The ORM's own compiled statement and bound values, prefixed for the plan.
                    plan = await conn.exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement,
                        parameters,
                    )
                    lines = [row[0] for row in plan]
                print(f"\n--- {name}: {params}")
                for line in lines:
                    print("   ", line)
    finally:
        event.remove(get_engine().sync_engine, "before_cursor_execute", remember)


async def run(rows: int, requests: int, keep: bool) -> None:
    name, database_url = await pgtools.create_database(admin_url())
    settings = load_settings(database_url=database_url, db_pool_size=10)
    try:
        await asyncio.to_thread(migrate.upgrade, "head", settings)
        await load(database_url, rows)
        configure_db(settings)
        async with get_db_context() as session:
            _, key = await create_key(session, name="bench", scope="read")
        await close_db()

        app = create_app(settings)
        port = 18000 + random.randrange(2000)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        headers = {"X-API-Key": key}
        try:
            results, cpu = await time_requests(base, headers, requests)
            print(f"\nGET /threats latency over {rows:,} events ({requests} requests per case, ms)")
            print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
            print(f"{'case':24} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8} {'cpu/req':>8}")
            everything: list[float] = []
            for case, timings in results.items():
                everything.extend(timings)
                print(
                    f"{case:24} {pct(timings, 0.5):8.2f} {pct(timings, 0.95):8.2f} "
                    f"{pct(timings, 0.99):8.2f} {max(timings):8.2f} {cpu[case]:8.2f}"
                )
            print(
                f"{'ALL':24} {pct(everything, 0.5):8.2f} {pct(everything, 0.95):8.2f} "
                f"{pct(everything, 0.99):8.2f} {max(everything):8.2f}"
                f"   (mean {statistics.fmean(everything):.2f})"
            )
            await explain(base, headers)
        finally:
            server.should_exit = True
            await task
    finally:
        await close_db()
        configure_db(None)
        if not keep:
            await pgtools.drop_database(admin_url(), name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per filter case")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    asyncio.run(run(args.rows, args.requests, args.keep))


if __name__ == "__main__":
    main()
