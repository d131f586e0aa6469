"""The cluster under faults: 2 agents, 3 workers, P partitions, a steady writer, and on the way a
worker killed (SIGKILL) and replaced, an agent killed and restarted, Redis stopped for 10 s.

    python benchmarks/bench_cluster.py --rate 20000 --seconds 60 \
        --postgres postgresql://postgres@127.0.0.1:5432/test

Everything runs on loopback against a Redis server of its own (`redis-server` on --redis-port,
in a temporary directory, append-only file on so that a stop and start keeps the streams — a
cluster's Redis must persist them) and a PostgreSQL database of its own, and stops by itself.

Two access logs (web1, web2) get --rate lines/s in total: realistic benign traffic, about 1% XSS
attacks each carrying a unique token (`t=<n>`), and a scanner whose 404 probes alternate between
the two logs (each log alone holds fewer distinct paths than the scan rule needs). Faults, as
fractions of the run: worker killed at 0.15, a new worker at 0.25, agent web1 killed at 0.35 and
restarted at 0.42, Redis stopped at 0.55 for --outage seconds.

Afterwards it checks that every attack token is stored exactly once and the scanner is detected,
and prints: lines/s per worker (from their own counters), line-to-alert latency (alerts on
Redis; alerts of events stored while Redis was down are never published, the events are in the
database), when the lag returned to zero after the last fault, Redis commands and bytes per line
(INFO, from before the agents start to the end), and the CPU seconds agents and workers spent
per line. `--capacity` instead measures how fast one worker drains a backlog of --backlog lines
(all P partitions), the number the README's scaling estimate starts from.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

import pgtools

TOKEN = re.compile(r"[?&]t=(\d+)")
ATTACK = (
    '{ip} - - [{stamp}] "GET /search?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E&t={seq}'
    ' HTTP/1.1" 200 512 "-" "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0"\n'
)
SCANNER = "192.0.2.77"
SCAN = (
    '{ip} - - [{stamp}] "GET /backup/old-{n}.zip HTTP/1.1" 404 162 "-" '
    '"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0"\n'
)
PROGRESS = re.compile(r"event=worker_progress worker=(\S+) lines=(\d+)")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Cluster:
    """The processes of one run: Redis, agents, workers."""

    def __init__(self, args: argparse.Namespace, workdir: Path, db_url: str) -> None:
        self.args = args
        self.workdir = workdir
        self.redis_url = f"redis://127.0.0.1:{args.redis_port}/0"
        self.prefix = f"bench-{uuid.uuid4().hex[:8]}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        self.env.update(
            VIGIL_DATABASE_URL=db_url,
            VIGIL_REDIS_URL=self.redis_url,
            VIGIL_REDIS_PREFIX=self.prefix,
            VIGIL_CLUSTER_PARTITIONS=str(args.partitions),
            VIGIL_DETECTION_MODE=args.mode,
            VIGIL_RETENTION_DAYS="0",
            VIGIL_LOG_LEVEL="INFO",
        )
        self.redis: subprocess.Popen[bytes] | None = None
        self.agents: dict[str, subprocess.Popen[bytes]] = {}
        self.workers: list[subprocess.Popen[bytes]] = []
        self.cpu: dict[str, float] = {"agents": 0.0, "workers": 0.0}

    def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.args.redis_port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if (
                subprocess.run(
                    ["redis-cli", "-p", str(self.args.redis_port), "ping"], capture_output=True
                ).stdout.strip()
                == b"PONG"
            ):
                return
            time.sleep(0.1)
        raise SystemExit(f"redis-server did not start on port {self.args.redis_port}")

    def stop_redis(self) -> None:
        # SIGTERM: Redis flushes its append-only file and exits, as a maintenance stop would.
        if self.redis is not None:
            self.redis.send_signal(signal.SIGTERM)
            self.redis.wait(timeout=30)
            self.redis = None

    def _spawn(
        self, args: list[str], log_name: str, python_args: list[str] | None = None
    ) -> subprocess.Popen[bytes]:
        command = ["nice", "-n", "5", sys.executable, *(python_args or []), "-m", "vigil", *args]
        return subprocess.Popen(
            command,
            env=self.env,
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / log_name).open("ab"),
        )

    def start_agent(self, name: str) -> None:
        log = self.workdir / f"{name}.log"
        self.agents[name] = self._spawn(
            ["agent", "--paths", str(log), "--name", name], f"agent-{name}.err"
        )

    def kill_agent(self, name: str) -> None:
        process = self.agents.pop(name)
        self.cpu["agents"] += cpu_seconds(process.pid)
        process.kill()
        process.wait()

    def start_worker(self) -> None:
        name = f"worker-{len(self.workers)}"
        if self.args.profile:
            # The worker under cProfile (written when it stops): where its time goes.
            command = ["-m", "cProfile", "-o", str(self.workdir / f"{name}.prof")]
            self.workers.append(self._spawn(["worker"], f"{name}.err", python_args=command))
        else:
            self.workers.append(self._spawn(["worker"], f"{name}.err"))

    def kill_worker(self, index: int) -> None:
        process = self.workers[index]
        self.cpu["workers"] += cpu_seconds(process.pid)
        process.kill()
        process.wait()

    def live_cpu(self) -> dict[str, float]:
        return {
            "agents": self.cpu["agents"] + sum(cpu_seconds(p.pid) for p in self.agents.values()),
            "workers": self.cpu["workers"]
            + sum(cpu_seconds(p.pid) for p in self.workers if p.poll() is None),
        }

    def stop_all(self) -> None:
        for process in [*self.agents.values(), *self.workers]:
            if process.poll() is None:
                process.terminate()
        for process in [*self.agents.values(), *self.workers]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.stop_redis()

    def worker_lines(self) -> dict[str, int]:
        """Each worker's last reported count of lines read."""
        counts: dict[str, int] = {}
        for err in sorted(self.workdir.glob("worker-*.err")):
            for match in PROGRESS.finditer(err.read_text(errors="replace")):
                counts[match.group(1)] = int(match.group(2))
        return counts


