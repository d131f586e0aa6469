"""Threat rollup counts (counted per run of one bucket, minutes summed into hours and hours
into days) equal a plain count event by event: in time order, out of order, across hours and
days, with values missing and with several values per event."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from vigil.sinks.rollups import MINUTE_DIMS, MULTI_DIMS, ThreatCounts, floor_to


def _plain(
    observed: list[datetime], scores: list[float], dims: dict[str, list[Any]]
) -> dict[tuple[str, datetime, str, str], tuple[int, float]]:
    cells: dict[tuple[str, datetime, str, str], tuple[int, float]] = {}
    for index, moment in enumerate(observed):
        for dim, per_event in dims.items():
            value = per_event[index]
            if value is None:
                continue
            periods = ("m", "h", "d") if dim in MINUTE_DIMS else ("h", "d")
            for one in value if dim in MULTI_DIMS else (value,):
                for period in periods:
                    key = (period, floor_to(moment, period), dim, one)
                    events, best = cells.get(key, (0, -1.0))
                    cells[key] = (events + 1, max(best, scores[index]))
    return cells


@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.parametrize("span_minutes", [3, 180, 3000])
def test_counts_equal_a_plain_count(ordered: bool, span_minutes: int) -> None:
    rng = random.Random(span_minutes * 2 + ordered)
    start = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)
    count = 2500
    observed = sorted(
        start + timedelta(seconds=rng.randrange(span_minutes * 60)) for _ in range(count)
    )
    if not ordered:
        rng.shuffle(observed)
    scores = [rng.choice([0.5, 0.55, 0.7, 0.9, 0.95, 1.0]) for _ in range(count)]
    dims: dict[str, list[Any]] = {
        "severity": [rng.choice(["HIGH", "MEDIUM"]) for _ in range(count)],
        "category": [rng.choice([("sqli",), ("xss", "sqli"), ()]) for _ in range(count)],
        "rule": [rng.choice([("r1",), ("r1", "r2"), ("r3",), ()]) for _ in range(count)],
        "client": [f"198.51.100.{rng.randrange(60)}" for _ in range(count)],
        "path": [f"/p{rng.randrange(400)}" for _ in range(count)],
        "country": [rng.choice(["NL", "US", None]) for _ in range(count)],
    }
    counts = ThreatCounts("a")
    counts.add_events(observed, scores, dims)
    got = {key: (tally.events, tally.max_score) for key, tally in counts.cells.items()}
    assert got == _plain(observed, scores, dims)
