"""HTTP ingest as a push source: lines are numbered only when accepted, a refusal uses no
positions, and whatever was accepted reaches the sinks, even when the pipeline stops at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from tests.conftest import make_settings
from vigil.batch import LineBatch, ScoredBatch
from vigil.pipeline.assembly import open_pipeline
from vigil.sources.base import PushSource, Source
from vigil.sources.http import HttpIngest

LINE = b'203.0.113.9 - - [07/Dec/2026:04:00:00 +0000] "GET /?q=1 HTTP/1.1" 200 5 "-" "curl/8"'


async def _pull(ingest: HttpIngest) -> list[LineBatch]:
    return [batch async for batch in ingest.batches()]


def test_http_ingest_is_a_push_source() -> None:
    ingest = HttpIngest()
    assert isinstance(ingest, Source) and isinstance(ingest, PushSource)


async def test_a_refused_offer_uses_no_positions() -> None:
    ingest = HttpIngest(capacity=2)
    assert ingest.offer("app", [b"a", b"b"], "shop")
    assert ingest.offer("app", [b"c"], None)
    assert not ingest.offer("app", [b"refused"] * 5, "shop")  # full: nothing numbered
    pulling = asyncio.create_task(_pull(ingest))
    await asyncio.sleep(0)
    assert ingest.pending == 0
    assert ingest.offer("app", [b"d", b"e"], "blog")
    ingest.close()
    assert not ingest.offer("app", [b"late"], "shop")
    batches = await asyncio.wait_for(pulling, 5)
    assert [b.offsets for b in batches] == [[0, 1], [2], [3, 4]]
    assert [b.end_offset for b in batches] == [2, 3, 5]
    assert [b.site for b in batches] == ["shop", None, "blog"]
    assert {b.source for b in batches} == {"http:app"}
    assert len({b.file_id for b in batches}) == 1


class _HeldSink:
    """A sink that waits until released, recording what it was given."""

    name = "held"
    durable = True
    healthy = True

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.batches: list[ScoredBatch] = []

    async def start(self, stopping: Callable[[], bool]) -> None:
        return None

    async def write(self, batch: ScoredBatch) -> None:
        await self.release.wait()
        self.batches.append(batch)

    async def close(self) -> None:
        return None


async def test_the_pipeline_refuses_when_full_and_drains_what_it_accepted(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'absent.db'}",
        detection_mode="rules",
        queue_size=1,
        behaviour_enabled=False,
        profile_enabled=False,
        helper_process=False,
    )
    sink = _HeldSink()
    ingest = HttpIngest(settings.queue_size)
    accepted = refused = 0
    async with open_pipeline(
        settings, sources=[ingest], store=False, extra_sinks=[sink]
    ) as pipeline:
        assert pipeline.ingest is ingest
        for _ in range(50):
            if pipeline.try_submit("app", [LINE, LINE], "shop"):
                accepted += 2
            else:
                refused += 1
            await asyncio.sleep(0.01)
        assert accepted and refused  # the held sink filled the queues: 429s
        sink.release.set()
        # Accepted just before the block ends: still analysed and handed to the sinks.
        while not pipeline.try_submit("app", [LINE], "shop"):
            await asyncio.sleep(0.01)
        accepted += 1
    assert pipeline.totals.lines == accepted
    assert sum(batch.lines for batch in sink.batches) == accepted
    # Refused batches took no positions: the stream ends right after the accepted lines.
    assert max(batch.end_offset for batch in sink.batches) == accepted
    assert {batch.site for batch in sink.batches} == {"shop"}
    assert not pipeline.try_submit("app", [LINE], "shop")  # stopped