async def redis_info(url: str) -> dict[str, int]:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        stats = await client.info("stats")
        return {
            "commands": int(stats["total_commands_processed"]),
            "in": int(stats["total_net_input_bytes"]),
            "out": int(stats["total_net_output_bytes"]),
        }
    finally:
        await client.aclose()


async def lag(url: str, prefix: str) -> tuple[int, float] | None:
    """Entries not acknowledged and the oldest one's age, or None while Redis is away."""
    from redis.asyncio import Redis

    from vigil.services.cluster import cluster_status

    client = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    try:
        status = await cluster_status(client, prefix)
        return status.lag_entries, max((p.lag_seconds for p in status.partitions), default=0.0)
    except Exception:
        return None
    finally:
        await client.aclose()


class Alerts:
    """Listens on the alerts channel (again after a Redis restart); latency per token."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.channel = f"{prefix}:alerts"
        self.written_at: dict[int, float] = {}
        self.latencies: list[float] = []
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        from redis.asyncio import Redis

        while True:
            client = Redis.from_url(self.url, socket_connect_timeout=1)
            try:
                pubsub = client.pubsub()
                await pubsub.subscribe(self.channel)
                async for item in pubsub.listen():
                    if item.get("type") != "message":
                        continue
                    now = time.monotonic()
                    event = orjson.loads(item["data"])
                    match = TOKEN.search("?" + (event.get("query") or ""))
                    if match and (seq := int(match.group(1))) in self.written_at:
                        self.latencies.append(now - self.written_at.pop(seq))
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.2)
            finally:
                await client.aclose()


async def write_logs(
    args: argparse.Namespace,
    workdir: Path,
    alerts: Alerts,
    faults: list[tuple[float, str, Any]],
) -> dict[str, Any]:
    from vigil.simulate.traffic import generate

    background = generate(args.rate * args.seconds + 1000, seed=11, attack_ratio=0.0)
    tick = 0.05
    per_tick = int(args.rate * tick)
    scan_every = max(1, int(args.seconds / tick) // args.scan_paths)
    outs = {
        name: (workdir / f"{name}.log").open("a", buffering=1 << 20) for name in ("web1", "web2")
    }
    seq = 0
    scan = 0
    written = 0
    started = time.monotonic()
    pending = sorted(faults, key=lambda f: f[0])
    try:
        for step in range(int(args.seconds / tick)):
            elapsed = time.monotonic() - started
            while pending and pending[0][0] * args.seconds <= elapsed:
                _, what, action = pending.pop(0)
                print(f"  t={elapsed:5.1f} s  {what}", flush=True)
                action()
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
            chunks: dict[str, list[str]] = {"web1": [], "web2": []}
            seqs: list[int] = []
            for i in range(per_tick):
                target = chunks["web1" if i % 2 == 0 else "web2"]
                if i % 100 == 50:
                    seq += 1
                    target.append(
                        ATTACK.format(ip=f"203.0.113.{seq % 250 + 1}", stamp=stamp, seq=seq)
                    )
                    seqs.append(seq)
                else:
                    target.append(next(background).text + "\n")
            if step % scan_every == 0 and scan < args.scan_paths:
                chunks["web1" if scan % 2 == 0 else "web2"].append(
                    SCAN.format(ip=SCANNER, stamp=stamp, n=scan)
                )
                scan += 1
            now = time.monotonic()
            for name, lines in chunks.items():
                outs[name].write("".join(lines))
                outs[name].flush()
                written += len(lines)
            for s in seqs:
                alerts.written_at[s] = now
            await asyncio.sleep(max(0.0, started + (step + 1) * tick - time.monotonic()))
        for _, what, action in pending:
            print(f"  (late) {what}", flush=True)
            action()
    finally:
        for out in outs.values():
            out.close()
    return {"lines": written, "attacks": seq, "scan": scan, "seconds": time.monotonic() - started}


async def run(args: argparse.Namespace) -> None:
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not on the PATH")
    name, db_url = await pgtools.create_database(args.postgres)
    workdir = Path(tempfile.mkdtemp(prefix="vigil-bench-cluster-"))
    cluster = Cluster(args, workdir, db_url)
    cluster.start_redis()
    try:
        subprocess.run(
            [sys.executable, "-m", "vigil", "db", "upgrade"],
            env=cluster.env,
            check=True,
            capture_output=True,
        )
        if args.capacity:
            await capacity(args, cluster, db_url)
            return
        await faults_run(args, cluster, db_url)
    finally:
        cluster.stop_all()
        await pgtools.drop_database(args.postgres, name)
        if args.profile:
            # The first worker that stopped cleanly (a worker killed with -9 writes nothing).
            profiles = sorted(workdir.glob("worker-*.prof"))
            print_profile(profiles[0] if profiles else workdir / "worker-0.prof")
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"  kept {workdir}")


async def faults_run(args: argparse.Namespace, cluster: Cluster, db_url: str) -> None:
    workdir = cluster.workdir
    for name in ("web1", "web2"):
        (workdir / f"{name}.log").touch()
    for _ in range(3):
        cluster.start_worker()
    before = await redis_info(cluster.redis_url)
    alerts = Alerts(cluster.redis_url, cluster.prefix)
    alerts.task = asyncio.create_task(alerts.run())
    await asyncio.sleep(args.warmup)  # workers import, compile rules, share the partitions
    for name in ("web1", "web2"):
        cluster.start_agent(name)
    last_fault: list[float] = [0.0]

    def stop_redis() -> None:
        loop = asyncio.get_running_loop()
        cluster.stop_redis()

        def back() -> None:
            cluster.start_redis()
            last_fault[0] = time.monotonic()
            print(f"  Redis back after {args.outage:.0f} s", flush=True)

        loop.call_later(args.outage, back)

    def mark(action: Any) -> Any:
        def run_it() -> None:
            action()
            last_fault[0] = time.monotonic()

        return run_it

    faults = [
        (0.15, "kill -9 worker 0", mark(lambda: cluster.kill_worker(0))),
        (0.25, "start a new worker", mark(cluster.start_worker)),
        (0.35, "kill -9 agent web1", mark(lambda: cluster.kill_agent("web1"))),
        (0.42, "restart agent web1", mark(lambda: cluster.start_agent("web1"))),
        (0.55, f"stop Redis for {args.outage:.0f} s", stop_redis),
    ]
    redis_counts: list[dict[str, int]] = []

    async def watch_info() -> None:
        # Redis's counters restart with it: the last reading before the stop is kept.
        while True:
            try:
                redis_counts.append(await redis_info(cluster.redis_url))
            except Exception:
                await asyncio.sleep(0.2)
                continue
            await asyncio.sleep(0.5)

    watcher = asyncio.create_task(watch_info())
    cpu_before = cluster.live_cpu()
    print(
        f"cluster: 2 agents, 3 workers, P={args.partitions}, {args.rate:,} lines/s, "
        f"mode={args.mode}"
    )
    wrote = await write_logs(args, workdir, alerts, faults)
    writer_done = time.monotonic()
    # Lag back to zero: every entry acknowledged, and every attack line stored.
    zero_at: float | None = None
    deadline = time.monotonic() + args.drain_timeout
    lag_trace: list[tuple[float, int]] = []
    while time.monotonic() < deadline:
        seen = await lag(cluster.redis_url, cluster.prefix)
        if seen is not None:
            lag_trace.append((time.monotonic() - writer_done, seen[0]))
            stored = await pgtools.fetchval(
                db_url, "SELECT count(*) FROM threat_events WHERE query ~ '(?:^|&)t=[0-9]+'"
            )
            if seen[0] == 0 and stored >= wrote["attacks"]:
                zero_at = time.monotonic()
                break
        await asyncio.sleep(0.5)
    await asyncio.sleep(2)  # alerts in flight
    watcher.cancel()
    if alerts.task is not None:
        alerts.task.cancel()
    cpu_after = cluster.live_cpu()
    after = await redis_info(cluster.redis_url)
    # Counters of the Redis before its restart, plus those of the one after it.
    restart_index = next(
        (
            i
            for i in range(1, len(redis_counts))
            if redis_counts[i]["commands"] < redis_counts[i - 1]["commands"]
        ),
        None,
    )
    if restart_index is not None:
        first_part = {k: redis_counts[restart_index - 1][k] - before[k] for k in before}
        second_part = after
        redis_cost = {k: first_part[k] + second_part[k] for k in before}
    else:
        redis_cost = {k: after[k] - before[k] for k in before}

    tokens = dict(
        (int(t), n)
        for t, n in await fetch_all(
            db_url,
            "SELECT substring(query from '(?:^|&)t=([0-9]+)'), count(*) FROM threat_events "
            "WHERE query ~ '(?:^|&)t=[0-9]+' GROUP BY 1",
        )
    )
    missing = [s for s in range(1, wrote["attacks"] + 1) if s not in tokens]
    doubled = {s: n for s, n in tokens.items() if n > 1}
    scans = await pgtools.fetchval(
        db_url,
        "SELECT count(*) FROM threat_events WHERE client_ip = '" + SCANNER + "' "  # noqa: S608
        "AND categories::text LIKE '%scan%'",
    )
    rows, keys = (
        await pgtools.fetchval(db_url, "SELECT count(*) FROM threat_events"),
        await pgtools.fetchval(db_url, "SELECT count(DISTINCT event_key) FROM threat_events"),
    )
    lat = sorted(alerts.latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    per_worker = cluster.worker_lines()
    lines = wrote["lines"]
    print(
        f"  writer           {lines:,} lines in {wrote['seconds']:.1f} s "
        f"({lines / wrote['seconds']:,.0f} lines/s)"
    )
    print(
        f"  attack lines     {wrote['attacks']:,}   "
        f"stored once {sum(1 for n in tokens.values() if n == 1):,}   "
        f"missing {len(missing)}   stored twice or more {len(doubled)}"
    )
    print(f"  events           {rows:,} rows, {keys:,} distinct keys")
    print(f"  scanner          {wrote['scan']} probes over both logs; scan events {scans}")
    print(
        f"  line-to-alert    {len(lat):,} alerts   p50 {pct(0.5):.0f} ms   "
        f"p99 {pct(0.99):.0f} ms   max {lat[-1] * 1000 if lat else float('nan'):.0f} ms   "
        f"(not published while Redis was down: {len(alerts.written_at):,})"
    )
    if zero_at is not None:
        print(
            f"  lag zero         {zero_at - writer_done:.1f} s after the writer stopped, "
            f"{zero_at - last_fault[0]:.1f} s after the last fault"
        )
    else:
        print(f"  lag zero         NOT within {args.drain_timeout} s; trace {lag_trace[-5:]}")
    span = (zero_at or time.monotonic()) - (writer_done - wrote["seconds"])
    for worker, count in sorted(per_worker.items()):
        print(
            f"  worker {worker:28s} {count:,} lines read ({count / span:,.0f} lines/s over the run)"
        )
    print(
        f"  Redis            {redis_cost['commands'] / lines:.3f} commands/line   "
        f"{redis_cost['in'] / lines:.0f} bytes in/line   "
        f"{redis_cost['out'] / lines:.0f} bytes out/line"
    )
    cpu = {k: cpu_after[k] - cpu_before[k] for k in cpu_after}
    print(
        f"  CPU              agents {cpu['agents'] / lines * 1e6:.1f} µs/line   "
        f"workers {cpu['workers'] / lines * 1e6:.1f} µs/line "
        "(killed processes counted to their death)"
    )
    ok = not missing and not doubled and scans >= 1 and rows == keys and zero_at is not None
    print("  RESULT           " + ("ok" if ok else "FAILED"))
    if not ok:
        raise SystemExit(1)


async def fetch_all(url: str, sql: str) -> list[Any]:
    conn = await pgtools.connect(url)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def capacity(args: argparse.Namespace, cluster: Cluster, db_url: str) -> None:
    """One worker drains a backlog: its lines/s and CPU per line."""
    from vigil.simulate.traffic import generate

    log = cluster.workdir / "web1.log"
    with log.open("w") as out:
        for record in generate(args.backlog, seed=5, attack_ratio=0.01):
            out.write(record.text + "\n")
    before = await redis_info(cluster.redis_url)
    cluster.start_agent("web1")
    size = log.stat().st_size
    while await agent_offset(cluster, "web1") < size:  # one HGETALL a second
        await asyncio.sleep(1.0)
    sent = await redis_info(cluster.redis_url)
    cluster.start_worker()
    started: float | None = None
    polls = 0
    total = await total_entries(cluster)
    while True:
        # One XINFO GROUPS per partition a second: the benchmark's own commands stay a small,
        # counted share of what Redis serves.
        remaining = await unacknowledged(cluster)
        polls += 1
        if started is None and remaining < total:
            started = time.monotonic()
            cpu0 = cpu_seconds(cluster.workers[0].pid)
        if started is not None and remaining == 0:
            break
        await asyncio.sleep(1.0)
    assert started is not None
    seconds = time.monotonic() - started
    cpu = cpu_seconds(cluster.workers[0].pid) - cpu0
    after = await redis_info(cluster.redis_url)
    print(
        f"capacity: one worker, P={args.partitions}, mode={args.mode}, "
        f"backlog {args.backlog:,} lines"
    )
    print(f"  drained in       {seconds:.1f} s = {args.backlog / seconds:,.0f} lines/s (wall)")
    print(
        f"  worker CPU       {cpu:.1f} s = {cpu / args.backlog * 1e6:.1f} µs/line -> "
        f"{args.backlog / cpu:,.0f} lines/s per busy core"
    )
    agent_cost = {k: sent[k] - before[k] for k in before}
    worker_cost = {k: after[k] - sent[k] for k in before}
    # The polls above (one command per partition each) are the benchmark's, not the worker's.
    worker_cost["commands"] -= polls * args.partitions
    for who, cost in (("agent", agent_cost), ("worker", worker_cost)):
        print(
            f"  Redis ({who:6s})  {cost['commands'] / args.backlog:.4f} commands/line   "
            f"{cost['in'] / args.backlog:.0f} bytes in/line   "
            f"{cost['out'] / args.backlog:.0f} bytes out/line"
        )


def print_profile(path: Path, top: int = 25) -> None:
    """The functions the worker spent most time in (own time, then with callees)."""
    import pstats

    if not path.exists():
        print(f"no profile at {path} (the worker did not stop cleanly)")
        return
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


async def agent_offset(cluster: Cluster, agent: str) -> int:
    """How far the agent's file is in the streams (its checkpoint)."""
    from redis.asyncio import Redis

    from vigil.sources.streams import StreamKeys

    client = Redis.from_url(cluster.redis_url)
    try:
        stored = await client.hgetall(StreamKeys(cluster.prefix).agent_checkpoints(agent))
        return max((int(v) for v in stored.values()), default=0)
    finally:
        await client.aclose()


