"""Splitting a stream fed in arbitrary chunks gives the same lines, offsets and oversized marks
as splitting the whole stream at once."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.sources.linesplit import LineSplitter

LIMIT = 16


def _reference(data: bytes, start: int) -> tuple[list[bytes], list[int], list[int], int]:
    """Whole lines of `data` (a trailing partial line is not one), cut to LIMIT bytes."""
    lines: list[bytes] = []
    offsets: list[int] = []
    oversized: list[int] = []
    pos = 0
    while (newline := data.find(b"\n", pos)) >= 0:
        line = data[pos:newline]
        if len(line) > LIMIT:
            oversized.append(len(lines))
            line = line[:LIMIT]
        lines.append(line)
        offsets.append(start + pos)
        pos = newline + 1
    return lines, offsets, oversized, start + pos


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"\n")), max_size=12),
    st.integers(min_value=0, max_value=10**12),
)
def test_chunked_feeding_matches_one_split(chunks: list[bytes], start: int) -> None:
    splitter = LineSplitter(start, LIMIT)
    lines: list[bytes] = []
    offsets: list[int] = []
    oversized: list[int] = []
    end = start
    for chunk in chunks:
        split = splitter.feed(chunk)
        oversized.extend(len(lines) + i for i in split.oversized)
        lines.extend(split.lines)
        offsets.extend(split.offsets)
        if split.lines:
            end = split.end
    expected = _reference(b"".join(chunks), start)
    assert (lines, offsets, oversized) == expected[:3]
    if lines:
        assert end == expected[3]
    assert splitter.position == start + sum(map(len, chunks))
