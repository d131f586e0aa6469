"""A JSON-lines file of threat events: the worked example of a new sink.

This module and one config section (`JsonlSinkSection` in `vigil.config`) are the whole sink:
the section says when it is on (`VIGIL_JSONL_SINK__PATH=/var/log/vigil/events.jsonl`) and names
this module, whose `build` makes the sink; `open_pipeline` builds every enabled section's sink
and hands it each scored batch after the store. A Kafka or S3 sink would be the same shape.

Behind a store, each line is an event as it was stored and published (with its id and
incident); without one (`vigil scan --no-store`), each line is a threat as `vigil scan -o jsonl`
prints it. Lines are appended and flushed once per batch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO

import orjson

from vigil.batch import ScoredBatch
from vigil.config import JsonlSinkSection, Settings

__all__ = ["JsonlSink", "build"]


class JsonlSink:
    """Appends threat events to a file, one JSON object a line."""

    name = "jsonl"
    durable = False  # an export beside the database, not the record of what was found
    healthy = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self._file: IO[bytes] | None = None

    async def start(self, stopping: Callable[[], bool]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")

    async def write(self, batch: ScoredBatch) -> None:
        if self._file is None:
            raise RuntimeError("the JSON-lines sink was not started")
        if batch.stored is not None:
            items = batch.stored.events
        else:
            items = [threat.to_dict() for threat in batch.threats]
        if not items:
            return
        self._file.write(b"".join(orjson.dumps(item, default=str) + b"\n" for item in items))
        self._file.flush()
        self.written += len(items)

    async def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def build(section: JsonlSinkSection, settings: Settings) -> JsonlSink:
    """The sink of a `JsonlSinkSection` (only called when its path is set)."""
    assert section.path is not None
    return JsonlSink(section.path)
