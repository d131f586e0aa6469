"""The `Sink` protocol: what every destination of scored batches is to the pipeline.

The pipeline hands each scored batch to its sinks in order, one after the other. The store comes
first: it writes the batch's events, incidents, decisions and checkpoint in one transaction and
puts what it stored on `batch.stored`, so that the sinks after it (the broker, webhooks, a file)
publish exactly the stored events, with their ids. A sink that is `durable` is part of "nothing
lost": an error from it stops the pipeline rather than skip a batch (the store retries outages
itself, holding the batch, so the queues fill and the sources wait). A sink that is not durable
is best effort: its errors are counted and logged, and the batch goes on.

A new sink is one module in `vigil.sinks` with a class that has these four members and a
`build(section, settings)` function, plus its config section in `vigil.config` (a `SinkSection`
naming the module); `vigil.sinks.jsonl` is the worked example.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from vigil.batch import ScoredBatch

__all__ = ["Sink"]


@runtime_checkable
class Sink(Protocol):
    """A destination of scored batches (see the module docstring)."""

    name: str
    """Short name, used for the sink's counters in /health and in logs."""
    durable: bool
    """Whether a failure of this sink must stop the pipeline (True) or is only counted (False)."""
    healthy: bool
    """False while the sink cannot write (the database is down); shown by /health."""

    async def start(self, stopping: Callable[[], bool]) -> None:
        """Called once before the first batch. `stopping()` turns true once the pipeline has
        begun to shut down: a sink waiting out an outage may then give up."""
        ...

    async def write(self, batch: ScoredBatch) -> None:
        """Take one scored batch; batches arrive in the order they were read."""
        ...

    async def close(self) -> None:
        """Called once after the last batch: flush and release what the sink holds."""
        ...
