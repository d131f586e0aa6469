"""Keyset cursors: round trip, and refusal of anything else."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from vigil.services.pagination import InvalidCursorError, decode_cursor, encode_cursor


def test_round_trip() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert decode_cursor(encode_cursor("-observed_at", when, 42), "-observed_at", datetime) == (
        when,
        42,
    )
    assert decode_cursor(encode_cursor("score", 0.7, 9), "score", float) == (0.7, 9)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "bnVsbA",
        encode_cursor("score", 0.5, 1),
        encode_cursor("-score", "x", 1),
        "A" * 600,
    ],
)
def test_foreign_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(cursor, "-score", float)


@pytest.mark.parametrize(
    "raw",
    [b'["score", 0.5, 9223372036854775808]', b'["score", 0.5, -1]', b'["score", 1e999, 1]'],
)
def test_values_out_of_range_are_refused(raw: bytes) -> None:
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    with pytest.raises(InvalidCursorError):
        decode_cursor(cursor, "score", float)
