"""The shapes a site profile is made of: path templates, directories and extensions, query
arguments, and the type and character classes of a value.

Everything here is a pure function of its input and cached by the caller, so the profile can
judge a batch by looking up the few distinct paths and values it holds.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote_plus, unquote_to_bytes

__all__ = [
    "CLASS_NAMES",
    "DANGEROUS_CLASSES",
    "TYPE_COVERS",
    "char_classes",
    "class_names",
    "decode_value",
    "directory_of",
    "extension_of",
    "fold_segment",
    "folded",
    "folded_extension",
    "query_args",
    "segments",
    "value_type",
]

# -- path pieces ---------------------------------------------------------------------------

# Folded into placeholders, so that one endpoint is one template: UUIDs, dates, hashes and
# other long hex runs, then any run of digits. A hex run must hold a digit (so a word made of
# the letters a-f stays a word).
_FOLD = re.compile(
    # Every placeholder starts with a hex digit: the look-ahead rejects any other position in
    # one step instead of four.
    r"(?=[0-9a-fA-F])"
    r"(?:(?P<uuid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"|(?P<date>(?:19|20)\d\d-?[01]\d-?[0-3]\d)(?!\d)"
    r"|(?P<hex>(?<![0-9A-Za-z])(?=[a-fA-F]*\d)(?=\d*[a-fA-F])[0-9a-fA-F]{8,}(?![0-9A-Za-z]))"
    r"|(?P<num>\d+))"
)
_PLACEHOLDER: Final = {"uuid": "{uuid}", "date": "{date}", "hex": "{hex}", "num": "{n}"}


def _placeholder(match: re.Match[str]) -> str:
    return _PLACEHOLDER[match.lastgroup or "num"]


def fold_segment(segment: str) -> str:
    """One path segment with ids, UUIDs, dates and hashes replaced by placeholders."""
    return _FOLD.sub(_placeholder, segment)


_FOLDED: dict[str, str] = {}


def segments(path: str) -> list[str]:
    """The path's segments, folded; a trailing slash is kept as an empty last segment."""
    if len(_FOLDED) > 100_000:
        _FOLDED.clear()
    # Most segments repeat (``api``, ``products``); only new ones go through the regex.
    get = _FOLDED.get
    return [get(part) or _fold_new(part) for part in path.split("/")[1:]]


def folded(segment: str) -> str:
    """`fold_segment`, cached like the segments of `segments`."""
    found = _FOLDED.get(segment)
    if found is None:
        if len(_FOLDED) > 100_000:
            _FOLDED.clear()
        found = _fold_new(segment)
    return found


def _fold_new(part: str) -> str:
    result = _FOLDED[part] = fold_segment(part)
    return result


def folded_extension(segment: str) -> str:
    """``extension_of(fold_segment(segment))``, folding only the extension.

    Nothing `fold_segment` replaces holds a dot, and what surrounds a dot reads to its
    look-arounds as the end of the text would: so the segment folds piece by piece either side
    of its last dot, and the extension of the folded segment is the folded extension. A unique
    slug under a dynamic directory (``/products/desk-lamp-5639``) then costs no regex.
    """
    dot = segment.rfind(".")
    if dot <= 0 or dot == len(segment) - 1:
        return ""
    return folded(segment[dot + 1 :])[:16].lower()


def extension_of(segment: str) -> str:
    """The file extension of a (last) path segment, lower-cased, without the dot; '' if none.

    Only the last suffix counts (``carrito.jsp.java`` has ``java``), which is what a server
    maps to a handler; ``~`` and the like stay part of it (``jsp~``).
    """
    dot = segment.rfind(".")
    if dot <= 0 or dot == len(segment) - 1:
        return ""
    return segment[dot + 1 :][:16].lower()


def directory_of(template: str) -> str:
    """The directory of a path template, with its trailing slash."""
    return template[: template.rfind("/") + 1] or "/"


# -- arguments and values -----------------------------------------------------------------


def query_args(query: str) -> list[tuple[str, str]]:
    """(name, raw value) of each argument of a query string, in order; a bare ``name`` has
    the value ''. Names are decoded; values stay raw for `decode_value`."""
    args: list[tuple[str, str]] = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name, errors="replace")
        args.append((name[:128], value))
    return args


def decode_value(raw: str) -> bytes:
    """A raw argument value percent-decoded once (``+`` is a space) to the bytes it stands for.

    Bytes rather than text: a site's own encoding (UTF-8, Latin-1) and an attacker's broken one
    are both kept as they were sent, and a double-encoded value still shows its ``%``.
    """
    if "%" not in raw and "+" not in raw:
        return raw.encode("utf-8", "surrogateescape")
    return unquote_to_bytes(raw.replace("+", " "))


