"""What vigil's detection says of log records, for the detection benchmarks.

The rules engine's verdict after the per-site probe judgement (`ServedJudge`, learning from
every batch it is given, in order), and the hybrid models' fused score, batch by batch as the
pipeline's analysis gives them. Without the models the hybrid score is the rules' own.
"""

from __future__ import annotations

from collections.abc import Sequence

from vigil.batch import LineBatch, LogRecord
from vigil.detect.engine import DetectionEngine
from vigil.detect.ml.runtime import HybridModels, load_models, shipped_model_dir
from vigil.detect.result import Detection
from vigil.detect.ruleset import load_ruleset
from vigil.detect.served import ServedJudge
from vigil.ingest.parser import LogParser


def parse_lines(log: LogParser, lines: list[bytes], first: int = 0) -> list[LogRecord]:
    """The records `log` (one `build_parser`, made once) reads in `lines`, one batch whose
    offsets count from `first`."""
    offsets = list(range(first, first + len(lines)))
    batch = LineBatch("bench", "bench", lines, offsets, first + len(lines))
    return log.parse_batch(batch).records


class Verdicts:
    """The shipped rules (with the probe judgement) and, with `hybrid`, the shipped models."""

    def __init__(self, *, hybrid: bool = True) -> None:
        ruleset = load_ruleset()
        self.engine = DetectionEngine(ruleset)
        self.served = ServedJudge(ruleset.rules)
        self.models: HybridModels | None = load_models(shipped_model_dir()) if hybrid else None

    def judge(
        self, records: Sequence[LogRecord], site: str = "default"
    ) -> tuple[list[Detection], list[float]]:
        """Each record's rule verdict, and its final score (hybrid, or the rules' alone)."""
        detections = self.served.judge(records, self.engine.detect_batch(records), site)
        if self.models is None:
            return detections, [d.score for d in detections]
        return detections, [f.score for f in self.models.score_batch(records, detections)]
