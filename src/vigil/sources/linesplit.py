"""Cutting a byte stream into complete lines with offsets, and packing them into LineBatches.

Shared by the file tailer and the one-shot readers so both agree on what a line is:

- a line ends at `\\n`; the `\\n` is removed, everything else (a `\\r`, NUL bytes, invalid UTF-8)
  is kept as it was written;
- a line longer than `max_line_bytes` keeps only its first `max_line_bytes` bytes in memory, the
  rest is read and discarded, and its index is put in `LineBatch.oversized` so the parser
  dead-letters it: nothing is skipped silently and one huge line cannot exhaust memory;
- bytes after the last `\\n` wait for their newline; only `finish()` (the input is known to be
  complete) turns them into a last line.
"""

from __future__ import annotations

import time
from itertools import accumulate

from vigil.batch import LineBatch


class SplitLines:
    """Complete lines cut from one chunk, read by a cursor as they are packed into batches."""

    __slots__ = ("cursor", "end", "lines", "offsets", "oversized")

    def __init__(
        self, lines: list[bytes], offsets: list[int], oversized: list[int], end: int
    ) -> None:
        self.lines = lines
        self.offsets = offsets
        self.oversized = oversized
        self.end = end
        self.cursor = 0

    @property
    def remaining(self) -> int:
        return len(self.lines) - self.cursor

    def end_of(self, index: int) -> int:
        """Offset just after line `index - 1`, i.e. where line `index` starts."""
        return self.offsets[index] if index < len(self.lines) else self.end


EMPTY_SPLIT = SplitLines([], [], [], 0)
_PLUS_ONE = (1).__add__


class LineSplitter:
    """Turns consecutive chunks of one stream into complete lines and their byte offsets."""

    __slots__ = ("_overflow", "_partial", "_partial_start", "max_line_bytes", "position")

    def __init__(self, start: int, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        # Offset just after the last byte fed in.
        self.position = start
        self._partial = bytearray()
        self._partial_start = start
        self._overflow = False

    @property
    def has_partial(self) -> bool:
        """True when bytes after the last newline are waiting for their newline."""
        return bool(self._partial) or self._overflow

    @property
    def line_start(self) -> int:
        """Offset where the waiting partial line starts (the position if none waits)."""
        return self._partial_start if self.has_partial else self.position

    def feed(self, data: bytes) -> SplitLines:
        """Lines completed by `data`, which continues the stream at `self.position`."""
        start = self.position
        self.position = start + len(data)
        limit = self.max_line_bytes
        first_nl = data.find(b"\n")
        if first_nl < 0:
            self._hold(data, start)
            return SplitLines([], [], [], start)

        lines: list[bytes] = []
        offsets: list[int] = []
        oversized: list[int] = []

        head = data[:first_nl]
        if self.has_partial:
            room = limit - len(self._partial)
            overflow = self._overflow or len(head) > room
            first = bytes(self._partial) + head[: max(room, 0)]
            first_offset = self._partial_start
            self._partial.clear()
            self._overflow = False
        else:
            overflow = len(head) > limit
            first = head[:limit] if overflow else head
            first_offset = start
        if overflow:
            oversized.append(0)
        lines.append(first)
        offsets.append(first_offset)

        pos = first_nl + 1
        parts = data[pos:].split(b"\n")
        tail = parts.pop()
        sizes = list(map(len, parts))
        # Each line starts just after the one before it and its newline: running sums in C.
        starts = list(accumulate(map(_PLUS_ONE, sizes), initial=start + pos))
        end = starts.pop()
        offsets.extend(starts)
        if sizes and max(sizes) > limit:
            for part in parts:
                if len(part) > limit:
                    oversized.append(len(lines))
                    part = part[:limit]
                lines.append(part)
        else:
            lines.extend(parts)
        if tail:
            self._hold(tail, end)
        return SplitLines(lines, offsets, oversized, end)

    def finish(self) -> SplitLines:
        """The waiting partial line as a last line, for input that is known to be complete."""
        if not self.has_partial:
            return SplitLines([], [], [], self.position)
        line = bytes(self._partial)
        split = SplitLines([line], [self._partial_start], [0] if self._overflow else [], 0)
        split.end = self.position
        self._partial.clear()
        self._overflow = False
        self._partial_start = self.position
        return split

    def _hold(self, data: bytes, data_start: int) -> None:
        if not self.has_partial:
            self._partial_start = data_start
        room = self.max_line_bytes - len(self._partial)
        if len(data) > room:
            self._partial += data[: max(room, 0)]
            self._overflow = True
        else:
            self._partial += data


class BatchBuilder:
    """Collects lines of one file identity until a batch is full or old enough to hand out."""

    __slots__ = (
        "end_offset",
        "lines",
        "max_bytes",
        "max_lines",
        "nbytes",
        "offsets",
        "opened_at",
        "oversized",
    )

    def __init__(self, max_lines: int, max_bytes: int) -> None:
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.lines: list[bytes] = []
        self.offsets: list[int] = []
        self.oversized: list[int] = []
        self.end_offset = 0
        self.nbytes = 0
        self.opened_at = 0.0

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def full(self) -> bool:
        return len(self.lines) >= self.max_lines or self.nbytes >= self.max_bytes

    def age(self, now: float) -> float:
        return now - self.opened_at if self.lines else 0.0

    def fill(self, split: SplitLines) -> bool:
        """Moves lines from `split` until it is empty or this batch is full; True when full."""
        start = split.cursor
        if start >= len(split.lines):
            return self.full
        if not self.lines:
            self.opened_at = time.monotonic()
        stop = min(len(split.lines), start + self.max_lines - len(self.lines))
        chunk_bytes = sum(map(len, split.lines[start:stop]))
        if self.nbytes + chunk_bytes > self.max_bytes:
            # Cut at the line that reaches the byte limit (always taking at least one line).
            total = self.nbytes
            cut = start
            while cut < stop:
                total += len(split.lines[cut])
                cut += 1
                if total >= self.max_bytes:
                    break
            stop = cut
            chunk_bytes = total - self.nbytes
        base = len(self.lines) - start
        self.lines.extend(split.lines[start:stop])
        self.offsets.extend(split.offsets[start:stop])
        if split.oversized:
            self.oversized.extend(i + base for i in split.oversized if start <= i < stop)
        self.nbytes += chunk_bytes
        self.end_offset = split.end_of(stop)
        split.cursor = stop
        return self.full

    def take(self, source: str, file_id: str) -> LineBatch:
        """The collected lines as a LineBatch; the builder starts empty again."""
        batch = LineBatch(
            source=source,
            file_id=file_id,
            lines=self.lines,
            offsets=self.offsets,
            end_offset=self.end_offset,
            oversized=frozenset(self.oversized),
        )
        self.lines = []
        self.offsets = []
        self.oversized = []
        self.nbytes = 0
        return batch
