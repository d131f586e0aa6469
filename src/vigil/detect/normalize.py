"""Decoding of request targets into the forms rules match, keeping the evasion signals seen.

Every target value goes through one decoding pass (`decode`): repeated URL decoding to a fixed
point (at most `MAX_ROUNDS` rounds) including `%uXXXX` and overlong UTF-8 forms, and HTML entity
decoding. From the decoded text a few *views* are derived (`build_views`), each the input of the
rules that ask for the matching transforms:

- ``raw``: the value as logged, lowercased (encoding anomalies are visible only here);
- ``decoded``: decoded, NUL bytes removed, lowercased, runs of blanks compressed to one space;
- ``nocomments``: ``decoded`` with SQL/C comments (``/* */``, ``/*!50000``) removed, so that
  ``UN/**/ION`` reads ``union``;
- ``cmdline``: ``decoded`` without shell quoting tricks (``c\\a"t`` reads ``cat``);
- ``path``: for paths, ``decoded`` with backslashes as slashes and ``.``/``..``/``//`` resolved.

What decoding had to undo is reported as signals (double encoding, invalid encodings, NUL
bytes, overlong UTF-8, ``%u`` forms, resolved traversal), which rules can score on their own.
"""

from __future__ import annotations

import codecs
import re
from typing import Final
from urllib.parse import unquote, unquote_plus, unquote_to_bytes

MAX_ROUNDS: Final = 4

SIG_DOUBLE_ENCODING: Final = "double-encoding"
SIG_INVALID_ENCODING: Final = "invalid-encoding"
SIG_UNICODE_ENCODING: Final = "unicode-encoding"
SIG_OVERLONG_UTF8: Final = "overlong-utf8"
SIG_NUL_BYTE: Final = "nul-byte"
SIG_PATH_TRAVERSAL: Final = "path-traversal"
SIG_LINE_BREAK: Final = "line-break"
SIG_MALFORMED_REQUEST: Final = "malformed-request"
SIG_INVALID_METHOD: Final = "invalid-method"
SIG_UNKNOWN_METHOD: Final = "unknown-method"
SIG_INVALID_PROTOCOL: Final = "invalid-protocol"
SIG_ABSOLUTE_TARGET: Final = "absolute-target"
"""The request target is not a path: a full URL or host:port, as proxies are sent."""

#: Signals that mean somebody tried to hide what a request carries.
EVASION_SIGNALS: Final = frozenset(
    {
        SIG_DOUBLE_ENCODING,
        SIG_INVALID_ENCODING,
        SIG_UNICODE_ENCODING,
        SIG_OVERLONG_UTF8,
        SIG_NUL_BYTE,
        SIG_PATH_TRAVERSAL,
    }
)

VIEW_RAW: Final = "raw"
VIEW_DECODED: Final = "decoded"
VIEW_NOCOMMENTS: Final = "nocomments"
VIEW_CMDLINE: Final = "cmdline"
VIEW_PATH: Final = "path"
VIEWS: Final = (VIEW_RAW, VIEW_DECODED, VIEW_NOCOMMENTS, VIEW_CMDLINE, VIEW_PATH)

KNOWN_METHODS: Final = frozenset(
    {
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
        "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH", "REPORT",
        "PURGE", "TRACK", "DEBUG",
        # The HTTP/2 connection preface (PRI * HTTP/2.0) from a client that skipped the
        # upgrade: a server that speaks only HTTP/1.1 logs it and answers 400.
        "PRI",
    }
)  # fmt: skip
KNOWN_PROTOCOLS: Final = frozenset({"HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/2", "HTTP/3"})

_EMPTY: Final[frozenset[str]] = frozenset()

