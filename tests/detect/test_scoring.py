"""Anomaly points to the [0, 1] score and the severity bands."""

from __future__ import annotations

from itertools import pairwise

from vigil.detect.scoring import points_to_score
from vigil.severity import severity_of as severity


def test_mapping_is_monotone_and_bounded() -> None:
    scores = [points_to_score(points) for points in range(0, 200)]
    assert scores[0] == 0.0
    assert all(a <= b for a, b in pairwise(scores))
    assert scores[1] < scores[5] < scores[20] < scores[100]
    assert all(0.0 <= s < 1.0 for s in scores)


def test_inbound_threshold_is_high_and_single_matches_fall_in_their_bands() -> None:
    assert points_to_score(5) == 0.7
    assert severity(points_to_score(5)) == "HIGH"  # one critical rule
    assert severity(points_to_score(4)) == "MEDIUM"  # one error rule
    assert severity(points_to_score(3)) == "MEDIUM"  # one warning rule
    assert severity(points_to_score(2)) == "LOW"  # one notice rule
    assert severity(points_to_score(4)) == "MEDIUM"  # two notices
    assert severity(0.0) == "LOW"
