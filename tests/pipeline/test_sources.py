"""Sources as the pipeline pulls them: a source that fails is reported, and what it handed
over before failing still goes through the sinks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import make_settings
from vigil.batch import LineBatch
from vigil.pipeline.assembly import open_pipeline

LINE = b'203.0.113.9 - - [07/Dec/2026:04:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl/8"'


class _Failing:
    """Two batches (the second for a site of its own), then an error."""

    async def batches(self) -> AsyncIterator[LineBatch]:
        yield LineBatch("failing", "f", [LINE, LINE], [0, 100], 200)
        yield LineBatch("failing", "f", [LINE], [200], 300, site="blog")
        raise RuntimeError("disk gone")


async def test_a_failing_source_is_reported_and_its_batches_drained(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'absent.db'}",
        detection_mode="rules",
        behaviour_enabled=False,
        profile_enabled=False,
        helper_process=False,
    )
    with caplog.at_level(logging.ERROR):
        async with open_pipeline(settings, store=False) as pipeline:
            task = pipeline.add_source(_Failing(), site="shop")
            while not task.done():
                await asyncio.sleep(0.01)
            drained = await pipeline.stop(drain=True)
    assert drained
    assert pipeline.totals.lines == 3
    assert set(pipeline.site_totals) == {"shop", "blog"}
    assert "event=source_failed" in caplog.text and "disk gone" in caplog.text
