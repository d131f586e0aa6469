"""First paint of the dashboard's cards and chart on a large database, in headless Chromium.

    python benchmarks/bench_dashboard.py --postgres postgresql://postgres@127.0.0.1:5432/test \\
        --database vigil_bench_10m               # the database bench_api.py / month_loader.py made

The database is only read: the page is served by vigil's app on loopback with a bootstrap admin
key from the settings (nothing is written, not even a key's last use). For each range (the
default last 24 hours ending at the newest data, 7 days, the whole 30 days) the page is loaded
cold `--runs` times in a new browser context, and the time from navigation start until the
cards show numbers and the chart has its bars (checked every animation frame, so the moment is
the frame that paints them) is recorded; the /stats call behind it is timed separately
(`--calls` calls after 5 untimed ones). The target is a first paint within 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import sys
import time
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from playwright.async_api import async_playwright
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import month_loader
import pgtools
from vigil.api.app import create_app
from vigil.config import load_settings

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
PAINTED = """() => {
  const high = document.getElementById('count-high').textContent;
  const bars = document.querySelectorAll('#chart svg rect[data-series]').length;
  return high !== '–' && bars > 0 ? performance.now() : false;
}"""

TIMELINE = """() => performance.getEntriesByType('resource').map((e) =>
  `${new URL(e.name).pathname} ${e.startTime.toFixed(0)}-${e.responseEnd.toFixed(0)}`)
  .join(' | ')"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def first_paints(
    host: str, key: str, fragment: str, runs: int, executable: str, verbose: bool = False
) -> tuple[list[float], list[int]]:
    """Milliseconds from navigation start to painted cards and chart, one per cold load."""
    times: list[float] = []
    requests: list[int] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            for _ in range(runs):
                context = await browser.new_context(viewport={"width": 1440, "height": 900})
                await context.add_init_script(f"localStorage.setItem('vigil.apiKey', '{key}')")
                page = await context.new_page()
                calls: list[str] = []
                page.on("request", lambda r, calls=calls: calls.append(r.url))
                await page.goto(f"http://{host}/{fragment}")
                handle = await page.wait_for_function(PAINTED, polling="raf", timeout=60_000)
                times.append(float(await handle.json_value()))
                if verbose:
                    print(await page.evaluate(TIMELINE))
                requests.append(sum("/stats" in url for url in calls))
                await context.close()
        finally:
            await browser.close()
    return times, requests


async def run(args: argparse.Namespace) -> None:
    admin = args.postgres or os.environ.get("VIGIL_TEST_POSTGRES_URL")
    if not admin:
        sys.exit("give --postgres or set VIGIL_TEST_POSTGRES_URL")
    executable = args.chromium or shutil.which("chromium")
    if not executable:
        sys.exit("no Chromium: install Debian's chromium package or give --chromium")
    from sqlalchemy.engine import make_url

    url = make_url(admin).set(drivername="postgresql+asyncpg", database=args.database)
    db_url = url.render_as_string(hide_password=False)
    conn = await pgtools.connect(db_url)
    try:
        events = await conn.fetchval("SELECT count(*) FROM threat_events")
        newest = await conn.fetchval("SELECT max(bucket) FROM traffic_rollups WHERE period = 'h'")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    finally:
        await conn.close()
    if not events or newest is None:
        sys.exit(f"database {args.database} has no events or no rollups")
    end = newest.astimezone(UTC) + timedelta(hours=1)
    print(f"database {args.database}: {events:,} events, {size}; data ends {end.isoformat()}")

    key = secrets.token_urlsafe(24)
    settings = load_settings(
        database_url=db_url, db_pool_size=4, api_admin_key=SecretStr(key), retention_days=0
    )
    app = create_app(settings)
    port = 18000 + secrets.randbelow(2000)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    host = f"127.0.0.1:{port}"

    def window(days: float) -> dict[str, str]:
        start = end - timedelta(days=days)
        return {"from": start.isoformat(), "to": end.isoformat()}

    ranges: list[tuple[str, dict[str, Any]]] = [
        ("24 hours", window(1)),
        ("7 days", window(7)),
        ("30 days", window(30)),
    ]
    try:
        print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        print(
            f"{'range':10} {'stats p50':>10} {'stats max':>10} {'paint p50':>10} {'paint max':>10}"
        )
        worst = 0.0
        async with httpx.AsyncClient(
            base_url=f"http://{host}", headers={"X-API-Key": key}, timeout=60
        ) as client:
            for name, params in ranges:
                query = {**params, "top": 10}
                for _ in range(5):
                    response = await client.get("/stats", params=query)
                    assert response.status_code == 200, response.text[:300]
                timings = []
                for _ in range(args.calls):
                    started = time.perf_counter()
                    response = await client.get("/stats", params=query)
                    timings.append((time.perf_counter() - started) * 1000)
                fragment = f"#from={params['from']}&to={params['to']}".replace("+", "%2B")
                paints, stats_calls = await first_paints(
                    host, key, fragment, args.runs, executable, args.verbose
                )
                assert set(stats_calls) == {1}, f"the page asked /stats {stats_calls} times"
                worst = max(worst, max(paints))
                print(
                    f"{name:10} {pct(timings, 0.5):10.1f} {max(timings):10.1f} "
                    f"{pct(paints, 0.5):10.1f} {max(paints):10.1f}",
                    flush=True,
                )
        print(f"slowest first paint: {worst:.0f} ms (target <= 1000)")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        server.should_exit = True
        await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=None, help="admin URL of the server")
    parser.add_argument("--database", default="vigil_bench_10m", type=month_loader.database_name)
    parser.add_argument("--runs", type=int, default=10, help="cold page loads per range")
    parser.add_argument("--calls", type=int, default=50, help="timed /stats calls per range")
    parser.add_argument("--chromium", default=None, help="browser to drive")
    parser.add_argument("--verbose", action="store_true", help="print each load's requests")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
