"""Literal factors of regular expressions: strings one of which every match must contain.

The pure-Python matcher uses them as a prefilter: a pattern is only run on a text that
contains one of its factors, which spares most of the regex searches on clean values.
"""

from __future__ import annotations

import re
import re._parser as sre_parse  # type: ignore[import-not-found]
from typing import Any

_MIN_USEFUL = 1
_MAX_ALTERNATIVES = 64


def _better(a: frozenset[bytes] | None, b: frozenset[bytes] | None) -> frozenset[bytes] | None:
    """The more selective of two factor sets (longest shortest member, then fewest members)."""
    if a is None:
        return b
    if b is None:
        return a
    key_a = (min(map(len, a)), -len(a))
    key_b = (min(map(len, b)), -len(b))
    return a if key_a >= key_b else b


def _sequence(items: Any) -> frozenset[bytes] | None:
    best: frozenset[bytes] | None = None
    run = bytearray()

    def flush() -> None:
        nonlocal best, run
        if len(run) >= _MIN_USEFUL:
            best = _better(best, frozenset({bytes(run).lower()}))
        run = bytearray()

    for op, value in items:
        name = str(op)
        if name == "LITERAL":
            run.append(value)
            continue
        if name in ("MAX_REPEAT", "MIN_REPEAT") and value[0] >= 1 and len(value[2]) == 1:
            body_op, body_value = value[2][0]
            if str(body_op) == "LITERAL":
                # x{3,} contributes "xxx" both to the run before it and to the run after it.
                copies = bytes([body_value]) * min(value[0], 16)
                run.extend(copies)
                flush()
                run.extend(copies)
                if value[1] != value[0]:
                    flush()
                continue
        flush()
        best = _better(best, _item(name, value))
    flush()
    return best


def _item(name: str, value: Any) -> frozenset[bytes] | None:
    if name == "SUBPATTERN":
        return _sequence(value[-1])
    if name == "BRANCH":
        found: set[bytes] = set()
        for alternative in value[1]:
            factors = _sequence(alternative)
            if factors is None:
                return None
            found |= factors
        return frozenset(found) if len(found) <= _MAX_ALTERNATIVES else None
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, _, body = value
        return _sequence(body) if low >= 1 else None
    return None


def required_literals(pattern: bytes) -> frozenset[bytes] | None:
    """Lowercased byte strings of which every match of `pattern` contains at least one, or
    None when no useful set exists (the pattern must then always be tried)."""
    try:
        parsed = sre_parse.parse(pattern, 0)
    except re.error:
        return None
    return _sequence(list(parsed))
