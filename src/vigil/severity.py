"""The one severity scale of vigil: a score in [0, 1] falls in a band, HIGH from 0.7, MEDIUM from
0.5, LOW below. Rules, models, behaviour windows, the store, the API and the CLI all use it."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = ["HIGH_FROM", "MEDIUM_FROM", "Severity", "severity_of"]

HIGH_FROM: Final = 0.7
"""The lowest HIGH score (one critical rule, see `vigil.detect.scoring`)."""
MEDIUM_FROM: Final = 0.5
"""The lowest MEDIUM score: MEDIUM and HIGH findings are stored as events."""


class Severity(StrEnum):
    """A severity band. Members are strings ("HIGH" == Severity.HIGH), so they store, print and
    serialise as the plain names."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"

    @property
    def rank(self) -> int:
        """0 for LOW, 1 for MEDIUM, 2 for HIGH: for comparing bands."""
        return _RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity | None:
        """The band named by `text` in any case, or None when it names none."""
        try:
            return cls(text.upper())
        except ValueError:
            return None


_RANK: Final = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2}


def severity_of(score: float) -> Severity:
    """The band of a score: HIGH from 0.7, MEDIUM from 0.5, LOW below."""
    if score >= HIGH_FROM:
        return Severity.HIGH
    if score >= MEDIUM_FROM:
        return Severity.MEDIUM
    return Severity.LOW
