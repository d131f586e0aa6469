"""Live alert fan-out: many WebSocket clients, each must receive every alert; delivery latency.

Default mode runs the API as a separate uvicorn process on loopback with the Redis broker and
publishes alerts to Redis from this process, the way pipeline workers do. `--memory` runs the
server in this process with the in-process broker (the embedded default); the clients then
share its CPU, so its numbers are an upper bound.

    VIGIL_TEST_REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python benchmarks/bench_ws.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vigil.api.app import create_app
from vigil.config import load_settings
from vigil.db import migrate
from vigil.sinks.broker import Broker, MemoryBroker, RedisBroker

ADMIN_KEY = "bench-ws-admin-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alert(n: int, marker: str) -> dict[str, Any]:
    return {
        "id": n,
        "event_key": f"bench-{n}",
        "site": "default",
        "observed_at": "2026-06-01T00:00:00+00:00",
        "client_ip": "203.0.113.7",
        "method": "GET",
        "path": "/login",
        "query": "id=1'+OR+1=1--",
        "status": 403,
        "score": 0.9,
        "severity": "HIGH",
        "categories": ["sqli"],
        "matched_rules": [{"rule_id": "942100"}],
        "incident_id": None,
        "bench": marker,
        "sent_at": time.time(),
    }


class Client:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.latency: dict[int, float] = {}

    async def read(self, marker: str) -> None:
        async for frame in self.ws:
            now = time.time()
            message = orjson.loads(frame)
            if message.get("bench") == marker:
                self.latency[message["id"]] = (now - message["sent_at"]) * 1000


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of another process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_until_listening(url: str, deadline: float = 30.0) -> None:
    started = time.monotonic()
    while time.monotonic() - started < deadline:
        try:
            async with connect(url, open_timeout=2) as ws:
                await ws.recv()
                return
        except OSError:
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not start")


async def run(clients: int, alerts: int, rate: float, memory: bool, deflate: bool) -> None:
    redis_url = os.environ.get("VIGIL_BENCH_REDIS_URL") or os.environ.get("VIGIL_TEST_REDIS_URL")
    if not memory and not redis_url:
        sys.exit("set VIGIL_TEST_REDIS_URL, or use --memory")
    tmp = tempfile.TemporaryDirectory()
    database_url = f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}"
    settings = load_settings(database_url=database_url, api_admin_key=ADMIN_KEY)
    await asyncio.to_thread(migrate.upgrade, "head", settings)
    port = free_port()
    process: subprocess.Popen[bytes] | None = None
    server: uvicorn.Server | None = None
    serving: asyncio.Task[None] | None = None
    broker: Broker
    if memory:
        broker = MemoryBroker()
        app = create_app(settings, broker=broker)
        server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio"
            )
        )
        serving = asyncio.create_task(server.serve())
    else:
        assert redis_url is not None
        broker = RedisBroker(redis_url)
        await broker.connect()
        env = {
            **os.environ,
            "VIGIL_DATABASE_URL": database_url,
            "VIGIL_REDIS_URL": redis_url,
            "VIGIL_API_ADMIN_KEY": ADMIN_KEY,
        }
        process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "--factory", "vigil.api.app:create_app",
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                "--ws", "websockets-sansio",
                "--ws-per-message-deflate", str(deflate).lower(),
            ],
            env=env,
        )  # fmt: skip
    url = f"ws://127.0.0.1:{port}/ws/alerts?api_key={ADMIN_KEY}&min_severity=HIGH"
    marker = f"run-{time.time_ns()}"
    try:
        await wait_until_listening(url)
        sockets = await asyncio.gather(*(connect(url, max_queue=None) for _ in range(clients)))
        for ws in sockets:
            assert orjson.loads(await ws.recv())["type"] == "hello"
        readers = [Client(ws) for ws in sockets]
        tasks = [asyncio.create_task(r.read(marker)) for r in readers]

        # The server's subscription may need a moment: warm up until one client hears back.
        for n in range(100):
            await broker.publish(alert(-1 - n, marker))
            await asyncio.sleep(0.05)
            if readers[0].latency:
                break
        await asyncio.sleep(0.5)
        for r in readers:
            r.latency.clear()

        started = time.perf_counter()
        client_cpu = time.process_time()
        server_cpu = process_cpu_seconds(process.pid) if process is not None else 0.0
        for n in range(alerts):
            await broker.publish(alert(n, marker))
            await asyncio.sleep(1 / rate)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(len(r.latency) < alerts for r in readers):
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu
        if process is not None:
            server_cpu = process_cpu_seconds(process.pid) - server_cpu

        for task in tasks:
            task.cancel()
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()

        values = sorted(v for r in readers for v in r.latency.values())
        expected = clients * alerts
        missing = expected - len(values)

        def pct(q: float) -> float:
            return values[min(len(values) - 1, round(q * (len(values) - 1)))]

        mode = "in-process memory broker" if memory else "uvicorn process + Redis broker"
        compression = "per-message deflate" if deflate else "no compression"
        print(
            f"{mode}, {compression}: {clients} clients x {alerts} alerts at {rate:g}/s "
            f"({elapsed:.1f} s)"
        )
        print(f"delivered {len(values):,} of {expected:,} (missing {missing})")
        cpu_note = f"server {server_cpu:.2f} s, " if process is not None else ""
        print(
            f"CPU during the run: {cpu_note}this process (clients{'' if process else ' + server'}) "
            f"{client_cpu:.2f} s; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
        )
        print(
            f"delivery latency ms: p50 {pct(0.5):.2f}  p95 {pct(0.95):.2f}  "
            f"p99 {pct(0.99):.2f}  max {values[-1]:.2f}"
        )
    finally:
        await broker.close()
        if process is not None:
            process.terminate()
            process.wait(10)
        if server is not None and serving is not None:
            server.should_exit = True
            await serving
        tmp.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0, help="alerts per second")
    parser.add_argument("--memory", action="store_true", help="in-process server and broker")
    parser.add_argument(
        "--deflate", action="store_true", help="compress frames (uvicorn's default; costs CPU)"
    )
    args = parser.parse_args()
    asyncio.run(run(args.clients, args.alerts, args.rate, args.memory, args.deflate))


if __name__ == "__main__":
    main()
