"""What the request detection engine says about one request."""

from __future__ import annotations

import marshal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vigil.severity import Severity

FRAGMENT_LIMIT = 120


def truncate(text: str, limit: int = FRAGMENT_LIMIT) -> str:
    """`text` cut to `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """One rule that fired on one target of a request, with the text that made it fire."""

    rule_id: str
    category: str
    target: str
    fragment: str
    points: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "category": self.category,
            "target": self.target,
            "fragment": self.fragment,
            "points": self.points,
        }


@dataclass(frozen=True, slots=True)
class Detection:
    """The rule verdict on one request: score in [0, 1], severity band and the reasons.

    `points` is the anomaly total the score was mapped from; `allowlisted` names the allowlist
    that exempted the request (``"ip"`` or ``"user_agent"``), if any. Immutable, so that the
    verdict of every clean request can be one shared object.
    """

    score: float = 0.0
    severity: Severity = Severity.LOW
    matches: tuple[RuleMatch, ...] = ()
    categories: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    points: int = 0
    allowlisted: str | None = None

    @property
    def flagged(self) -> bool:
        """Whether the request is at least MEDIUM."""
        return self.severity is not Severity.LOW

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "severity": self.severity,
            "points": self.points,
            "matches": [match.to_dict() for match in self.matches],
            "categories": list(self.categories),
            "signals": list(self.signals),
            "allowlisted": self.allowlisted,
        }


CLEAN = Detection()
"""The verdict on a request no rule fired on."""
ALLOWLISTED_IP = Detection(allowlisted="ip")
ALLOWLISTED_AGENT = Detection(allowlisted="user_agent")


def encode_detections(detections: Sequence[Detection]) -> bytes:
    """The verdicts of a batch as compact bytes for another vigil process (see `decode_detections`).

    Only verdicts other than `CLEAN` are written, as plain tuples: unpickling frozen dataclasses
    costs several times more than building them again from tuples. The engine hands out one
    verdict object for all the requests of a batch that read the same (a flood repeats a few
    requests): each is written once, with the positions it stands for, and comes back as one
    shared object again, as it would have been in this process.
    """
    shared: dict[int, int] = {}
    verdicts: list[tuple[Any, ...]] = []
    positions: list[list[int]] = []
    for index, d in enumerate(detections):
        if d is CLEAN:
            continue
        number = shared.get(id(d))
        if number is None:
            number = shared[id(d)] = len(verdicts)
            verdicts.append(
                (
                    d.score,
                    str(d.severity),  # a plain str: marshal writes no subclasses
                    [(m.rule_id, m.category, m.target, m.fragment, m.points) for m in d.matches],
                    d.categories,
                    d.signals,
                    d.points,
                    d.allowlisted,
                )
            )
            positions.append([])
        positions[number].append(index)
    return marshal.dumps((len(detections), verdicts, positions))


_SEVERITY = {str(band): band for band in Severity}


def decode_detections(data: bytes) -> list[Detection]:
    """The verdicts written by `encode_detections` (by this same vigil, never untrusted data)."""
    count, verdicts, positions = marshal.loads(data)
    detections = [CLEAN] * count
    for verdict, indexes in zip(verdicts, positions, strict=True):
        score, severity, matches, categories, signals, points, allowlisted = verdict
        detection = Detection(
            score,
            _SEVERITY[severity],
            tuple([RuleMatch(*match) for match in matches]),
            categories,
            signals,
            points,
            allowlisted,
        )
        for index in indexes:
            detections[index] = detection
    return detections
