"""The kinds of values a log line holds, and the fields of a compiled log format.

A `Kind` says how a value looks (a strict regex for the fast path, a lenient one for the
careful path), how the fast path turns the matched text into a value (a Python expression
over the group, used to generate a specialised loop), and how the careful path converts it
(a function that raises `ValueError` with a reason).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from vigil.ingest.formats.timestamps import parse_clf_cached, parse_epoch, parse_iso

EXTRA = "extra"
"""Slot of a field kept in `LogRecord.extra` under its name."""
IGNORE = "ignore"
"""Slot of a field that is matched but not kept (the identd user, which nobody runs)."""
REQUEST = "request"
"""Slot of a whole request line, split into method, target, path, query and protocol."""

TEXT_EXPR = "('' if {g} == '-' else {g})"


def _text(value: str) -> object:
    return "" if value == "-" else value


def _int_or_none(value: str) -> object:
    if value in ("-", ""):
        return None
    return int(value)


def _status(value: str) -> object:
    if value in ("-", ""):
        return None
    number = int(value)
    if not 0 <= number <= 999:
        raise ValueError(f"status {value!r} out of range")
    return number


def _clf_bytes(value: str) -> object:
    return 0 if value == "-" else int(value)


def _scaled(scale: float) -> Callable[[str], object]:
    def convert(value: str) -> object:
        if value in ("-", ""):
            return None
        return float(value) * scale

    return convert


def _apache_query(value: str) -> object:
    return value[1:] if value.startswith("?") else _text(value)


@dataclass(frozen=True, slots=True)
class Kind:
    """How one kind of value is matched and converted; see the module docstring."""

    name: str
    expr: str
    convert: Callable[[str], object]
    fast: str | None = None
    slow: str | None = None
    time_parser: Callable[[str], datetime] | None = None
    alphabet: str | None = None
    """Characters valid values use. When the character ending a field is among them (or no
    character does), the strict fast pattern could swallow the next field, so the
    backtracking careful pattern is used instead."""
    loose: bool = False
    """When the character ending a field is outside `alphabet`, match anything up to it (the
    cheapest pattern there is) and let conversion do the validating."""


TEXT = Kind("text", TEXT_EXPR, _text)
_DIGITS = "0123456789"
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NUMBER = _DIGITS + ".-"

IP = Kind("ip", TEXT_EXPR, _text)
"""A client address; Apache `%h` may also be a host name, so any word is accepted."""
STATUS_CODES = {f"{code:03d}": code for code in range(1000)}
"""Every three-digit status as text, to its number: a lookup is cheaper than `int()`."""
STATUS = Kind(
    "status",
    "STATUS_CODES[{g}]",
    _status,
    fast=r"[0-9]{3}",
    slow=r"[0-9]{3}|-",
    alphabet=_NUMBER,
)
INT = Kind(
    "int",
    "(None if {g} == '-' else int({g}))",
    _int_or_none,
    fast=r"[0-9]++|-",
    slow=r"-?[0-9]+|-",
    alphabet=_NUMBER,
)
CLF_BYTES = Kind(
    "clf_bytes",
    "(0 if {g} == '-' else int({g}))",
    _clf_bytes,
    fast=r"[0-9]++|-",
    slow=r"[0-9]+|-",
    alphabet=_NUMBER,
)
SECONDS = Kind(
    "seconds",
    "(None if {g} == '-' else float({g}))",
    _scaled(1.0),
    fast=r"[0-9]++(?:\.[0-9]++)?|-",
    slow=r"[0-9.]+|-",
    alphabet=_NUMBER,
)
MILLIS = Kind(
    "millis",
    "(None if {g} == '-' else int({g}) / 1e3)",
    _scaled(1e-3),
    fast=r"[0-9]++|-",
    slow=r"[0-9]+|-",
    alphabet=_NUMBER,
)
MICROS = Kind(
    "micros",
    "(None if {g} == '-' else int({g}) / 1e6)",
    _scaled(1e-6),
    fast=r"[0-9]++|-",
    slow=r"[0-9]+|-",
    alphabet=_NUMBER,
)
APACHE_QUERY = Kind(
    "apache_query",
    "{g}[1:]",
    _apache_query,
    fast=r'(?:\?[^ "]*+)?',
    slow=r'(?:\?[^ "]*)?',
)
IS_ARGS = Kind("is_args", TEXT_EXPR, _text, fast=r"\??", slow=r"\??")
"""nginx `$is_args`: `?` when there is a query string, else nothing."""
UPSTREAM = Kind(
    "upstream",
    TEXT_EXPR,
    _text,
    # Upstream variables list one value per upstream tried: "0.004, 0.002 : 0.010".
    fast=r'[^ ,"\n]*+(?:(?:, | : )[^ ,"\n]*+)*+',
    slow=r'[^ ,"]*+(?:(?:, | : )[^ ,"]*+)*+',
)
REQUEST_LINE = Kind("request", "{g}", _text)


def time_kind(
    name: str,
    parser: Callable[[str], datetime],
    fast: str | None,
    slow: str | None,
    alphabet: str | None = None,
) -> Kind:
    """A kind of timestamp whose parsed values the fast path caches by text."""
    return Kind(
        name,
        "({t}get({g}) or {t}miss({g}))",
        parser,
        fast=fast,
        slow=slow,
        time_parser=parser,
        alphabet=alphabet,
        loose=alphabet is not None,
    )


TIME_CLF = time_kind(
    "time_clf",
    parse_clf_cached,
    fast=r"[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}",
    slow=r"[0-9]{1,2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]+)?"
    r"(?: ?[+-][0-9]{2}:?[0-9]{2})?",
    alphabet=_DIGITS + _LETTERS + "/:+-., ",
)
TIME_ISO = time_kind(
    "time_iso",
    parse_iso,
    fast=r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?",
    slow=r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+(?:Z|[+-][0-9:]+)?",
    alphabet=_DIGITS + "-:T.Z+ ",
)


def epoch_kind(scale: float) -> Kind:
    """A timestamp written as a number of seconds (times `scale`) since 1970."""

    def parse(text: str) -> datetime:
        return parse_epoch(text, scale)

    return time_kind(
        f"time_epoch_{scale:g}",
        parse,
        fast=r"[0-9]++(?:\.[0-9]++)?",
        slow=r"[0-9.]+",
        alphabet=_DIGITS + ".",
    )


TIME_EPOCH = epoch_kind(1.0)


def strftime_kind(pattern: str, parser: Callable[[str], datetime]) -> Kind:
    """A timestamp written with a strftime pattern (Apache `%{...}t`)."""
    return time_kind(f"time_strftime {pattern}", parser, fast=None, slow=None)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a log format: what it is called, where it goes and what it holds.

    `name` is the key in `LogRecord.extra` when the field is not one of the record's own
    slots; `priority` decides which field fills a slot that several could (lower wins).
    """

    name: str
    slot: str
    kind: Kind
    priority: int = 0

    def demoted(self) -> FieldSpec:
        """The same field kept under its name in `extra`."""
        return FieldSpec(self.name, EXTRA, self.kind, self.priority)


Token = str | FieldSpec
"""A compiled log format is a sequence of literal text and fields."""
