"""Find which known format a log is written in from its first lines, then stick to it."""

from __future__ import annotations

from collections.abc import Sequence

from vigil.batch import DeadLetter, LineBatch
from vigil.ingest.formats.base import BatchParser, LogParser, ParseResult

SAMPLE_LINES = 50


class AutoParser(BatchParser):
    """Tries every candidate on the first lines and hands all batches to the best one.

    The first batch holding a line some candidate reads decides, by most lines read (ties go
    to the earlier candidate). Until then, lines become dead letters saying no format was
    recognised. Build one per source: a log does not change format half way.
    """

    name = "auto"

    def __init__(self, candidates: Sequence[LogParser], sample_lines: int = SAMPLE_LINES) -> None:
        self._candidates = tuple(candidates)
        self._sample_lines = sample_lines
        self.chosen: LogParser | None = None

    def describe(self) -> str:
        if self.chosen is None:
            return "auto (no format detected yet)"
        return self.chosen.describe()

    def parse_batch(self, batch: LineBatch) -> ParseResult:
        """Parse `batch` with the detected format, detecting it first if need be."""
        if self.chosen is None:
            self.chosen = self.detect(batch)
            if self.chosen is None:
                tried = ", ".join(candidate.name for candidate in self._candidates)
                reason = f"matches no known log format (tried {tried})"
                return ParseResult(
                    dead_letters=[
                        DeadLetter(batch.source, batch.file_id, offset, raw, reason)
                        for raw, offset in zip(batch.lines, batch.offsets, strict=True)
                    ]
                )
        return self.chosen.parse_batch(batch)

    def detect(self, batch: LineBatch) -> LogParser | None:
        """The candidate that reads most of the first readable lines of `batch`, if any."""
        size = self._sample_lines
        for start in range(0, len(batch.lines), size):
            sample = LineBatch(
                batch.source,
                batch.file_id,
                batch.lines[start : start + size],
                batch.offsets[start : start + size],
                batch.end_offset,
                frozenset(i - start for i in batch.oversized if start <= i < start + size),
            )
            best: LogParser | None = None
            best_count = 0
            for candidate in self._candidates:
                count = len(candidate.parse_batch(sample).records)
                if count > best_count:
                    best, best_count = candidate, count
            if best is not None:
                return best
        return None
