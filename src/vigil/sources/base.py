"""The `Source` protocol: what every producer of raw line batches is to the pipeline.

A source yields `LineBatch`es in order, each with its origin (source name, file identity, byte
offsets), and waits while the pipeline is full: the pipeline pulls from `batches()` only as fast
as it can analyse and store, so a full queue makes the source stop reading (backpressure, never
a drop). A source that resumes after a restart reads the stored checkpoints itself
(`vigil.sources.checkpoints`). A batch whose `site` is set is analysed for that site; otherwise
for the site the source was added with.

A push source (`PushSource`) is also a `Source`: its producer cannot wait (HTTP ingest, whose
request is answered at once), so it `offer`s what it is given and is refused when its buffer is
full; the pipeline pulls the accepted batches from `batches()` like any other. Stopping the
pipeline `close`s it, and what it had accepted still goes through (`vigil.sources.http`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from vigil.batch import LineBatch

__all__ = ["PushSource", "Source"]


@runtime_checkable
class Source(Protocol):
    """A producer of raw line batches (see the module docstring)."""

    def batches(self) -> AsyncIterator[LineBatch]:
        """The batches of this source, in order; ends when the source is exhausted (files) or
        runs until cancelled (a tailer)."""
        ...


@runtime_checkable
class PushSource(Source, Protocol):
    """A source fed without waiting (see the module docstring)."""

    def offer(self, source: str, lines: list[bytes], site: str | None = None) -> bool:
        """Accept `lines` now, or refuse them (False: nothing was taken, retry later)."""
        ...

    @property
    def closed(self) -> bool:
        """True once `close` was called."""
        ...

    def close(self) -> None:
        """Refuse further offers; `batches()` ends once what was accepted has been pulled."""
        ...
