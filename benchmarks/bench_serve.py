"""`vigil serve` with PostgreSQL and Redis under a steady writer: does it keep up, and how long
from a line being written to its alert arriving on the Redis channel?

    python benchmarks/bench_serve.py --rate 20000 --seconds 30 \
        --postgres postgresql://postgres@127.0.0.1:5432/test --redis redis://127.0.0.1:6379/0

A writer appends realistic combined-format lines at --rate lines/s; about 1% are attacks that
carry a sequence number, so each alert received on `vigil:alerts` is matched to the moment its
line was written. With `--attacks all` every line is an attack, from 10,000 clients (the flood
of `bench_flood.py`, live). Prints lines written, alerts received (must equal attack lines),
p50/p99/max line-to-alert latency, the final lag, and the server's peak RSS. Everything runs on
loopback and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

import pgtools

SEQ = re.compile(r"[?&]t=(\d+)")
ATTACK = (
    '{ip} - - [{stamp}] "GET /search?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E&t={seq}'
    ' HTTP/1.1" 200 512 "-" "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0"\n'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def run(args: argparse.Namespace) -> None:
    from redis.asyncio import Redis

    from vigil.simulate.traffic import generate

    name, db_url = await pgtools.create_database(args.postgres)
    workdir = Path(tempfile.mkdtemp(prefix="vigil-bench-serve-"))
    log_path = workdir / "access.log"
    log_path.touch()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_DATABASE_URL=db_url,
        VIGIL_REDIS_URL=args.redis,
        VIGIL_LOG_PATHS=str(log_path),
        VIGIL_PORT=str(port),
        VIGIL_DETECTION_MODE=args.mode,
        VIGIL_LOG_LEVEL="WARNING",
    )
    subprocess.run(
        [sys.executable, "-m", "vigil", "db", "upgrade"], env=env, check=True, capture_output=True
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "vigil", "serve"],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    redis = Redis.from_url(args.redis)
    pubsub = redis.pubsub()
    await pubsub.subscribe("vigil:alerts")
    written_at: dict[int, float] = {}
    latencies: list[float] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                await asyncio.sleep(0.2)
        else:
            raise SystemExit(
                "vigil serve did not start: " + (server.stderr.read() or b"").decode()[-2000:]
                if server.stderr
                else ""
            )

        async def listen() -> None:
            async for item in pubsub.listen():
                if item.get("type") != "message":
                    continue
                now = time.monotonic()
                event = orjson.loads(item["data"])
                match = SEQ.search("?" + (event.get("query") or ""))
                if match:
                    seq = int(match.group(1))
                    if seq in written_at:
                        latencies.append(now - written_at.pop(seq))

        listener = asyncio.create_task(listen())
        background = generate(args.rate * args.seconds, seed=11, attack_ratio=0.0)
        tick = 0.05
        per_tick = int(args.rate * tick)
        seq = 0
        lines_written = 0
        attacks = 0
        started = time.monotonic()
        with log_path.open("a", buffering=1 << 20) as out:
            for step in range(int(args.seconds / tick)):
                chunk = []
                chunk_seqs = []
                stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
                for i in range(per_tick):
                    if args.attacks == "all" or i % 100 == 50:
                        seq += 1
                        # 10,000 clients in a flood; 250 otherwise.
                        ip = (
                            f"10.{seq % 40}.{seq // 40 % 250}.{seq % 250 + 1}"
                            if args.attacks == "all"
                            else f"203.0.113.{seq % 250 + 1}"
                        )
                        chunk.append(ATTACK.format(ip=ip, stamp=stamp, seq=seq))
                        chunk_seqs.append(seq)
                        attacks += 1
                    else:
                        chunk.append(next(background).text + "\n")
                now = time.monotonic()
                out.write("".join(chunk))
                out.flush()
                for written in chunk_seqs:
                    written_at[written] = now
                lines_written += len(chunk)
                next_at = started + (step + 1) * tick
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        write_seconds = time.monotonic() - started
        drain_deadline = time.monotonic() + 60
        while written_at and time.monotonic() < drain_deadline:
            await asyncio.sleep(0.2)
        final_lag = time.monotonic() - started - write_seconds
        listener.cancel()
        rss = peak_rss_mb(server.pid)
        lat = sorted(latencies)

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

        print(f"vigil serve, PostgreSQL + Redis, mode={args.mode}, attacks={args.attacks}")
        print(
            f"  writer           {lines_written:,} lines in {write_seconds:.1f} s "
            f"({lines_written / write_seconds:,.0f} lines/s)"
        )
        print(
            f"  attack lines     {attacks:,}   alerts matched {len(latencies):,}   "
            f"missing {len(written_at):,}"
        )
        print(
            f"  line-to-alert    p50 {pct(0.50):.0f} ms   p99 {pct(0.99):.0f} ms   "
            f"max {max(lat) * 1000 if lat else float('nan'):.0f} ms   "
            f"mean {statistics.fmean(lat) * 1000 if lat else float('nan'):.0f} ms"
        )
        print(f"  drain after writer stopped  {final_lag:.2f} s")
        print(f"  server peak RSS  {rss:.0f} MiB")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        await pubsub.aclose()
        await redis.aclose()
        await pgtools.drop_database(args.postgres, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--mode", choices=["rules", "hybrid"], default="rules")
    parser.add_argument(
        "--attacks",
        choices=["some", "all"],
        default="some",
        help="about 1%% of lines are attacks, or every line is (a flood from 10,000 clients)",
    )
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
