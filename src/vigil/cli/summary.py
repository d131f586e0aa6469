"""What a scan found, accumulated batch by batch, for the end-of-scan report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil.batch import ScoredBatch


@dataclass
class ScanSummary:
    lines: int = 0
    records: int = 0
    malformed: int = 0
    dead_letters: int = 0
    research_scanners: int = 0
    by_severity: Counter[str] = field(default_factory=Counter)
    by_category: Counter[str] = field(default_factory=Counter)
    top_ips: Counter[str] = field(default_factory=Counter)
    top_rules: Counter[str] = field(default_factory=Counter)
    incidents: int | None = None
    stored_events: int = 0
    seconds: float = 0.0
    format: str = ""
    timings: Counter[str] = field(default_factory=Counter)

    def add(self, batch: ScoredBatch) -> None:
        self.lines += batch.lines
        self.records += batch.records
        self.malformed += batch.malformed
        self.dead_letters += len(batch.dead_letters)
        for counts in batch.counters.values():
            for severity in ("low", "medium", "high"):
                self.by_severity[severity.upper()] += counts.get(severity, 0)
            self.research_scanners += counts.get("research_scanners", 0)
        # One Counter update per batch rather than several per threat: each update is a C loop.
        threats = batch.threats
        self.by_severity.update(
            f"{t.severity} (behaviour)" for t in threats if t.detection_mode == "behaviour"
        )
        self.by_category.update(chain.from_iterable(t.categories for t in threats))
        self.top_ips.update([t.record.client_ip for t in threats])
        self.top_rules.update(
            chain.from_iterable({m["rule_id"] for m in t.matches} for t in threats)
        )
        self.timings.update(batch.timings)

    @property
    def threats(self) -> int:
        return self.by_severity["HIGH"] + self.by_severity["MEDIUM"]

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "lines": self.lines,
            "records": self.records,
            "malformed": self.malformed,
            "dead_letters": self.dead_letters,
            "research_scanners": self.research_scanners,
            "by_severity": dict(self.by_severity),
            "by_category": dict(most_common(self.by_category)),
            "top_ips": most_common(self.top_ips, 10),
            "top_rules": most_common(self.top_rules, 10),
            "attacking_clients": len(self.top_ips),
            "incidents": self.incidents,
            "stored_events": self.stored_events,
            "seconds": round(self.seconds, 3),
            "lines_per_second": round(self.lines_per_second, 1),
            "stage_seconds": {k: round(v, 3) for k, v in self.timings.items()},
        }


def most_common(counts: Counter[str], n: int | None = None) -> list[tuple[str, int]]:
    """Highest counts first, ties by name, so that a report does not depend on set order."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ranked if n is None else ranked[:n]
