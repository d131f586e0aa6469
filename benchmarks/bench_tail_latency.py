"""Tail latency: how long after a line is written the file tailer hands it out in a batch.

A writer process appends realistic combined-format lines (from the seeded traffic generator)
at a steady rate, 1/100 of a second's worth per write, each line ending with its sequence
number and the wall-clock time of its write. The tailer runs in this process with the default
settings and feeds a queue; the consumer timestamps every batch as it arrives. Prints lines
seen, lost and doubled, the write-to-batch latency percentiles, and the CPU the tailer used
while busy and while idle.

    python benchmarks/bench_tail_latency.py [--rate 10000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.synchronize
import resource
import statistics
import tempfile
import time
from pathlib import Path

from vigil.batch import LineBatch
from vigil.config import Settings
from vigil.simulate.traffic import generate
from vigil.sources.tailer import FileTailer

TICKS_PER_SECOND = 100


def write_steadily(
    path: str, rate: int, seconds: float, ready: multiprocessing.synchronize.Event
) -> None:
    """Appends `rate` lines per second for `seconds`, stamping each write."""
    per_tick = rate // TICKS_PER_SECOND
    total_ticks = int(seconds * TICKS_PER_SECOND)
    texts = [g.text.encode() for g in generate(per_tick * 50, seed=7)]
    ready.wait()
    seq = 0
    start = time.monotonic()
    with open(path, "ab", buffering=0) as out:
        for tick in range(total_ticks):
            delay = start + tick / TICKS_PER_SECOND - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            stamp = time.time_ns()
            chunk = []
            for _ in range(per_tick):
                chunk.append(b"%s %d %d\n" % (texts[seq % len(texts)], seq, stamp))
                seq += 1
            out.write(b"".join(chunk))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


async def measure(rate: int, seconds: float, idle_seconds: float) -> None:
    expected = (rate // TICKS_PER_SECOND) * int(seconds * TICKS_PER_SECOND)
    settings = Settings()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "access.log"
        path.touch()
        tailer = FileTailer.from_section(settings.file_source, [path])
        queue: asyncio.Queue[LineBatch] = asyncio.Queue(maxsize=settings.queue_size)
        runner = asyncio.create_task(tailer.run(queue))
        ready = multiprocessing.Event()
        writer = multiprocessing.Process(
            target=write_steadily, args=(str(path), rate, seconds, ready)
        )
        writer.start()
        latencies_ms: list[float] = []
        seen: set[int] = set()
        doubled = 0
        batches = 0
        await asyncio.sleep(0.2)
        cpu_start = cpu_seconds()
        ready.set()
        deadline = time.monotonic() + seconds + 10
        while len(seen) < expected and time.monotonic() < deadline:
            try:
                batch = await asyncio.wait_for(queue.get(), 1.0)
            except TimeoutError:
                continue
            arrived = time.time_ns()
            batches += 1
            for raw in batch.lines:
                _, seq_text, stamp_text = raw.rsplit(b" ", 2)
                seq = int(seq_text)
                if seq in seen:
                    doubled += 1
                seen.add(seq)
                latencies_ms.append((arrived - int(stamp_text)) / 1e6)
        busy_cpu = cpu_seconds() - cpu_start
        writer.join()
        idle_start = cpu_seconds()
        await asyncio.sleep(idle_seconds)
        idle_cpu = cpu_seconds() - idle_start
        while not queue.empty():
            doubled += len(queue.get_nowait())
        await tailer.stop()
        await runner

    latencies_ms.sort()
    print(
        f"settings: poll_interval_ms={tailer.poll_interval * 1000:.0f} "
        f"batch_time_ms={settings.batch_time_ms} "
        f"batch_size={settings.batch_size} read_chunk_bytes={settings.read_chunk_bytes}"
    )
    print(f"rate: {rate} lines/s for {seconds:.0f} s, written: {expected}")
    print(
        f"received: {len(seen)}  lost: {expected - len(seen)}  doubled: {doubled}  "
        f"batches: {batches} (mean {len(latencies_ms) / max(batches, 1):.0f} lines)"
    )
    if latencies_ms:
        print(
            "write-to-batch latency ms: "
            f"p50 {percentile(latencies_ms, 0.50):.1f}  "
            f"p90 {percentile(latencies_ms, 0.90):.1f}  "
            f"p99 {percentile(latencies_ms, 0.99):.1f}  "
            f"max {latencies_ms[-1]:.1f}  mean {statistics.fmean(latencies_ms):.1f}"
        )
    print(
        f"tailer+consumer CPU: {100 * busy_cpu / seconds:.1f}% of one core while writing, "
        f"{100 * idle_cpu / idle_seconds:.2f}% idle"
    )
    verdict = "OK" if latencies_ms and percentile(latencies_ms, 0.99) < 200 else "SLOW"
    print(f"target p99 < 200 ms and 0 lost: {verdict if len(seen) == expected else 'LOST'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=10_000, help="lines per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to write")
    parser.add_argument("--idle", type=float, default=3.0, help="idle seconds to measure CPU")
    args = parser.parse_args()
    asyncio.run(measure(args.rate, args.seconds, args.idle))


if __name__ == "__main__":
    main()
