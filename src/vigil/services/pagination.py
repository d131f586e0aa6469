"""Opaque keyset cursors: the sort key and id of the last row of a page, base64-encoded."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of rows and the cursor of the next page (None on the last page)."""

    items: list[T]
    next_cursor: str | None


async def fetch_page(
    session: AsyncSession,
    stmt: Select[Any],
    limit: int,
    key: Callable[[T], tuple[str, Any, int | str]],
) -> Page[T]:
    """The first `limit` rows of the ordered `stmt`, and when more follow, the cursor after
    the last of them (`key` gives its sort name, sort value and id for `encode_cursor`)."""
    rows = list((await session.scalars(stmt.limit(limit + 1))).all())
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, encode_cursor(*key(rows[-1])))


MAX_CURSOR_CHARS = 512


class InvalidCursorError(ValueError):
    """A cursor that this API did not hand out, or one for another sort order."""


MAX_KEY_CHARS = 64
"""Longest text key a cursor may hold (a client address, for rows keyed by one)."""


def encode_cursor(sort: str, value: Any, row_id: int | str) -> str:
    """A cursor that resumes after the row with sort key `value` and `row_id` (a row id, or
    the text key of rows that have none)."""
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = orjson.dumps([sort, value, row_id])
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, sort: str, kind: type) -> tuple[Any, int]:
    """The (sort value, id) a cursor holds; `kind` is datetime or float."""
    value, row_id = _decode(cursor, sort, kind)
    if not isinstance(row_id, int) or isinstance(row_id, bool) or not 0 <= row_id < 2**63:
        raise InvalidCursorError("cursor is not one this API handed out")
    return value, row_id


def decode_text_cursor(cursor: str, sort: str, kind: type) -> tuple[Any, str]:
    """The (sort value, text key) a cursor holds; `kind` is datetime or float."""
    value, key = _decode(cursor, sort, kind)
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_CHARS:
        raise InvalidCursorError("cursor is not one this API handed out")
    return value, key


def _decode(cursor: str, sort: str, kind: type) -> tuple[Any, Any]:
    if len(cursor) > MAX_CURSOR_CHARS:
        raise InvalidCursorError("cursor is too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidCursorError("cursor is not one this API handed out") from None
    if not (isinstance(data, list) and len(data) == 3):
        raise InvalidCursorError("cursor is not one this API handed out")
    cursor_sort, value, row_id = data
    if cursor_sort != sort:
        raise InvalidCursorError(f"cursor belongs to sort {cursor_sort!r}, not {sort!r}")
    try:
        if kind is datetime:
            parsed: Any = _utc(datetime.fromisoformat(value))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            parsed = float(value)
        else:
            raise TypeError
    except (TypeError, ValueError, OverflowError):
        raise InvalidCursorError("cursor is not one this API handed out") from None
    return parsed, row_id


def _utc(value: datetime) -> datetime:
    # Stored times are UTC; a time that has no UTC form (year 9999 at -14:00) raises
    # OverflowError here rather than in the database driver.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