# Characters whose presence means a value may need decoding work; anything else is left as is.
_DECODE_TRIGGERS: Final = re.compile("[%&+\\\\\x00]")
_PCT_U = re.compile(r"%[uU]([0-9a-fA-F]{4})")
_PCT_HEX = re.compile(r"%[0-9a-fA-F]{2}")
_PCT_INVALID = re.compile(r"%(?![0-9a-fA-F]{2}|[uU][0-9a-fA-F]{4})")
_OVERLONG = re.compile(
    rb"[\xc0\xc1][\x80-\xbf]|\xe0[\x80-\x9f][\x80-\xbf]|\xf0[\x80-\x8f][\x80-\xbf][\x80-\xbf]"
)
_ENTITY = re.compile(r"&(?:#[xX]([0-9a-fA-F]{1,6});?|#([0-9]{1,7});?|([a-zA-Z]{2,8});)")
_NAMED_ENTITIES: Final = {
    "lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'", "nbsp": " ", "colon": ":",
    "tab": "\t", "newline": "\n", "lpar": "(", "rpar": ")", "sol": "/", "bsol": "\\",
    "semi": ";", "comma": ",", "period": ".", "excl": "!", "equals": "=", "num": "#",
    "plus": "+", "percnt": "%", "grave": "`", "lsqb": "[", "rsqb": "]", "lcub": "{",
    "rcub": "}", "dollar": "$", "quest": "?", "ast": "*", "vert": "|", "hyphen": "-",
}  # fmt: skip
# An absolute URL or a path with a query: scheme and host, path, "?" and a first argument name.
_NESTED_URL = re.compile(r"(?:[a-z][a-z0-9+.-]*://[^/?#\s]+)?/[^?#\s]*\?[\w.\-\[\]]+=", re.I)
# What an ordinary address is before its query: a same-site path, or an http(s) URL with a host
# and an optional path, in the characters paths are written in (no blanks, quotes, brackets or
# backslashes, and no escapes but those of UTF-8's non-ASCII bytes, as a path spells
# /category/新しい; an overlong form's C0/C1 is none of them).
# `_plain_base` also rules out "//host" and ".." segments.
_ADDRESS_BASE = re.compile(
    r"(?:https?://[\w\-]+(?:\.[\w\-]+)*(?::\d{1,5})?)?"
    r"(?:/(?:[\w\-.~!$*,;:@+=/]|%(?:[89ab][0-9a-f]|c[2-9a-f]|[de][0-9a-f]|f[0-4]))*)?",
    re.I,
)
_BLANK_RUN = re.compile(r"[ \t\x0b\x0c\xa0]{2,}|[\t\x0b\x0c\xa0]")
_LINE_RUN = re.compile(r"[ \t\x0b\x0c\xa0]*[\r\n][\s]*")
_C_COMMENT = re.compile(r"/\*!?\d*|\*/")
_SHELL_QUOTING = re.compile(r"[\\\"'^]|\$@|\$\*")
_SHELL_BLANK = re.compile(r"\$\{ifs\}|\$ifs\b|%20|\+")


def _latin1_fallback(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeDecodeError):
        raise err
    return err.object[err.start : err.end].decode("latin-1"), err.end


codecs.register_error("vigil-latin1", _latin1_fallback)


def _overlong_char(match: re.Match[bytes]) -> bytes:
    raw = match.group()
    if len(raw) == 2:
        code = ((raw[0] & 0x1F) << 6) | (raw[1] & 0x3F)
    elif len(raw) == 3:
        code = ((raw[0] & 0x0F) << 12) | ((raw[1] & 0x3F) << 6) | (raw[2] & 0x3F)
    else:
        code = (((raw[0] & 0x07) << 18) | ((raw[1] & 0x3F) << 12) | ((raw[2] & 0x3F) << 6)) | (
            raw[3] & 0x3F
        )
    return chr(code).encode("utf-8", "surrogatepass")


def _decode_bytes(data: bytes, signals: set[str]) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if _OVERLONG.search(data):
        signals.add(SIG_OVERLONG_UTF8)
        data = _OVERLONG.sub(_overlong_char, data)
    return data.decode("utf-8", "vigil-latin1")


def _unicode_escape(match: re.Match[str]) -> str:
    code = int(match.group(1), 16)
    return "\ufffd" if 0xD800 <= code <= 0xDFFF else chr(code)


def _percent_decode(text: str, signals: set[str]) -> str:
    if "%" not in text:
        return text
    if "%u" in text or "%U" in text:
        replaced = _PCT_U.sub(_unicode_escape, text)
        if replaced != text:
            signals.add(SIG_UNICODE_ENCODING)
            text = replaced
    if not _PCT_HEX.search(text):
        return text
    return _decode_bytes(unquote_to_bytes(text), signals)


