"""User-supplied regular expressions, run by RE2 so matching time grows linearly with the input.

Exclusion paths and allowlisted user agents come from operators and from site admins over the
API. Python's `re` backtracks: a pattern such as ``^/(a+)+$`` takes time exponential in the
length of the line it meets, and one log line could then stall the whole process. RE2 has no
backtracking (and so no backreferences or lookaround); a pattern it refuses is refused with
RE2's reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import re2

MAX_PATTERN_CHARS = 1024
# RE2 compiles into an automaton held within this much memory; a pattern needing more (huge
# counted repetitions such as a{1000}{1000}) is refused rather than allowed to grow.
MAX_PROGRAM_BYTES = 8 << 20


class PatternError(ValueError):
    """A pattern that is too long or that RE2 cannot run in linear time; the message says why."""


@dataclass(frozen=True, slots=True)
class LinearPattern:
    """A compiled pattern with `search`, like `re.Pattern` but linear in the input's length."""

    pattern: str
    _compiled: Any

    def search(self, text: str) -> bool:
        return self._compiled.search(text) is not None


def compile_linear(
    pattern: str, *, ignore_case: bool = False, what: str = "pattern"
) -> LinearPattern:
    """`pattern` compiled by RE2; raises PatternError saying what is wrong with it."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"{what} is longer than {MAX_PATTERN_CHARS} characters")
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    options.max_mem = MAX_PROGRAM_BYTES
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "not a valid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(
            f"{what} is refused by the linear-time regex engine (RE2): {reason}. "
            "Backreferences and lookaround are not supported."
        ) from None
    return LinearPattern(pattern, compiled)
