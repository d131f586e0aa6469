"""A batch is analysed one stage at a time: `Analyzer.analyze_steps` pauses after each stage,
and the async pipeline lets its other tasks (the store waiting on the database) run in between
instead of after the whole batch."""

from __future__ import annotations

import asyncio
from itertools import pairwise
from typing import Any

from vigil.batch import LineBatch
from vigil.config import load_settings
from vigil.pipeline.analyze import Analyzer
from vigil.pipeline.runner import Pipeline
from vigil.pipeline.work import Work

LINES = [
    b'203.0.113.9 - - [07/Dec/2026:10:00:00 +0000] "GET /search?q=%3Cscript%3Ealert(1)'
    b'%3C%2Fscript%3E HTTP/1.1" 200 512 "-" "Mozilla/5.0"',
    b'203.0.113.10 - - [07/Dec/2026:10:00:01 +0000] "GET /item?id=1%27%20UNION%20SELECT'
    b'%20password%20FROM%20users--%20 HTTP/1.1" 200 512 "-" "Mozilla/5.0"',
    b'198.51.100.4 - - [07/Dec/2026:10:00:02 +0000] "GET /about HTTP/1.1" 200 512 "-" "curl/8"',
]


def _batch() -> LineBatch:
    offsets, at = [], 0
    for line in LINES:
        offsets.append(at)
        at += len(line) + 1
    return LineBatch("files", "f", list(LINES), offsets, at)


def _analyzer() -> Analyzer:
    return Analyzer(load_settings(detection_mode="rules", behaviour_enabled=False), enrich=False)


def test_steps_pause_once_per_stage_and_return_what_analyze_returns() -> None:
    stepped = _analyzer()
    steps = stepped.analyze_steps(_batch())
    pauses = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            scored = done.value
            break
        pauses += 1
    assert pauses == len(stepped.stages)
    whole = _analyzer().analyze(_batch())
    assert [t.key for t in scored.threats] == [t.key for t in whole.threats]
    assert [t.severity for t in scored.threats] == [t.severity for t in whole.threats]
    assert len(scored.threats) == 2
    assert set(scored.timings) >= {stage.name for stage in stepped.stages}


class _Ticking:
    """A stage that notes how often another task has run when it is called."""

    def __init__(self, stage: Any, seen: list[int], ticks: list[int]) -> None:
        self.stage = stage
        self.name = stage.name
        self.seen = seen
        self.ticks = ticks

    def __call__(self, work: Work) -> Work:
        self.seen.append(self.ticks[0])
        result: Work = self.stage(work)
        return result


async def _other_task_runs_between_stages() -> tuple[list[int], int]:
    analyzer = _analyzer()
    ticks = [0]
    seen: list[int] = []
    analyzer.stages = tuple(_Ticking(stage, seen, ticks) for stage in analyzer.stages)
    pipeline = Pipeline(
        load_settings(queue_size=4, behaviour_enabled=False).runner, analyzer=analyzer
    )
    running = True

    async def tick() -> None:
        while running:
            ticks[0] += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    await pipeline.start()
    await pipeline.submit(_batch())
    assert await pipeline.stop(drain=True)
    running = False
    await ticker
    return seen, pipeline.totals.threats


def test_the_pipeline_lets_other_tasks_run_between_the_stages_of_a_batch() -> None:
    seen, threats = asyncio.run(_other_task_runs_between_stages())
    assert threats == 2
    assert len(seen) == len(_analyzer().stages)
    # Each stage found the other task further on than the stage before it did.
    assert all(later > earlier for earlier, later in pairwise(seen))