def _entity_char(match: re.Match[str]) -> str:
    hex_code, dec_code, name = match.groups()
    if name is not None:
        return _NAMED_ENTITIES.get(name.lower(), match.group())
    code = int(hex_code, 16) if hex_code is not None else int(dec_code)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return match.group()
    return chr(code)


def _entity_decode(text: str) -> str:
    if "&" not in text:
        return text
    return _ENTITY.sub(_entity_char, text)


def _nested_query(text: str) -> bool:
    """Whether `text`, a value decoded once, is an address whose escapes all sit in its own
    query: a return address or a shared link (/login?next=%2Faccount%3Fq%3Dred%2520shoes)
    encodes its query's values before the whole address is encoded again, so what the next
    round decodes are its values, not the address (see `_layers_nest` for the signal)."""
    match = _NESTED_URL.match(text)
    return match is not None and "%" not in text[: match.end()]


def _plain_base(base: str) -> bool:
    """Whether `base` (an address up to its query) is an ordinary same-site path or URL."""
    return (
        base[:1] in ("/", "h", "H")
        and not base.startswith("//")
        and ".." not in base
        and _ADDRESS_BASE.fullmatch(base) is not None
    )


def _address_query(text: str) -> str | None:
    """The query of `text` if it is an ordinary address (see `_plain_base`), else None ("" for
    an address without one)."""
    base, mark, query = text.partition("?")
    if "#" in base:
        base = base[: base.index("#")]
        query = ""
    if not base or not _plain_base(base):
        return None
    return query if mark else ""


def _layers_nest(text: str, depth: int = 0) -> bool:
    """Whether every escape left in `text`, a value decoded once, is explained by addresses
    nested in one another rather than by encoding the same characters again.

    An address put in an argument is encoded once, and the values of its own query were
    encoded once before that (next=%2Fcart%3Fq%3Dred%2520shoes): each value may carry one
    layer more than the address around it, and may be an address itself. An ordinary address
    encoded once more as a whole (redirect_to=%252F, from=https%253A%252F%252Fshop.example.com
    %252F) is the same address; the values of its query are judged the same way. Anything else
    an extra layer hides (a quote, a bracket, "..", "//host", "javascript:") is evasion.
    """
    if _PCT_HEX.search(text) is None:
        return True
    if depth >= MAX_ROUNDS:
        return False
    query = _address_query(text)
    if query is None:
        # Not an address, or one whose path is still encoded: the whole address encoded
        # once more, or evasion.
        inner = unquote(text)
        query = _address_query(inner)
        if query is None or inner == text:
            return False
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if _PCT_HEX.search(unquote(name)) is not None:
            return False
        if not _layers_nest(unquote_plus(value), depth + 1):
            return False
    return True


def _nested_form_blanks(text: str) -> str:
    """`text` (a form value decoded once) with the plus signs of its own query read as blanks
    when it is an address with a query: a return address's "?q=red+shoes" searched for "red
    shoes" (a plus the address meant would be %2B there), not for a concatenation."""
    if not _nested_query(text):
        return text
    query = text.index("?")
    return text[:query] + text[query:].replace("+", " ")


def needs_decoding(value: str) -> bool:
    """Whether `value` holds any character that decoding could change."""
    return _DECODE_TRIGGERS.search(value) is not None


def decode(value: str, *, form: bool = False) -> tuple[str, frozenset[str]]:
    """`value` URL- and entity-decoded to a fixed point, with the evasion signals met.

    `form` turns ``+`` into a space first, as form-encoded query strings mean it; paths keep
    their plus signs.
    """
    if _DECODE_TRIGGERS.search(value) is None:
        return value, _EMPTY
    signals: set[str] = set()
    if "%" in value and _PCT_INVALID.search(value):
        signals.add(SIG_INVALID_ENCODING)
    text = value.replace("+", " ") if form and "+" in value else value
    once = text
    layered = False
    for round_no in range(MAX_ROUNDS):
        decoded = _percent_decode(text, signals)
        # The plus signs of a return address's own query are blanks, whether the address was
        # encoded once (revealed by the first round) or, as a whole, twice (by the second).
        if (
            form
            and round_no < 2
            and "+" in decoded
            and decoded != text
            and (not round_no or not _nested_query(text))
        ):
            decoded = _nested_form_blanks(decoded)
        if round_no and decoded != text:
            layered = True
        decoded = _entity_decode(decoded)
        if not round_no:
            once = decoded
        if decoded == text:
            break
        text = decoded
    if layered and not _layers_nest(once):
        signals.add(SIG_DOUBLE_ENCODING)
    if "\x00" in text:
        signals.add(SIG_NUL_BYTE)
    if "\n" in text or "\r" in text:
        signals.add(SIG_LINE_BREAK)
    return text, frozenset(signals) if signals else _EMPTY


