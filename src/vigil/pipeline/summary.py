"""What a scan found, accumulated batch by batch, for the end-of-scan report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil.pipeline.analyze import ScoredBatch


@dataclass
class ScanSummary:
    lines: int = 0
    records: int = 0
    malformed: int = 0
    dead_letters: int = 0
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
        for threat in batch.threats:
            if threat.detection_mode == "behaviour":
                self.by_severity[f"{threat.severity} (behaviour)"] += 1
            self.by_category.update(threat.categories)
            self.top_ips[threat.record.client_ip] += 1
            self.top_rules.update({m["rule_id"] for m in threat.matches})
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
            "by_severity": dict(self.by_severity),
            "by_category": dict(self.by_category.most_common()),
            "top_ips": self.top_ips.most_common(10),
            "top_rules": self.top_rules.most_common(10),
            "attacking_clients": len(self.top_ips),
            "incidents": self.incidents,
            "stored_events": self.stored_events,
            "seconds": round(self.seconds, 3),
            "lines_per_second": round(self.lines_per_second, 1),
            "stage_seconds": {k: round(v, 3) for k, v in self.timings.items()},
        }
