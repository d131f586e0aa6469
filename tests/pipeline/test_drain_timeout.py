"""`Pipeline.stop(timeout=…)`: a drain that cannot finish in time is abandoned, and says so;
`Pipeline.discard_unanalysed`: batches not analysed yet are dropped before a drain."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from vigil.batch import LineBatch, ScoredBatch
from vigil.config import load_settings
from vigil.pipeline.analyze import Analyzer
from vigil.pipeline.runner import Pipeline

LINE = b'10.0.0.1 - - [10/Oct/2026:14:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"'


class GatedSink:
    """A durable sink that stores a batch only when the test lets it."""

    name = "gated"
    durable = True
    healthy = True

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.stored: list[int] = []

    async def start(self, stopping: Callable[[], bool]) -> None:
        return None

    async def write(self, batch: ScoredBatch) -> None:
        await self.open.wait()
        self.stored.append(batch.end_offset)

    async def close(self) -> None:
        return None


def _batch(n: int) -> LineBatch:
    return LineBatch("files", "f", [LINE], [n * 100], n * 100 + len(LINE) + 1)


async def _pipeline(sink: GatedSink) -> Pipeline:
    settings = load_settings(detection_mode="rules", queue_size=4, behaviour_enabled=False)
    pipeline = Pipeline(settings.runner, analyzer=Analyzer(settings), sinks=[sink])
    await pipeline.start()
    for n in range(3):
        await pipeline.submit(_batch(n))
    return pipeline


async def test_a_drain_that_runs_out_of_time_stops_and_reports_it() -> None:
    sink = GatedSink()
    pipeline = await _pipeline(sink)
    assert await pipeline.stop(drain=True, timeout=0.3) is False
    assert sink.stored == []


async def test_a_drain_within_the_timeout_stores_every_batch() -> None:
    sink = GatedSink()
    pipeline = await _pipeline(sink)
    sink.open.set()
    assert await pipeline.stop(drain=True, timeout=30) is True
    # Waiting batches of one file may be stored together: the last one stored ends the file.
    assert sink.stored and sink.stored[-1] == _batch(2).end_offset


async def test_batches_not_analysed_yet_are_dropped_before_the_drain() -> None:
    sink = GatedSink()
    settings = load_settings(detection_mode="rules", queue_size=4, behaviour_enabled=False)
    pipeline = Pipeline(settings.runner, analyzer=Analyzer(settings), sinks=[sink])
    for n in range(3):
        await pipeline.submit(_batch(n))
    await pipeline.start()
    assert pipeline.discard_unanalysed() == 3
    await pipeline.submit(_batch(3))
    sink.open.set()
    assert await pipeline.stop(drain=True, timeout=30) is True
    # Only the batch accepted after the discard went through.
    assert sink.stored == [_batch(3).end_offset]
    assert pipeline.totals.lines == 1
