"""HTTP ingest (`POST /ingest/batch`) as a source: posted lines become batches of one stream.

HTTP ingest is the one push source: a request cannot wait for the pipeline, so `offer` either
accepts a batch at once or refuses it (the route answers 429, the writer retries). Each
accepted line gets the next position in this process's ingest stream (a file id of its own per
process), so its event key is stable and distinct from every other line's. Lines are numbered
only when accepted: a refused batch uses no positions.

Accepted batches wait in a bounded buffer until the consumer pulls them from `batches()` (the
pipeline, with backpressure like any source; on a cluster API node, the writer to the partition
streams). `close()` refuses further offers and lets `batches()` end once everything accepted
has been pulled: nothing accepted is dropped.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator

from vigil.batch import LineBatch

__all__ = ["HttpIngest"]


class HttpIngest:
    """Numbers posted lines into batches of this process's ingest stream (a push `Source`)."""

    def __init__(self, capacity: int = 8) -> None:
        self.file_id = f"ingest-{uuid.uuid4().hex[:12]}"
        self.capacity = capacity
        """Accepted batches the buffer holds before `offer` refuses."""
        self._next = 0
        self._buffer: deque[LineBatch] = deque()
        self._ready = asyncio.Event()
        self._closed = False

    def batch(self, source: str, lines: list[bytes], site: str | None = None) -> LineBatch:
        """The batch of `lines` posted by `source`, at the next positions of the stream."""
        start = self._next
        self._next += len(lines)
        return LineBatch(
            source=f"http:{source}",
            file_id=self.file_id,
            lines=lines,
            offsets=list(range(start, self._next)),
            end_offset=self._next,
            site=site,
        )

    def offer(self, source: str, lines: list[bytes], site: str | None = None) -> bool:
        """Accept `lines` if the buffer has room now; False means 'retry later' (nothing was
        numbered)."""
        if self._closed or len(self._buffer) >= self.capacity:
            return False
        self._buffer.append(self.batch(source, lines, site))
        self._ready.set()
        return True

    @property
    def pending(self) -> int:
        """Accepted batches not yet pulled."""
        return len(self._buffer)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Refuse further offers; `batches()` ends once the buffer is empty."""
        self._closed = True
        self._ready.set()

    async def batches(self) -> AsyncIterator[LineBatch]:
        """The accepted batches in order, until closed and emptied."""
        while True:
            while self._buffer:
                yield self._buffer.popleft()
            if self._closed:
                return
            self._ready.clear()
            await self._ready.wait()