async def unacknowledged(cluster: Cluster) -> int:
    """Entries of every partition not yet acknowledged by the workers' group."""
    from redis.asyncio import Redis

    from vigil.sources.streams import GROUP, StreamKeys

    client = Redis.from_url(cluster.redis_url)
    try:
        keys = StreamKeys(cluster.prefix)
        count = 0
        for p in range(cluster.args.partitions):
            for group in await client.xinfo_groups(keys.lines(p)):
                if group["name"].decode() == GROUP:
                    count += int(group["pending"]) + int(group.get("lag") or 0)
        return count
    finally:
        await client.aclose()


async def total_entries(cluster: Cluster) -> int:
    from redis.asyncio import Redis

    from vigil.sources.streams import StreamKeys

    client = Redis.from_url(cluster.redis_url)
    try:
        keys = StreamKeys(cluster.prefix)
        return sum([await client.xlen(keys.lines(p)) for p in range(cluster.args.partitions)])
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=20_000, help="lines/s over both logs")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--outage", type=float, default=10.0, help="seconds Redis is stopped")
    parser.add_argument("--scan-paths", type=int, default=50)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--mode", choices=["rules", "hybrid"], default="rules")
    parser.add_argument("--redis-port", type=int, default=6390)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--capacity", action="store_true", help="one worker draining a backlog")
    parser.add_argument("--backlog", type=int, default=200_000)
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run workers under cProfile and print where the first one spent its time",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
