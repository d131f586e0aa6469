"""The values of a request that a client chose, split the way the rules target them.

The request line gives the path (and its segments) and the query (and its arguments); the
headers give the user agent, the referer (and the arguments and segments of the referer's own
URL), cookies and any other header a log format records. Log formats put those last ones in
different places: X-Forwarded-For and Host have record fields of their own; cookies and other
headers arrive in `LogRecord.extra` under the names the format gave them (nginx
``$http_cookie``, ``$cookie_sid``, ``$http_x_api_key``; Apache ``%{Cookie}i`` → ``http_cookie``,
``%{sid}C`` → ``cookie_sid``; JSON keys such as ``cookie`` or a ``headers`` object).

Each function returns *units*: ``(kind, raw value, target name)``, where the kind is one of
`vigil.detect.ruleset.TARGETS` and the target name is what a match reports (``path_segment``,
``referer_args:q``, ``cookie:sid``, ``header:x-forwarded-for``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

import orjson

from vigil.batch import LogRecord
from vigil.detect import normalize
from vigil.detect.result import truncate

Unit = tuple[str, str, str]
"""(kind, raw value, target name) of one value to scan."""

# A segment or value made only of these cannot hold an injection: it is never scanned alone
# (the whole path still is, by the path rules).
_PLAIN_VALUE: Final = re.compile(r"[A-Za-z0-9._~-]*")
_PLAIN_PATH: Final = re.compile(r"[A-Za-z0-9._~/-]*")
_SCHEME_HOST: Final = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*")
# Most referers are a page of a site without arguments: nothing in them to split.
_PLAIN_REFERER: Final = re.compile(r"(?:https?://[A-Za-z0-9.:-]*)?[A-Za-z0-9._~/-]*")
# Header fields the record already has as its own fields.
_OWN_FIELDS: Final = frozenset(
    {"http_user_agent", "http_referer", "http_referrer", "http_x_forwarded_for", "http_host"}
)
_COOKIE_KEYS: Final = frozenset({"http_cookie", "cookie", "cookies", "request_cookie"})
_HEADER_OBJECTS: Final = frozenset({"headers", "request_headers", "http_headers"})
_NAME_LIMIT: Final = 64
# What X-Forwarded-For holds when nobody tampered with it: addresses, commas, blanks, ports.
_ADDRESS_LIST: Final = re.compile(r"[0-9A-Fa-f.:, \[\]]*")


def is_plain_value(value: str) -> bool:
    """Whether `value` holds nothing but letters, digits and ``._~-`` (no injection fits)."""
    return _PLAIN_VALUE.fullmatch(value) is not None


def tampered_forwarded_for(value: str) -> bool:
    """Whether an X-Forwarded-For value holds more than addresses, ports and commas."""
    return bool(value) and _ADDRESS_LIST.fullmatch(value) is None


def plain_path(path: str) -> bool:
    """Whether no segment of `path` needs scanning on its own (see `path_segments`)."""
    return _PLAIN_PATH.fullmatch(path) is not None


def plain_referer(referer: str) -> bool:
    """Whether `referer` is a page address with nothing to split (see `referer_units`)."""
    return _PLAIN_REFERER.fullmatch(referer) is not None


def path_segments(path: str) -> list[Unit]:
    """The segments of a request path that could hold an injection, as ``path_segment`` units.

    A payload placed in one segment (``/item/1' or '1'='1/view``) reads, alone, like the
    argument value it would otherwise be; segments of plain words are left to the path rules.
    """
    if _PLAIN_PATH.fullmatch(path) is not None:
        return []
    return [
        ("path_segment", segment, "path_segment")
        for segment in dict.fromkeys(path.split("/"))
        if segment and not is_plain_value(segment)
    ]


def referer_units(referer: str) -> list[Unit]:
    """The whole referer, and the arguments and segments of the referer's own URL."""
    if not referer or referer == "-":
        return []
    units: list[Unit] = [("referer", referer, "referer")]
    if plain_referer(referer):
        return units
    rest = _SCHEME_HOST.sub("", referer, count=1)
    rest = rest.split("#", 1)[0]
    path, _, query = rest.partition("?")
    for unit in path_segments(path):
        units.append(("referer_args", unit[1], "referer_args:path"))
    # Plain values too, as in the request's own arguments: a catalogue name or a lone command
    # (information_schema.tables, whoami) is all letters, dots and underscores.
    for raw_name, raw_value in normalize.split_query(query):
        # A name is scanned as the request's own names are: ?id'%20AND%20SLEEP(5)--=1.
        odd_name = bool(raw_name) and not is_plain_value(raw_name)
        if not (raw_value or odd_name):
            continue
        target = f"referer_args:{truncate(normalize.decode_name(raw_name), _NAME_LIMIT)}"
        if raw_value:
            units.append(("referer_args", raw_value, target))
        if odd_name:
            units.append(("referer_args", raw_name, target))
    return units


