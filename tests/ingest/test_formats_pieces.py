"""The pieces under the parsers: escape decoding, request-line splitting, timestamps and the
trusted-proxy client address."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vigil.batch import LogRecord
from vigil.errors import ConfigError
from vigil.ingest.formats.clientip import ClientIpResolver
from vigil.ingest.formats.escapes import unescape
from vigil.ingest.formats.request_line import RequestParts, own_origin_path, split_request
from vigil.ingest.formats.timestamps import parse_any, parse_clf, parse_clf_cached, parse_iso
from vigil.ingest.parser import build_parser


@pytest.mark.parametrize(
    ("logged", "original"),
    [
        ("plain", "plain"),
        ("\\x22quoted\\x22", '"quoted"'),
        ("caf\\xC3\\xA9", "café"),
        ("\\xE2\\x82\\xAC5", "€5"),
        ('\\"apache\\" \\\\ back', '"apache" \\ back'),
        ("tab\\there\\nline", "tab\there\nline"),
        ("\\x5Cx41", "\\x41"),  # an escaped backslash is not the start of an escape
        ("nul\\x00byte", "nul\x00byte"),
        ("bad \\xFF utf8", "bad \ufffd utf8"),
        ("json \\u00e9 \\u0001", "json é \x01"),
        ("lone \\ud800 surrogate", "lone \ufffd surrogate"),
        ("unknown \\q escape", "unknown \\q escape"),
        ("trailing \\", "trailing \\"),
    ],
)
def test_unescape(logged: str, original: str) -> None:
    assert unescape(logged) == original


@pytest.mark.parametrize(
    ("line", "parts"),
    [
        ("GET /a?b=1 HTTP/1.1", RequestParts("GET", "/a?b=1", "/a", "b=1", "HTTP/1.1", False)),
        ("GET /a?b=1?c HTTP/2", RequestParts("GET", "/a?b=1?c", "/a", "b=1?c", "HTTP/2", False)),
        ("GET /index.html", RequestParts("GET", "/index.html", "/index.html", "", "", False)),
        ("-", RequestParts("", "", "", "", "", True)),
        ("", RequestParts("", "", "", "", "", True)),
        ("\x16\x03\x01\x00", RequestParts("", "", "", "", "", True)),
        ("GET", RequestParts("", "", "", "", "", True)),
        ("GET /a b HTTP/1.1", RequestParts("GET", "/a b", "/a b", "", "HTTP/1.1", True)),
        ("GET / HTTP/1.1 x", RequestParts("GET", "/ HTTP/1.1 x", "/ HTTP/1.1 x", "", "", True)),
        ("GET  HTTP/1.1", RequestParts("GET", "", "", "", "HTTP/1.1", True)),
    ],
)
def test_split_request(line: str, parts: RequestParts) -> None:
    assert split_request(line) == parts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/Oct/2000:13:55:36 -0700", datetime(2000, 10, 10, 20, 55, 36, tzinfo=UTC)),
        ("10/Oct/2000:13:55:36 +0000", datetime(2000, 10, 10, 13, 55, 36, tzinfo=UTC)),
        ("01/Jan/2024:00:30:00 +0100", datetime(2023, 12, 31, 23, 30, tzinfo=UTC)),
        ("29/Feb/2024:12:00:00 +05:45", datetime(2024, 2, 29, 6, 15, tzinfo=UTC)),
        ("10/oct/2000:13:55:36.250 -0700", datetime(2000, 10, 10, 20, 55, 36, 250000, tzinfo=UTC)),
    ],
)
def test_clf_times_become_utc(text: str, expected: datetime) -> None:
    assert parse_clf(text) == expected
    assert parse_clf_cached(text) == expected
    assert parse_clf_cached(text).utcoffset() is not None


@pytest.mark.parametrize(
    "text",
    [
        "32/Oct/2000:13:55:36 -0700",
        "10/Foo/2000:13:55:36 -0700",
        "10/Oct/2000:25:55:36 -0700",
        "10/Oct/2000:13:55:61 -0700",
        "yesterday",
    ],
)
def test_bad_clf_times_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_clf_cached(text)


def test_iso_and_epoch_times() -> None:
    assert parse_iso("2024-03-14T10:26:53+01:00") == datetime(2024, 3, 14, 9, 26, 53, tzinfo=UTC)
    assert parse_iso("2024-03-14T09:26:53Z") == datetime(2024, 3, 14, 9, 26, 53, tzinfo=UTC)
    assert parse_iso("2024-03-14T09:26:53") == datetime(2024, 3, 14, 9, 26, 53, tzinfo=UTC)
    assert parse_any(1710408413) == datetime(2024, 3, 14, 9, 26, 53, tzinfo=UTC)
    assert parse_any(1710408413000) == datetime(2024, 3, 14, 9, 26, 53, tzinfo=UTC)
    assert parse_any("1710408413.5") == datetime(2024, 3, 14, 9, 26, 53, 500000, tzinfo=UTC)
    assert parse_any("14/Mar/2024:09:26:53 +0000") == datetime(2024, 3, 14, 9, 26, 53, tzinfo=UTC)


PROXIES = ["10.0.0.0/8", "192.168.1.10", "2001:db8:ffff::/48"]


@pytest.mark.parametrize(
    ("peer", "xff", "client"),
    [
        ("10.0.0.5", "203.0.113.9", "203.0.113.9"),
        # The client can write anything on the left; only the hop our proxy added counts.
        ("10.0.0.5", "1.1.1.1, 203.0.113.9", "203.0.113.9"),
        ("10.0.0.5", "203.0.113.9, 10.2.3.4, 192.168.1.10", "203.0.113.9"),
        ("10.0.0.5", "2001:db8::77", "2001:db8::77"),
        ("2001:db8:ffff::1", "[2001:db8::88]:4711, 10.1.1.1", "2001:db8::88"),
        ("10.0.0.5", "203.0.113.9:51000", "203.0.113.9"),
        # Not from a trusted proxy: the header is the client's own claim.
        ("198.51.100.7", "1.1.1.1", "198.51.100.7"),
        ("10.0.0.5", "", "10.0.0.5"),
        ("10.0.0.5", "-", "10.0.0.5"),
        # Garbage passed on by our proxy: keep the last address we can vouch for.
        ("10.0.0.5", "203.0.113.9, unknown", "10.0.0.5"),
        ("10.0.0.5", "10.9.9.9, 10.8.8.8", "10.9.9.9"),
    ],
)
def test_client_ip_walks_forwarded_for_right_to_left(peer: str, xff: str, client: str) -> None:
    assert ClientIpResolver(PROXIES).resolve(peer, xff) == client


def test_forwarded_for_is_ignored_without_trusted_proxies() -> None:
    assert ClientIpResolver().resolve("10.0.0.5", "203.0.113.9") == "10.0.0.5"


def test_bad_trusted_proxy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"10\.0\.0\.0/33"):
        ClientIpResolver(["10.0.0.0/33"])


@pytest.mark.parametrize("spec", ["nginx-main", "auto"])
def test_parsers_use_trusted_proxies(spec: str) -> None:
    line = (
        '10.0.0.5 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua" '
        '"6.6.6.6, 203.0.113.9"'
    )
    trusting = build_parser(spec, trusted_proxies=["10.0.0.0/8"]).parse_line(line)
    plain = build_parser(spec).parse_line(line)
    assert isinstance(trusting, LogRecord)
    assert isinstance(plain, LogRecord)
    assert trusting.client_ip == "203.0.113.9"
    assert trusting.forwarded_for == "6.6.6.6, 203.0.113.9"
    assert plain.client_ip == "10.0.0.5"


def test_json_parser_uses_trusted_proxies() -> None:
    line = (
        '{"remote_addr":"10.0.0.5","http_x_forwarded_for":"203.0.113.9","request":"GET / HTTP/1.1"}'
    )
    record = build_parser("json", trusted_proxies=["10.0.0.0/8"]).parse_line(line)
    assert isinstance(record, LogRecord)
    assert record.client_ip == "203.0.113.9"


@pytest.mark.parametrize(
    ("path", "host", "origin"),
    [
        ("http://localhost:8080/tienda1/publico/anadir.jsp", "", "/tienda1/publico/anadir.jsp"),
        ("HTTP://127.0.0.1", "", "/"),
        ("http://[::1]:8080/a", "", "/a"),
        ("https://shop.example.com/cart", "shop.example.com:443", "/cart"),
        ("http://SHOP.example.com./cart", "shop.example.com", "/cart"),
        # Another host, or a loopback name where the logged Host is another: a proxy request.
        ("http://www.google.com/", "", None),
        ("http://localhost/admin", "shop.example.com", None),
        # A loopback service that is no web server: a request for it is a proxy's.
        ("http://127.0.0.1:6379/", "", None),
        ("http://localhost:22", "", None),
        ("http://shop.example.com.evil.example/", "shop.example.com", None),
        # Credentials in the authority are never a browser's request to this server.
        ("http://user@localhost/", "", None),
        ("www.example.com:443", "", None),
        ("/already/origin", "", None),
    ],
)
def test_own_origin_path(path: str, host: str, origin: str | None) -> None:
    assert own_origin_path(path, host) == origin


@pytest.mark.parametrize("spec", ["combined", "json"])
def test_parsers_read_an_absolute_target_naming_this_server_as_its_path(spec: str) -> None:
    requests = [
        "GET http://localhost:8080/shop/cart.jsp?id=2 HTTP/1.1",
        "GET http://www.google.com/ HTTP/1.1",
    ]
    if spec == "combined":
        lines = [f'1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "{r}" 200 1 "-" "ua"' for r in requests]
    else:
        lines = [f'{{"remote_addr":"1.2.3.4","request":"{r}","status":200}}' for r in requests]
    parser = build_parser(spec)
    own, proxy = (parser.parse_line(line) for line in lines)
    assert isinstance(own, LogRecord) and isinstance(proxy, LogRecord)
    assert (own.path, own.query, own.target) == (
        "/shop/cart.jsp",
        "id=2",
        "http://localhost:8080/shop/cart.jsp?id=2",
    )
    assert proxy.path == "http://www.google.com/"
