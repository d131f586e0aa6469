"""The one batch type the analysis stages pass along, and the `Stage` interface.

A `Work` starts as a raw `LineBatch` of one site; each stage (parse, normalise, rules, served,
models, profile, behaviour, score, see `vigil.pipeline.stages`) reads what the stages before
it filled in and fills in its own part, and the last one leaves the `ScoredBatch` that the
sinks consume. A stage is a batch → batch function: `stage(work)` returns the same `Work`,
completed.

Part of a batch's analysis may be done in another process (`vigil.pipeline.helper_process`):
its result arrives through `remote`, which the stages that it can stand in for ask first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from vigil.batch import DeadLetter, LineBatch, LogRecord, ScoredBatch
from vigil.detect.behaviour import BehaviourEvent
from vigil.detect.profile.judge import ProfileVerdict
from vigil.detect.result import Detection

if TYPE_CHECKING:
    from vigil.detect.engine import Normalised

__all__ = ["RemoteResult", "Stage", "Work"]


@dataclass(frozen=True, slots=True)
class RemoteResult:
    """What a worker process made of one batch: its record count (checked against this
    process's), behaviour events, verdicts if asked (encoded, see `decode_detections`) and its
    time per stage."""

    records: int
    events: list[BehaviourEvent]
    detections: bytes | None
    timings: dict[str, float]


@dataclass(slots=True)
class Work:
    """One batch of one site on its way through the stages."""

    batch: LineBatch
    site: str
    records: list[LogRecord] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    normalised: Normalised | None = None
    """The records' new target values decoded into their views, for the rules."""
    detections: list[Detection] = field(default_factory=list)
    research: int = 0
    """Requests of the batch from internet-measurement scanners (counted, never alerts)."""
    models: Any = None
    """The model set this batch is scored with (read once: a swap applies from the next)."""
    model_scores: list[Any] | None = None
    scores: list[float] = field(default_factory=list)
    """Each record's score so far: the rules' (or, in hybrid mode, the models' fused with
    them), raised by the site profile's."""
    profile: list[ProfileVerdict] | None = None
    """The site profile's verdict on each record, where the site has a profile."""
    events: list[BehaviourEvent] = field(default_factory=list)
    scored: ScoredBatch | None = None
    timings: dict[str, float] = field(default_factory=dict)
    remote_detects: bool = False
    """Whether the worker process was asked to detect this batch too."""
    remote: Callable[[int], RemoteResult | None] | None = None
    """The worker process's result for this batch (given this process's record count), or
    None if this process must do that share itself; set while a worker shares the batch."""
    _remote_result: RemoteResult | None = None
    _remote_asked: bool = False

    def remote_result(self) -> RemoteResult | None:
        """The worker's result for this batch, waited for at most once."""
        if not self._remote_asked:
            self._remote_asked = True
            if self.remote is not None:
                self._remote_result = self.remote(len(self.records))
        return self._remote_result


class Stage(Protocol):
    """One step of the analysis: completes `work` and returns it."""

    name: str

    def __call__(self, work: Work) -> Work: ...
