"""Split an HTTP request line into method, target, path, query and protocol, leniently.

A request line that is not `METHOD SP TARGET SP HTTP/x.y` (or the bare HTTP/0.9
`METHOD SP /TARGET`) is still split as well as it can be, and marked malformed: TLS handshakes
sent to a plain-HTTP port, binary junk and `-` are signals for detection, not parse errors.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_PROTOCOL = re.compile(r"HTTP/[0-9]+(?:\.[0-9]+)?")


class RequestParts(NamedTuple):
    """The pieces of one request line; `target` is `path` plus `?query` as sent."""

    method: str
    target: str
    path: str
    query: str
    protocol: str
    malformed: bool


EMPTY_REQUEST = RequestParts("", "", "", "", "", True)


def split_target(target: str) -> tuple[str, str]:
    """The path and query string of a request target (query without its `?`)."""
    path, _, query = target.partition("?")
    return path, query


def split_request(line: str) -> RequestParts:
    """The parts of a request line; never raises, marks anything unusual as malformed."""
    if line in ("", "-"):
        return EMPTY_REQUEST
    parts = line.split(" ")
    method_ok = _METHOD.fullmatch(parts[0]) is not None
    if len(parts) == 3 and method_ok and parts[1] and _PROTOCOL.fullmatch(parts[2]):
        path, query = split_target(parts[1])
        return RequestParts(parts[0], parts[1], path, query, parts[2], False)
    if len(parts) == 2 and method_ok and parts[1].startswith("/"):
        path, query = split_target(parts[1])
        return RequestParts(parts[0], parts[1], path, query, "", False)
    if not method_ok or len(parts) == 1:
        # One word (a banner, a handshake) says nothing about a method or a target.
        return EMPTY_REQUEST
    rest = parts[1:]
    protocol = ""
    if len(rest) > 1 and _PROTOCOL.fullmatch(rest[-1]):
        protocol = rest.pop()
    target = " ".join(rest)
    path, query = split_target(target)
    return RequestParts(parts[0], target, path, query, protocol, True)
