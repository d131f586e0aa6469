"""The `Source` protocol: what every producer of raw line batches is to the pipeline.

A source yields `LineBatch`es in order, each with its origin (source name, file identity, byte
offsets), and waits while the pipeline is full: the pipeline pulls from `batches()` only as fast
as it can analyse and store, so a full queue makes the source stop reading (backpressure, never
a drop). A source that resumes after a restart reads the stored checkpoints itself
(`vigil.sources.checkpoints`). HTTP ingest is the one push source: it offers lines to the
pipeline without waiting (`vigil.sources.http`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from vigil.batch import LineBatch

__all__ = ["Source"]


@runtime_checkable
class Source(Protocol):
    """A producer of raw line batches (see the module docstring)."""

    def batches(self) -> AsyncIterator[LineBatch]:
        """The batches of this source, in order; ends when the source is exhausted (files) or
        runs until cancelled (a tailer)."""
        ...
