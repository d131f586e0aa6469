"""HTTP ingest (`POST /ingest/batch`) as a source: posted lines become batches of one stream.

Each accepted line gets the next position in this process's ingest stream (a file id of its
own per process), so its event key is stable and distinct from every other line's. Lines are
numbered only once the pipeline has room for them: a batch refused with 429 uses no positions.
"""

from __future__ import annotations

import uuid

from vigil.batch import LineBatch

__all__ = ["HttpIngest"]


class HttpIngest:
    """Numbers posted lines into batches of this process's ingest stream."""

    def __init__(self) -> None:
        self.file_id = f"ingest-{uuid.uuid4().hex[:12]}"
        self._next = 0

    def batch(self, source: str, lines: list[bytes]) -> LineBatch:
        """The batch of `lines` posted by `source`, at the next positions of the stream."""
        start = self._next
        self._next += len(lines)
        return LineBatch(
            source=f"http:{source}",
            file_id=self.file_id,
            lines=lines,
            offsets=list(range(start, self._next)),
            end_offset=self._next,
        )