CLASS_NAMES: Final = (
    "lower-case letters",
    "upper-case letters",
    "digits",
    "spaces",
    "`-`",
    "`_`",
    "`.`",
    "`@`",
    "`/`",
    "`:`",
    "`,`",
    "`;`",
    "`'`",
    '`"`',
    "backticks",
    "parentheses",
    "brackets or braces",
    "angle brackets",
    "`&`",
    "`|`",
    "`$`",
    "backslashes",
    "`%`",
    "`+`",
    "`=`",
    "`?` or `#`",
    "`!`, `*` or `~`",
    "control characters",
    "non-ASCII bytes",
    "other punctuation",
)
"""What each character class is called in a reason."""


def _class_table() -> bytes:
    table = bytearray([29] * 256)
    for byte in range(256):
        char = chr(byte)
        if byte < 32 or byte == 127:
            table[byte] = 27
        elif byte >= 128:
            table[byte] = 28
        elif "a" <= char <= "z":
            table[byte] = 0
        elif "A" <= char <= "Z":
            table[byte] = 1
        elif char.isdigit():
            table[byte] = 2
    singles = {
        " ": 3, "-": 4, "_": 5, ".": 6, "@": 7, "/": 8, ":": 9, ",": 10, ";": 11, "'": 12,
        '"': 13, "`": 14, "(": 15, ")": 15, "[": 16, "]": 16, "{": 16, "}": 16, "<": 17,
        ">": 17, "&": 18, "|": 19, "$": 20, "\\": 21, "%": 22, "+": 23, "=": 24, "?": 25,
        "#": 25, "!": 26, "*": 26, "~": 26,
    }  # fmt: skip
    for char, klass in singles.items():
        table[ord(char)] = klass
    return bytes(table)


_CLASS_TABLE: Final = _class_table()

DANGEROUS_CLASSES: Final = frozenset({11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 24, 27})
"""Classes an injection needs (quotes, brackets, separators, ``=``, control characters): a
parameter that never carried them and now does is more suspicious than one with a new letter
case."""


def char_classes(value: bytes) -> int:
    """The character classes present in `value`, as a bit mask over `CLASS_NAMES`."""
    mask = 0
    for klass in set(value.translate(_CLASS_TABLE)):
        mask |= 1 << klass
    return mask


def class_names(mask: int) -> list[str]:
    """The names of the classes in `mask`."""
    return [name for klass, name in enumerate(CLASS_NAMES) if mask >> klass & 1]


_INT = re.compile(rb"[+-]?\d{1,18}")
_DEC = re.compile(rb"[+-]?\d{0,18}[.,]\d{1,18}")
_DATE = re.compile(rb"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d)?)?|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}")
_EMAIL = re.compile(rb"[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
_TOKEN = re.compile(rb"[A-Za-z0-9._-]+")

TYPE_COVERS: Final = {
    "empty": frozenset({"empty"}),
    "int": frozenset({"int"}),
    "dec": frozenset({"dec", "int"}),
    "date": frozenset({"date"}),
    "email": frozenset({"email"}),
    "token": frozenset({"token", "int", "dec", "date"}),
    "text": frozenset({"text", "token", "int", "dec", "date", "email"}),
}
"""Which value types a learned type admits: a parameter that took free text takes a number,
one that took only integers does not take ``1+``."""

TYPE_NAMES: Final = {
    "empty": "empty",
    "int": "an integer",
    "dec": "a decimal number",
    "date": "a date",
    "email": "an e-mail address",
    "token": "a word or token",
    "text": "free text",
}


_TYPES: Final = re.compile(
    b"|".join(
        b"(?P<%s>%s)" % (name, pattern.pattern)
        for name, pattern in (
            (b"int", _INT), (b"dec", _DEC), (b"date", _DATE), (b"email", _EMAIL),
            (b"token", _TOKEN),
        )
    )
)  # fmt: skip
"""The type patterns in order of narrowness, as one: a full match takes the first alternative
that matches the whole value, so one call answers what five would."""


def value_type(value: bytes) -> str:
    """The narrowest type a decoded value has: empty, int, dec, date, email, token or text."""
    if not value:
        return "empty"
    match = _TYPES.fullmatch(value)
    if match is None:
        return "text"
    return match.lastgroup or "text"