def clean(text: str) -> str:
    """Lowercased `text` without NUL bytes and with runs of blanks compressed.

    Line breaks survive (as a single ``\\n``) because header-injection rules look for them.
    """
    if "\x00" in text:
        text = text.replace("\x00", "")
    text = text.lower()
    if "  " in text or "\r" in text or "\n" in text or "\t" in text or "\xa0" in text:
        text = _LINE_RUN.sub("\n", text)
        text = _BLANK_RUN.sub(" ", text)
    return text


def remove_comments(text: str) -> str:
    """`text` without C-style comment markers, so keywords split by comments join again."""
    if "/*" not in text and "*/" not in text:
        return text
    return _C_COMMENT.sub("", text)


def remove_shell_quoting(text: str) -> str:
    """`text` without the quoting a shell would drop (``c\\a't'`` runs ``cat``)."""
    if "$" in text or "+" in text or "%" in text:
        text = _SHELL_BLANK.sub(" ", text)
    return _SHELL_QUOTING.sub("", text)


def normalize_path(path: str) -> tuple[str, bool]:
    """`path` with backslashes as slashes and ``.``, ``..`` and empty segments resolved.

    The flag says whether a ``..`` segment was met, which is worth a signal of its own even
    when the result stays inside the root.
    """
    if "\\" in path:
        path = path.replace("\\", "/")
    if "/." not in path and "//" not in path and not path.startswith("."):
        return path, False
    traversal = False
    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            traversal = True
            if parts:
                parts.pop()
            continue
        parts.append(segment)
    normalized = "/" + "/".join(parts)
    if path.endswith("/") and parts:
        normalized += "/"
    return normalized, traversal


# Values that arrive form-encoded, where ``+`` means a blank.
_FORM_KINDS: Final = frozenset({"args", "args_names", "query", "referer", "referer_args"})


def build_views(value: str, kind: str) -> tuple[dict[str, str], frozenset[str]]:
    """Every view of one target value of the given kind, and the signals its decoding met."""
    raw = value.lower()
    if kind in ("method", "protocol", "request_line"):
        return {VIEW_RAW: raw}, _EMPTY
    text, signals = decode(value, form=kind in _FORM_KINDS)
    decoded = clean(text)
    views = {
        VIEW_RAW: raw,
        VIEW_DECODED: decoded,
        VIEW_NOCOMMENTS: remove_comments(decoded),
        VIEW_CMDLINE: remove_shell_quoting(decoded),
        VIEW_PATH: decoded,
    }
    if kind == "path":
        if not value.startswith("/") and value != "*":
            signals = signals | {SIG_ABSOLUTE_TARGET}
        normalized, traversal = normalize_path(decoded)
        views[VIEW_PATH] = normalized
        if traversal:
            signals = signals | {SIG_PATH_TRAVERSAL}
    return views, signals


def split_query(query: str, *, semicolons: bool = True) -> list[tuple[str, str]]:
    """The raw (still encoded) name/value pairs of a query string, in order.

    Both ``&`` and ``;`` separate pairs (``&`` alone without `semicolons`); repeated names are
    kept; a name without ``=`` has an empty value.
    """
    if not query:
        return []
    if semicolons and ";" in query:
        query = query.replace(";", "&")
    pairs: list[tuple[str, str]] = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((name, value))
    return pairs


def decode_name(name: str) -> str:
    """An argument name decoded for display and for matching exclusions."""
    if _DECODE_TRIGGERS.search(name) is None:
        return name
    return decode(name, form=True)[0]
