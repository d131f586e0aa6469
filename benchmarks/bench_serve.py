"""`vigil serve` with PostgreSQL and Redis under a steady writer: does it keep up, and how long
from a line being written to its alert arriving on the Redis channel?

    python benchmarks/bench_serve.py --rate 20000 --seconds 30 \
        --postgres postgresql://postgres@127.0.0.1:5432/test --redis redis://127.0.0.1:6379/0

A writer appends realistic combined-format lines at --rate lines/s; about 1% are attacks that
carry a sequence number, so each alert received on `vigil:alerts` is matched to the moment its
line was written. With `--attacks all` every line is an attack, from 10,000 clients (the flood
of `bench_flood.py`, live).

Line-to-alert is the time from the writer's flush of the line to the file until its event,
stored, arrives on the Redis channel (vigil publishes only what its transaction committed).
Prints lines written, alerts received (must equal attack lines), p50/p99/max line-to-alert for
the whole run and per quarter of the writing (growing from quarter to quarter: not keeping up),
the backlog (attack lines written but not yet alerted) sampled every second while writing, the
drain (time after the writer stopped until every alert had arrived), then what the database
holds (events, distinct event keys, the rollups' total: each must equal the attack lines, every
event stored once), the CPU seconds of the server (with its helper process, if any), of the
PostgreSQL backends serving it and of this process (writer and listener), and the server's
peak RSS. Everything runs on loopback and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pgtools
from bench_flood import RssSampler, _cpu_seconds, _verify

SEQ_RAW = re.compile(rb"[?&]t=(\d+)")
ATTACK = (
    '{ip} - - [{stamp}] "GET /search?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E&t={seq}'
    ' HTTP/1.1" 200 512 "-" "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0"\n'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listen(redis_url: str, channel: str, received: Any, ready: Any, results: Any) -> None:
    """In a process of its own: every alert on `channel`, read as raw RESP from a plain socket,
    its sequence number found by a regular expression over the bytes (no protocol parser, no
    JSON), with the moment its bytes were read. A listener in the writer's process, parsing
    each message with redis-py, fell more than 32 MB behind at 20,000 alerts/s on a busy
    machine and was disconnected by Redis (its pubsub output buffer limit), which made alerts
    look missing. `received` counts the alerts as they arrive; when the parent says so on
    `results`, the sequence numbers seen and when are sent back."""
    from urllib.parse import urlparse

    url = urlparse(redis_url)
    sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379))
    name = channel.encode()
    sock.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(name), name))
    sock.settimeout(0.2)
    seen: dict[int, float] = {}
    carry = b""
    ready.set()
    while not results.poll():
        try:
            data = sock.recv(1 << 20)
        except TimeoutError:
            continue
        if not data:
            break
        now = time.monotonic()
        data = carry + data
        # Messages end in CRLF and JSON holds none raw: what follows the last one is carried
        # over, so no number is read cut in two.
        end = data.rfind(b"\r\n") + 2
        carry = data[end:]
        for match in SEQ_RAW.finditer(data, 0, end):
            seq = int(match.group(1))
            if seq not in seen:
                seen[seq] = now
                received.value += 1
    sock.close()
    results.send(seen)


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def run(args: argparse.Namespace) -> None:
    from vigil.simulate.traffic import generate

    name, db_url = await pgtools.create_database(args.postgres)
    workdir = Path(tempfile.mkdtemp(prefix="vigil-bench-serve-"))
    log_path = workdir / "access.log"
    log_path.touch()
    port = free_port()
    env = pgtools.vigil_env(
        VIGIL_DATABASE_URL=db_url,
        VIGIL_REDIS_URL=args.redis,
        VIGIL_LOG_PATHS=str(log_path),
        VIGIL_PORT=str(port),
        VIGIL_DETECTION_MODE=args.mode,
        VIGIL_LOG_LEVEL="WARNING",
        # A channel of its own: other runs sharing the Redis do not count here.
        VIGIL_REDIS_PREFIX=name,
    )
    env.update(setting.split("=", 1) for setting in args.setting)
    pgtools.migrate(env)
    server = subprocess.Popen(
        [sys.executable, "-m", "vigil", "serve"],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    context = multiprocessing.get_context("spawn")
    received = context.Value("q", 0, lock=False)
    ready = context.Event()
    results, reply = context.Pipe()
    listener = context.Process(
        target=listen, args=(args.redis, f"{name}:alerts", received, ready, reply), daemon=True
    )
    listener.start()
    written_at: dict[int, float] = {}
    backlog: list[int] = []
    sampler = RssSampler(server.pid, name)
    sampler.start()
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

        ready.wait(30)
        background = generate(args.rate * args.seconds, seed=11, attack_ratio=0.0)
        tick = 0.05
        per_tick = int(args.rate * tick)
        seq = 0
        lines_written = 0
        attacks = 0
        # CPU from here on: the server's start-up (imports, rule compilation) is not counted.
        sampler._cpu()
        start_cpu = sum(sampler.cpu.values())
        start_main_cpu = sampler.cpu.get(str(server.pid), 0.0)
        start_backend_cpu = sum(sampler.backend_cpu.values())
        started = time.monotonic()
        next_sample = started + 1.0
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
                if now >= next_sample:
                    backlog.append(attacks - received.value)
                    next_sample += 1.0
                next_at = started + (step + 1) * tick
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        write_seconds = time.monotonic() - started
        drain_deadline = time.monotonic() + args.drain
        while received.value < attacks and time.monotonic() < drain_deadline:
            await asyncio.sleep(0.2)
        final_lag = time.monotonic() - started - write_seconds
        listener_cpu = _cpu_seconds(str(listener.pid)) or 0.0
        results.send("done")
        seen: dict[int, float] = results.recv()
        listener.join(10)
        latencies: list[float] = []
        # (write time since start, latency) of each alert, for the per-quarter figures.
        timeline: list[tuple[float, float]] = []
        for seq, at in seen.items():
            if seq in written_at:
                written = written_at.pop(seq)
                latencies.append(at - written)
                timeline.append((written - started, at - written))
        sampler.done.set()
        sampler.join()
        sampler._cpu()
        rss = peak_rss_mb(server.pid)
        server_cpu = sum(sampler.cpu.values()) - start_cpu
        main_cpu = sampler.cpu.get(str(server.pid), 0.0) - start_main_cpu
        backend_cpu = sum(sampler.backend_cpu.values()) - start_backend_cpu
        own_cpu = _cpu_seconds(str(os.getpid())) or 0.0
        # Counted once the server has stopped (SIGTERM stores what it had read), so the counts
        # come from one state of the database and not from either side of a commit.
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        found = await _verify(db_url)
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
        quarters = []
        for q in range(4):
            low, high = q * write_seconds / 4, (q + 1) * write_seconds / 4
            part = sorted(lat for at, lat in timeline if low <= at < high)
            quarters.append(
                f"{part[min(len(part) - 1, int(0.99 * len(part)))] * 1000:.0f}" if part else "-"
            )
        print(f"  p99 by quarter   {' / '.join(quarters)} ms")
        print(
            f"  backlog          at writer stop {backlog[-1] if backlog else 0:,} attack lines, "
            f"largest {max(backlog, default=0):,} (every second: "
            f"{', '.join(f'{b:,}' for b in backlog[:: max(1, len(backlog) // 10)])})"
        )
        print(f"  drain after writer stopped  {final_lag:.2f} s")
        once = found["events"] == found["distinct_keys"] == found["rollup_events"]
        print(
            f"  stored           events {found['events']:,}, distinct keys "
            f"{found['distinct_keys']:,}, rollup total {int(found['rollup_events']):,}: "
            f"{'each once' if once else 'NOT each once'}, "
            + (
                "every attack line stored"
                if found["events"] == attacks
                else f"{attacks - found['events']:,} attack lines not stored yet (read again at "
                "the next start)"
            )
        )
        print(
            f"  CPU seconds      from the writer's start: server {server_cpu:.1f} (main process "
            f"{main_cpu:.1f}, {main_cpu / max(len(latencies), 1) * 1e6:.0f} µs per event), "
            f"PostgreSQL backends {backend_cpu:.1f}, "
            f"writer {own_cpu:.1f}, listener {listener_cpu:.1f}; server+backends "
            f"{(server_cpu + backend_cpu) / max(len(latencies), 1) * 1e6:.0f} µs per event "
            "alerted by then"
        )
        print(f"  server peak RSS  {rss:.0f} MiB")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        if listener.is_alive():
            listener.kill()
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
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="VIGIL_NAME=VALUE",
        help="a setting for the server (repeatable), e.g. VIGIL_HELPER_PROCESS=true",
    )
    parser.add_argument(
        "--drain", type=float, default=60.0, help="seconds to wait for the last alerts"
    )
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
