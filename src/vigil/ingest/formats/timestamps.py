"""Turn the timestamps web servers write into timezone-aware UTC datetimes, with a cache.

Access logs repeat the same second many times, so every parser keeps a `TimestampCache`:
one dictionary lookup per line, a real parse once per distinct string.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}

_CLF = re.compile(
    r"(\d{1,2})/([A-Za-z]{3})/(\d{4}):(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d{1,6}))?"
    r"(?:\s*([+-])(\d{2}):?(\d{2}))?"
)
_EPOCH = re.compile(r"\d{1,16}(?:\.\d+)?")

CACHE_LIMIT = 1 << 16
"""Distinct strings a cache holds before it starts over, so memory stays bounded."""


def parse_clf(text: str) -> datetime:
    """`10/Oct/2000:13:55:36 -0700` (the common log format time) as a UTC datetime."""
    match = _CLF.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a common-log-format time: {text!r}")
    day, month_name, year, hour, minute, second, fraction, sign, zh, zm = match.groups()
    month = MONTHS.get(month_name.lower())
    if month is None:
        raise ValueError(f"unknown month {month_name!r} in {text!r}")
    micro = int(fraction.ljust(6, "0")) if fraction else 0
    stamp = datetime(int(year), month, int(day), int(hour), int(minute), int(second), micro, UTC)
    if sign:
        offset = timedelta(hours=int(zh), minutes=int(zm))
        stamp = stamp - offset if sign == "+" else stamp + offset
    return stamp


_SECONDS = {f"{second:02d}": timedelta(seconds=second) for second in range(61)}
_minutes: dict[str, datetime] = {}


def parse_clf_cached(text: str) -> datetime:
    """`parse_clf` for the canonical 26-character shape, reusing the work done per minute.

    A day-long log has 86,400 distinct seconds but only 1,440 minutes: each new second costs
    two slices and a dictionary lookup instead of a full parse.
    """
    if len(text) != 26:
        return parse_clf(text)
    delta = _SECONDS.get(text[18:20])
    if delta is None:
        return parse_clf(text)
    key = text[:18] + text[20:]
    minute = _minutes.get(key)
    if minute is None:
        minute = parse_clf(text[:18] + "00" + text[20:])
        if len(_minutes) >= CACHE_LIMIT:
            _minutes.clear()
        _minutes[key] = minute
    return minute + delta


def parse_iso(text: str) -> datetime:
    """An ISO-8601 time (`2000-10-10T13:55:36-07:00`, `...Z`) as a UTC datetime.

    A time without a zone is taken as UTC.
    """
    stamp = datetime.fromisoformat(text.strip())
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


def parse_epoch(text: str, scale: float = 1.0) -> datetime:
    """Seconds (or `scale` units) since 1970 as written by `$msec` or `%{sec}t`."""
    if not _EPOCH.fullmatch(text):
        raise ValueError(f"not an epoch time: {text!r}")
    return datetime.fromtimestamp(float(text) * scale, UTC)


def parse_any(value: object) -> datetime:
    """A time of whichever shape JSON logs use: epoch number, ISO-8601 or CLF string."""
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        number = float(value)
        # Epoch milliseconds are common in JSON logs; no access log is from before 1973.
        return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    text = value.strip()
    if _EPOCH.fullmatch(text):
        return parse_any(float(text))
    if text[:4].isdigit() and text[4:5] == "-":
        return parse_iso(text)
    return parse_clf(text)


def strftime_parser(pattern: str) -> Callable[[str], datetime]:
    """A parser for times written with a strftime pattern; times without a zone are UTC."""

    def parse(text: str) -> datetime:
        stamp = datetime.strptime(text, pattern)
        if stamp.tzinfo is None:
            return stamp.replace(tzinfo=UTC)
        return stamp.astimezone(UTC)

    return parse


def fixed_zone(minutes: int) -> timezone:
    """The timezone `minutes` east of UTC."""
    return timezone(timedelta(minutes=minutes))


class TimestampCache:
    """Remembers parsed times by their exact text; `lookup` is the hot-path dictionary get."""

    __slots__ = ("_cache", "_parse", "lookup")

    def __init__(self, parse: Callable[[str], datetime]) -> None:
        self._parse = parse
        self._cache: dict[str, datetime] = {}
        self.lookup = self._cache.get

    def miss(self, text: str) -> datetime:
        """Parse a time not seen yet, remember it, and return it."""
        stamp = self._parse(text)
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[text] = stamp
        return stamp
