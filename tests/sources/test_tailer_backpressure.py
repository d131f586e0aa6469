"""Backpressure: a slow consumer makes the tailer stop reading; nothing is lost, memory bounded."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from vigil.batch import LineBatch
from vigil.sources.tailer import FileTailer

LINE_BYTES = 100
TOTAL = 60_000


def line(i: int) -> bytes:
    text = f"{i:08d} GET /fast/producer/{'p' * 60}"
    return text.encode().ljust(LINE_BYTES - 1, b".") + b"\n"


def produce(path: Path, done: threading.Event) -> None:
    with path.open("ab") as f:
        for start in range(0, TOTAL, 5000):
            f.write(b"".join(line(i) for i in range(start, start + 5000)))
            f.flush()
    done.set()


async def test_slow_consumer_bounds_what_is_in_flight(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.touch()
    queue_size, batch_size, chunk = 2, 100, 16 * 1024
    tailer = FileTailer(
        [path],
        batch_size=batch_size,
        read_chunk_bytes=chunk,
        poll_interval_ms=2,
        batch_time_ms=2,
    )
    queue: asyncio.Queue[LineBatch] = asyncio.Queue(maxsize=queue_size)
    runner = asyncio.create_task(tailer.run(queue))
    done = threading.Event()
    producer = threading.Thread(target=produce, args=(path, done))
    producer.start()

    consumed_batches = 0
    consumed_bytes = 0
    lines: list[bytes] = []
    worst_batches = 0
    worst_bytes = 0
    lagging_seen = False
    while len(lines) < TOTAL:
        batch = await asyncio.wait_for(queue.get(), 30)
        await asyncio.sleep(0.002)  # the deliberately slow consumer
        consumed_batches += 1
        consumed_bytes += sum(len(x) + 1 for x in batch.lines)
        lines.extend(batch.lines)
        worst_batches = max(worst_batches, tailer.stats.batches - consumed_batches)
        worst_bytes = max(worst_bytes, tailer.stats.bytes_read - consumed_bytes)
        if done.is_set() and path.stat().st_size - tailer.stats.bytes_read > 1 << 20:
            lagging_seen = True  # the file is far ahead of what the tailer has read
    await tailer.stop()
    await asyncio.wait_for(runner, 10)
    producer.join()

    print(f"in flight at worst: {worst_batches} batches, {worst_bytes} bytes")
    assert lines == [line(i).rstrip(b"\n") for i in range(TOTAL)]
    assert lagging_seen
    # In flight: the queue, the batch being put, the batch being filled; bytes also one chunk.
    assert worst_batches <= queue_size + 1
    assert worst_bytes <= (queue_size + 2) * batch_size * LINE_BYTES + chunk


async def test_pulling_consumer_gets_nothing_read_ahead(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(b"".join(line(i) for i in range(20_000)))
    tailer = FileTailer([path], batch_size=50, read_chunk_bytes=8192, poll_interval_ms=2)
    batches = tailer.batches()
    first = await anext(batches)
    await asyncio.sleep(0.1)  # an idle consumer: the generator is suspended, nothing is read
    assert tailer.stats.bytes_read <= 8192
    assert first.lines[0] == line(0).rstrip(b"\n")
    count = len(first)
    async for batch in batches:
        count += len(batch)
        if count == 20_000:
            break
    assert count == 20_000
    await batches.aclose()
