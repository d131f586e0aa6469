"""Split an HTTP request line into method, target, path, query and protocol, leniently.

A request line that is not `METHOD SP TARGET SP HTTP/x.y` (or the bare HTTP/0.9
`METHOD SP /TARGET`) is still split as well as it can be, and marked malformed: TLS handshakes
sent to a plain-HTTP port, binary junk and `-` are signals for detection, not parse errors.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from vigil.batch import LogRecord

_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_PROTOCOL = re.compile(r"HTTP/[0-9]+(?:\.[0-9]+)?")
_ABSOLUTE = re.compile(r"(?i)https?://([^/?#@]*)(.*)", re.DOTALL)
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "localhost.localdomain"})
_WEB_PORTS = frozenset(
    {"", "80", "443", "8000", "8008", "8080", "8081", "8443", "8888", "3000", "5000"}
)


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


def _host_and_port(authority: str) -> tuple[str, str]:
    """The host of `host[:port]` or `[v6]:port`, lower case, and the port ("" if none)."""
    authority = authority.strip().lower().rstrip(".")
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        return host, rest.removeprefix(":")
    if authority.count(":") > 1:  # a bare IPv6 address
        return authority, ""
    host, _, port = authority.partition(":")
    return host.rstrip("."), port


def own_origin_path(path: str, host: str) -> str | None:
    """The origin-form path of an absolute-form target that names this server, else None.

    HTTP lets a client write the target of a request to the server itself as a whole URL
    (``GET http://shop.example/cart HTTP/1.1``), and replayed or proxied traffic often does. Such
    a request is a request for ``/cart``. It names this server when its host is the logged Host
    or, if no Host was logged, a loopback name on a web port. A URL naming any other host, or
    a loopback service that is no web server (``http://127.0.0.1:6379/``), is what a client
    sends to a proxy, and is left whole for the open-proxy and SSRF rules.
    """
    match = _ABSOLUTE.fullmatch(path)
    if match is None:
        return None
    authority, rest = match.groups()
    name, port = _host_and_port(authority)
    logged = _host_and_port(host)[0] if host else None
    own = name == logged if logged is not None else name in _LOOPBACK and port in _WEB_PORTS
    if not own or not name:
        return None
    return rest if rest.startswith("/") else "/" + rest


def with_origin_path(record: LogRecord) -> LogRecord:
    """`record`, or a copy whose absolute-form path names this server read as the origin-form
    path the server served (`own_origin_path`); the target stays as sent."""
    if record.path[:1] in ("/", ""):
        return record
    origin = own_origin_path(record.path, record.host)
    return record if origin is None else record._replace(path=origin)


def origin_form(records: list[LogRecord]) -> None:
    """Apply `with_origin_path` in place to a batch's records."""
    for index, record in enumerate(records):
        if record.path[:1] not in ("/", ""):
            records[index] = with_origin_path(record)
