"""Start-up: how long `vigil --help`, `vigil config` and a scan of an empty file take, and how
soon `vigil serve` follows its file and stores a line that was waiting in it.

    python benchmarks/bench_startup.py [--runs 5]

Every command runs as a user runs it (a new process, in a fresh working directory with the
embedded SQLite default); the scan and serve are timed after one warm-up run, so the on-disk
caches (compiled rules under VIGIL_CACHE_DIR, the database) exist. Prints the median and the
slowest of --runs runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ATTACK = (
    '203.0.113.9 - - [{stamp}] "GET /search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E HTTP/1.1" '
    '200 512 "-" "Mozilla/5.0"\n'
)


CPU: dict[str, list[float]] = {}
"""CPU seconds (user + system) of each timed run, by command: on a busy machine the wall time
says mostly how busy it was."""


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    CPU.setdefault(" ".join(cmd[3:]), []).append(cpu)
    return wall


def process_cpu(pid: int) -> float:
    """CPU seconds a running process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve_once(cwd: Path, env: dict[str, str], port: int) -> tuple[float, float]:
    """Seconds from process start to 'following' in its log, and to the waiting line stored."""
    log = cwd / "access.log"
    log.write_text(ATTACK.format(stamp=time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())))
    database = cwd / "vigil.db"
    env = {**env, "VIGIL_LOG_PATHS": str(log), "VIGIL_PORT": str(port), "VIGIL_LOG_LEVEL": "INFO"}
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "vigil", "serve"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    following = stored = float("nan")
    try:
        assert server.stderr is not None
        os.set_blocking(server.stderr.fileno(), False)
        buffer = ""
        deadline = started + 30
        while time.perf_counter() < deadline:
            buffer += (server.stderr.read() or b"").decode(errors="replace")
            now = time.perf_counter()
            if following != following and "following path=" in buffer:
                following = now - started
                CPU.setdefault("serve until following", []).append(process_cpu(server.pid))
            if database.exists():
                try:
                    with sqlite3.connect(database) as conn:
                        if conn.execute("SELECT count(*) FROM threat_events").fetchone()[0]:
                            stored = now - started
                            break
                except sqlite3.Error:
                    pass
            time.sleep(0.01)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.unlink()
        for leftover in cwd.glob("vigil.db*"):
            leftover.unlink()
    return following, stored


def report(name: str, values: list[float], target: float) -> None:
    print(
        f"{name:38} median {statistics.median(values):.2f} s   slowest {max(values):.2f} s   "
        f"(target <= {target} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    # As installed: byte code is written at the first run and read at the next ones.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("VIGIL_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    with tempfile.TemporaryDirectory(prefix="vigil-startup-") as tmp:
        cwd = Path(tmp)
        env["VIGIL_CACHE_DIR"] = str(cwd / "cache")
        env["VIGIL_STATE_DIR"] = str(cwd / "state")
        (cwd / "empty.log").touch()
        vigil = [sys.executable, "-m", "vigil"]
        timed([*vigil, "scan", "empty.log"], cwd, env)  # warm-up: caches and the database
        CPU.clear()
        print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        report("vigil --help", [timed([*vigil, "--help"], cwd, env) for _ in range(args.runs)], 0.4)
        report("vigil config", [timed([*vigil, "config"], cwd, env) for _ in range(args.runs)], 1.0)
        scans = [timed([*vigil, "scan", "empty.log"], cwd, env) for _ in range(args.runs)]
        report("vigil scan (empty file, caches warm)", scans, 1.0)
        serve_once(cwd, env, 18600)  # warm-up
        CPU.pop("serve until following", None)
        runs = [serve_once(cwd, env, 18601 + n) for n in range(args.runs)]
        report("vigil serve: following its file", [f for f, _ in runs], 1.5)
        report("vigil serve: waiting line stored", [s for _, s in runs], 1.5)
        for name, seconds in CPU.items():
            print(f"CPU {name:34} median {statistics.median(seconds):.2f} s")


if __name__ == "__main__":
    main()
