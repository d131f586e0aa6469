"""Anomaly scoring: rule points add up per request and map onto the shared [0, 1] scale.

Each rule carries points by severity, as the OWASP Core Rule Set does (critical 5, error 4,
warning 3, notice 2). A rule counts once per request however many targets it matched, and the
points of different rules add up. The total ``p`` becomes a score with

    score = p / (p + K),  K = INBOUND_THRESHOLD * 3 / 7

which is 0 for no points, strictly increasing, below 1 for any total, and exactly 0.7 (HIGH in
`vigil.severity`) at the inbound threshold of 5 points. So one critical match is HIGH, one
warning alone (3 points, 0.58) is MEDIUM, one notice alone (2 points, 0.48) stays LOW, and two
notices are MEDIUM.
"""

from __future__ import annotations

from typing import Final

SEVERITY_POINTS: Final = {"critical": 5, "error": 4, "warning": 3, "notice": 2}
INBOUND_THRESHOLD: Final = 5
_K: Final = INBOUND_THRESHOLD * 3 / 7


def points_to_score(points: int) -> float:
    """The [0, 1] score of an anomaly total (see the module docstring for the mapping)."""
    if points <= 0:
        return 0.0
    return round(points / (points + _K), 4)