def _cookie_units(header: str) -> list[Unit]:
    # The whole header too: a payload with semicolons of its own (Shellshock's "() { :;};")
    # is cut apart by the split into pairs.
    units: list[Unit] = [] if is_plain_value(header) else [("cookie", header, "cookie")]
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if value and not is_plain_value(value):
            units.append(("cookie", value, f"cookie:{truncate(name, _NAME_LIMIT)}"))
    return units


def _header_units(name: str, value: str) -> list[Unit]:
    key = name.lower().replace("-", "_")
    if not value or value == "-":
        return []
    if key in _COOKIE_KEYS:
        return _cookie_units(value)
    if key.startswith("cookie_"):
        cookie = key.removeprefix("cookie_")
        return [] if is_plain_value(value) else [("cookie", value, f"cookie:{cookie}")]
    if key.startswith("http_"):
        # Plain header values are scanned too: a header names hosts and tools by their plain
        # names (X-Forwarded-Host: metadata.google.internal).
        if key in _OWN_FIELDS:
            return []
        label = truncate(key.removeprefix("http_").replace("_", "-"), _NAME_LIMIT)
        return [("header", value, f"header:{label}")]
    return []


def _header_object(text: str) -> Mapping[str, object]:
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _is_header_name(name: str) -> bool:
    key = name.lower()
    return key.startswith(("http_", "cookie")) or key in _COOKIE_KEYS or key in _HEADER_OBJECTS


HeaderKey = tuple[str, str, tuple[tuple[str, str], ...]]


def header_key(record: LogRecord) -> HeaderKey | None:
    """What `header_units` depends on, as a hashable key; None when the record has no such
    field (the common case of the combined format, decided without building anything).

    Only the `extra` fields that hold request headers are part of the key: the others
    (request length, upstream times) change on every line and say nothing about the client.
    """
    extra = record.extra
    if not (record.forwarded_for or record.host or extra):
        return None
    headers = header_items(extra) if extra else ()
    if not (record.forwarded_for or record.host or headers):
        return None
    return record.forwarded_for, record.host, headers


def header_items(extra: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The fields of a record's `extra` that hold request headers (cookies among them)."""
    return tuple(item for item in extra.items() if _is_header_name(item[0]))


def header_units(key: HeaderKey) -> list[Unit]:
    """Cookies, X-Forwarded-For, Host and the other recorded headers of a `header_key`."""
    forwarded_for, host, extra = key
    units: list[Unit] = []
    if tampered_forwarded_for(forwarded_for):
        units.append(("header", forwarded_for, "header:x-forwarded-for"))
    if host:
        units.append(("header", host, "header:host"))
    for name, value in extra:
        if name.lower() in _HEADER_OBJECTS and value.startswith("{"):
            for inner, inner_value in _header_object(value).items():
                text = inner_value if isinstance(inner_value, str) else str(inner_value)
                units.extend(_header_units(f"http_{inner}", text))
            continue
        units.extend(_header_units(name, value))
    return units
