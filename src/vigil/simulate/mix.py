"""Realistic mixed traffic for demos and tests: the generated background of browsing, APIs,
assets, bots and single-request attacks, with every behaviour scenario (scanner, brute force,
credential stuffing, flood, …) and the near-misses played at staggered times through the day."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from vigil.simulate.scenarios import NEAR_MISSES, SCENARIOS, scenario_lines
from vigil.simulate.traffic import DEFAULT_START, generate


def mixed_lines(
    n: int,
    seed: int,
    *,
    start: datetime = DEFAULT_START,
    duration: timedelta = timedelta(days=1),
    scenarios: bool = True,
    attack_ratio: float = 0.05,
) -> Iterator[tuple[str, str]]:
    """(line, label) pairs in time order; label is `benign`, an attack family or a detector."""
    step = duration.total_seconds() / n if n else 0.0
    background = (
        (start + timedelta(seconds=int(i * step)), 0, i, item.text, item.label or "benign")
        for i, item in enumerate(
            generate(n, seed, attack_ratio=attack_ratio, start=start, duration=duration)
        )
    )
    streams: list[Iterator[tuple[datetime, int, int, str, str]]] = [background]
    if scenarios:
        names = [*SCENARIOS, *NEAR_MISSES]
        gap = duration / (len(names) + 1)
        for k, name in enumerate(names, start=1):
            lines = scenario_lines(name, start + gap * k, seed)
            streams.append(
                (line.request.at, k, j, line.text, line.label) for j, line in enumerate(lines)
            )
    for _at, _stream, _index, text, label in heapq.merge(*streams):
        yield text, label


def write_mixed(
    path: Path,
    n: int,
    seed: int,
    *,
    labels_path: Path | None = None,
    scenarios: bool = True,
    start: datetime = DEFAULT_START,
) -> Counter[str]:
    """Write the mixed log of the day from `start` (and optionally one label per line); count
    lines by label."""
    counts: Counter[str] = Counter()
    with path.open("w", encoding="utf-8") as out:
        labels = labels_path.open("w", encoding="utf-8") if labels_path else None
        try:
            for text, label in mixed_lines(n, seed, start=start, scenarios=scenarios):
                out.write(text + "\n")
                if labels is not None:
                    labels.write(label + "\n")
                counts[label] += 1
        finally:
            if labels is not None:
                labels.close()
    return counts
