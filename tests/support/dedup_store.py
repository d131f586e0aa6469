"""A stand-in for the database's side of exactly-once, for tailer tests: events keyed by their
line's origin and inserted only once, stored with their batch's checkpoint as one step."""

from __future__ import annotations

from vigil.batch import LineBatch, event_key
from vigil.sources.checkpoints import InMemoryCheckpointStore


class DedupStore:
    """Events keyed by origin, stored with their batch's checkpoint as one atomic step."""

    def __init__(self) -> None:
        self.checkpoints = InMemoryCheckpointStore()
        self.events: dict[str, bytes] = {}
        self.order: list[bytes] = []
        """Lines in the order they were first stored."""

    def commit(self, batch: LineBatch) -> None:
        for offset, line in zip(batch.offsets, batch.lines, strict=True):
            key = event_key(batch.source, batch.file_id, offset)
            if key not in self.events:
                self.events[key] = line
                self.order.append(line)
        self.checkpoints.save(batch.source, batch.file_id, batch.end_offset)
