"""SQL injection and XSS analysis beyond regular expressions, through libinjection.

libinjection tokenises a value as SQL (in every quoting context) or as HTML and compares the
token fingerprint with known injection shapes. It is run only on values that contain at least
one character an injection needs, which keeps it off the hot path: most parameter values are
words, numbers or identifiers.
"""

from __future__ import annotations

import re
from typing import Final

try:
    import libinjection

    LIBINJECTION_AVAILABLE = True
except ImportError:  # pragma: no cover - the dependency is declared; kept for odd platforms
    libinjection = None
    LIBINJECTION_AVAILABLE = False

# A SQL injection needs a quote, a parenthesis, a comment, an operator or a statement break.
SQLI_TRIGGERS: Final = re.compile(r"['\"`();=#*\-/|&<>]")
# Script injection needs markup or breaking out of an attribute.
XSS_TRIGGERS: Final = re.compile(r"[<>\"'`=]")
MAX_ANALYSED: Final = 4096
# Opaque tokens (click ids, session keys, base64url) are not SQL, though a digit followed by
# "--" somewhere in random text tokenises as a number and a comment.
OPAQUE_TOKEN: Final = re.compile(r"[a-z0-9_\-]{16,}={0,2}", re.IGNORECASE)
# Words around parentheses and nothing else ("sleep(ing) bag", "select (all) items", "version(s)
# of doc"): libinjection reads a function or keyword called on a bare word, but without a
# number, string, operator, comment or statement break there is nothing for SQL to execute
# that text would not be anyway. Fingerprint letters: f function, E/k keyword, n word.
PROSE_FINGERPRINT: Final = re.compile(r"[fEkn()]*")
SQL_PUNCTUATION: Final = re.compile(r"['\"`;#=*]|--|/\*|\(\s*\)")


def sqli_fingerprint(text: str) -> str | None:
    """The libinjection fingerprint if `text` tokenises as SQL injection, else None."""
    if libinjection is None or SQLI_TRIGGERS.search(text) is None:
        return None
    if OPAQUE_TOKEN.fullmatch(text):
        return None
    result = libinjection.is_sql_injection(text[:MAX_ANALYSED])
    if result.get("is_sqli"):
        fingerprint = str(result.get("fingerprint") or "sqli")
        if PROSE_FINGERPRINT.fullmatch(fingerprint) and not SQL_PUNCTUATION.search(text):
            return None
        return fingerprint
    return None


def xss_detected(text: str) -> bool:
    """Whether libinjection reads `text` as script injection into HTML."""
    if libinjection is None or XSS_TRIGGERS.search(text) is None:
        return False
    return bool(libinjection.is_xss(text[:MAX_ANALYSED]).get("is_xss"))
