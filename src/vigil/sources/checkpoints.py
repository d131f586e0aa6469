"""Where a file source learns, at start, how far each file was already stored.

The database layer implements `CheckpointStore` over the `ingest_checkpoints` table; the sink
that stores a batch writes `batch.end_offset` for `(batch.source, batch.file_id)` in the same
transaction as the batch's events. Sources only read checkpoints, never write them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class CheckpointStore(Protocol):
    """Read access to stored checkpoints: file_id -> offset just after the last stored line."""

    async def load_all(self, source: str) -> dict[str, int]: ...


class InMemoryCheckpointStore:
    """A CheckpointStore kept in a dict, for tests and for runs without a database."""

    def __init__(self, initial: Mapping[str, Mapping[str, int]] | None = None) -> None:
        self._data: dict[str, dict[str, int]] = {
            source: dict(offsets) for source, offsets in (initial or {}).items()
        }

    async def load_all(self, source: str) -> dict[str, int]:
        return dict(self._data.get(source, {}))

    def save(self, source: str, file_id: str, offset: int) -> None:
        """Records that everything of `file_id` before `offset` is stored."""
        self._data.setdefault(source, {})[file_id] = offset

    def snapshot(self, source: str) -> dict[str, int]:
        """A copy of the checkpoints of `source`."""
        return dict(self._data.get(source, {}))
