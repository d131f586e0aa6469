"""What a behaviour detector reports: one event per firing, with its evidence and score."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vigil.severity import Severity, severity_of

DETECTORS: tuple[str, ...] = (
    "scan",
    "probe-burst",
    "bruteforce",
    "credential-stuffing",
    "flood",
    "ua-rotation",
    "error-spike",
    "slow-bruteforce",
    "slow-scan",
    "campaign",
)


def escalating_score(base: float, observed: float, threshold: float, cap: float = 0.95) -> float:
    """`base` at the threshold, +0.1 for every doubling beyond it, never above `cap`."""
    if threshold <= 0 or observed <= threshold:
        return round(base, 3)
    return round(min(cap, base + 0.1 * math.log2(observed / threshold)), 3)


@dataclass(slots=True)
class BehaviourEvent:
    """One firing of one behaviour detector, tied to the record that triggered it.

    `record_index` is the position of that record in the batch given to `process_batch`, and
    `event_key` is derived from its origin, so the pipeline stores the event exactly once.
    """

    detector: str
    client_ip: str
    score: float
    record_index: int
    evidence: dict[str, Any]
    observed_at: datetime | None
    site: str = "default"
    event_key: str = ""
    severity: Severity = field(init=False)

    def __post_init__(self) -> None:
        self.severity = severity_of(self.score)

    @property
    def category(self) -> str:
        """Event category as stored, e.g. `behaviour:scan`."""
        return f"behaviour:{self.detector}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of the event."""
        return {
            "detector": self.detector,
            "category": self.category,
            "client_ip": self.client_ip,
            "score": self.score,
            "severity": self.severity,
            "record_index": self.record_index,
            "event_key": self.event_key,
            "site": self.site,
            "observed_at": self.observed_at.isoformat() if self.observed_at else None,
            "evidence": self.evidence,
        }


def epoch_to_iso(t: int) -> str:
    """ISO-8601 UTC form of an event-time second, for evidence."""
    return datetime.fromtimestamp(t, UTC).isoformat()
