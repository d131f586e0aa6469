"""Named formats read real-looking lines into the expected fields, by both the batch fast path
and the careful per-line path, and turn what they cannot read into dead letters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from vigil.batch import DeadLetter, LineBatch, LogRecord
from vigil.errors import FormatError
from vigil.ingest.parser import build_parser, format_names, parse_line

T = datetime(2000, 10, 10, 20, 55, 36, tzinfo=UTC)  # 10/Oct/2000:13:55:36 -0700

COMBINED_CASES: list[tuple[str, dict[str, Any]]] = [
    (
        '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?a=1&b=2 HTTP/1.0" '
        '200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"',
        {
            "client_ip": "127.0.0.1",
            "remote_user": "frank",
            "observed_at": T,
            "method": "GET",
            "target": "/apache_pb.gif?a=1&b=2",
            "path": "/apache_pb.gif",
            "query": "a=1&b=2",
            "protocol": "HTTP/1.0",
            "status": 200,
            "bytes_sent": 2326,
            "referer": "http://www.example.com/start.html",
            "user_agent": "Mozilla/4.08 [en] (Win98; I ;Nav)",
            "malformed": False,
        },
    ),
    (
        '2001:db8:85a3::8a2e:370:7334 - - [10/Oct/2000:13:55:36 -0700] "POST /api/v1/cart HTTP/2.0"'
        ' 201 0 "-" "-"',
        {
            "client_ip": "2001:db8:85a3::8a2e:370:7334",
            "remote_user": "",
            "method": "POST",
            "path": "/api/v1/cart",
            "query": "",
            "protocol": "HTTP/2.0",
            "status": 201,
            "bytes_sent": 0,
            "referer": "",
            "user_agent": "",
        },
    ),
    (
        # nginx writes a quote inside a value as \x22 and non-ASCII bytes as \xHH.
        '203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET /caf\\xC3\\xA9?q=\\x22x\\x22 HTTP/1.1" '
        '404 153 "-" "Mozilla/5.0 \\x22quoted\\x22 \\xE2\\x82\\xAC"',
        {
            "target": '/café?q="x"',
            "path": "/café",
            "query": 'q="x"',
            "user_agent": 'Mozilla/5.0 "quoted" €',
            "status": 404,
            "malformed": False,
        },
    ),
    (
        # Apache writes \" and \\ instead.
        '198.51.100.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a\\\\b HTTP/1.1" 200 5 '
        '"http://x.example/?q=\\"1\\"" "curl/8.0 \\"x\\"\\ttab"',
        {
            "path": "/a\\b",
            "referer": 'http://x.example/?q="1"',
            "user_agent": 'curl/8.0 "x"\ttab',
        },
    ),
    (
        '192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "PROPFIND /dav/ HTTP/1.1" 207 512 "-" '
        '"Microsoft-WebDAV-MiniRedir/10.0.19045"',
        {"method": "PROPFIND", "path": "/dav/", "status": 207, "malformed": False},
    ),
    (
        '192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "get /lower HTTP/1.1" 400 0 "-" "-"',
        {"method": "get", "path": "/lower", "malformed": False},
    ),
    (
        '192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "M-SEARCH * HTTP/1.1" 400 0 "-" "-"',
        {"method": "M-SEARCH", "target": "*", "path": "*", "malformed": False},
    ),
    (
        '192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "' + "A" * 5000 + ' / HTTP/1.1" 400 0 "-" "-"',
        {"method": "A" * 5000, "path": "/", "malformed": False},
    ),
    (
        '192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "CONNECT example.com:443 HTTP/1.1" 405 0 "-" '
        '"-"',
        {"method": "CONNECT", "target": "example.com:443", "malformed": False},
    ),
    (
        '192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET http://evil.example/x?y=1 HTTP/1.1" 200'
        ' 10 "-" "-"',
        {"target": "http://evil.example/x?y=1", "path": "http://evil.example/x", "query": "y=1"},
    ),
    (
        '192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET /search?q=%27+OR+1%3D1-- HTTP/1.1" 200'
        ' 1 "-" "-"',
        {
            "observed_at": datetime(2000, 10, 10, 13, 55, 36, tzinfo=UTC),
            "query": "q=%27+OR+1%3D1--",
        },
    ),
    (
        '192.0.2.1 - - [10/Oct/2000:13:55:36 +0530] "GET / HTTP/1.1" 200 1 "-" "-"',
        {"observed_at": datetime(2000, 10, 10, 8, 25, 36, tzinfo=UTC)},
    ),
    (
        # A CRLF log: the \r is not part of the user agent.
        '192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua"\r',
        {"user_agent": "ua", "path": "/"},
    ),
]

MALFORMED_CASES: list[tuple[str, dict[str, Any]]] = [
    (
        '192.0.2.7 - - [10/Oct/2000:13:55:36 -0700] "\\x16\\x03\\x01\\x00\\xA5\\x01\\x00" 400 157 '
        '"-" "-"',
        {"method": "", "path": "", "status": 400},
    ),
    ('192.0.2.7 - - [10/Oct/2000:13:55:36 -0700] "-" 400 0 "-" "-"', {"method": "", "path": ""}),
    ('192.0.2.7 - - [10/Oct/2000:13:55:36 -0700] "" 400 0 "-" "-"', {"method": "", "path": ""}),
    (
        '192.0.2.7 - - [10/Oct/2000:13:55:36 -0700] "GET /a b c HTTP/1.1" 400 0 "-" "-"',
        {"method": "GET", "target": "/a b c", "protocol": "HTTP/1.1"},
    ),
    (
        '192.0.2.7 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1 junk" 400 0 "-" "-"',
        {"method": "GET"},
    ),
    ('192.0.2.7 - - [10/Oct/2000:13:55:36 -0700] "SSH-2.0-Go" 400 0 "-" "-"', {"method": ""}),
]

GARBAGE = [
    "",
    "   ",
    "garbage",
    "\x00\x01\x02binary",
    '192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200',  # cut short
    '192.0.2.1 - - [not a time] "GET / HTTP/1.1" 200 1 "-" "-"',
    '192.0.2.1 - - [31/Feb/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-"',
    '192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" abc 1 "-" "-"',
    '{"remote_addr": "1.2.3.4"}',
]


def check(record: LogRecord | DeadLetter, expected: dict[str, Any]) -> None:
    assert isinstance(record, LogRecord), record
    for name, value in expected.items():
        assert getattr(record, name) == value, name


@pytest.mark.parametrize(("line", "expected"), COMBINED_CASES)
@pytest.mark.parametrize("spec", ["combined", "apache-combined", "auto"])
def test_combined_lines(spec: str, line: str, expected: dict[str, Any]) -> None:
    check(build_parser(spec).parse_line(line), expected)


@pytest.mark.parametrize(("line", "expected"), COMBINED_CASES)
def test_fast_and_careful_paths_agree_inside_a_batch(line: str, expected: dict[str, Any]) -> None:
    # In a batch with many plain lines, the odd line must come out the same as on its own.
    plain = b'10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /p HTTP/1.1" 200 1 "-" "Mozilla/5.0"'
    lines = [plain] * 20 + [line.encode()] + [plain] * 20
    batch = LineBatch("s", "f", lines, [i * 1000 for i in range(41)], 41_000)
    result = build_parser("combined").parse_batch(batch)
    assert not result.dead_letters
    assert [r.offset for r in result.records] == batch.offsets
    check(result.records[20], expected)
    check(result.records[0], {"path": "/p", "user_agent": "Mozilla/5.0"})


@pytest.mark.parametrize(("line", "expected"), MALFORMED_CASES)
def test_malformed_request_lines_are_records(line: str, expected: dict[str, Any]) -> None:
    record = parse_line(line, "combined")
    check(record, {"malformed": True, "client_ip": "192.0.2.7", **expected})


@pytest.mark.parametrize("line", GARBAGE)
def test_lines_of_no_format_are_dead_letters(line: str) -> None:
    dead = parse_line(line.encode(), "combined")
    assert isinstance(dead, DeadLetter)
    assert dead.raw == line.encode()
    assert dead.reason


def test_dead_letter_reasons_say_what_was_wrong() -> None:
    parser = build_parser("combined")
    assert parser.parse_line(b"") == DeadLetter("-", "-", 0, b"", "empty line")
    bad_time = parser.parse_line(
        b'1.2.3.4 - - [31/Feb/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-"'
    )
    assert isinstance(bad_time, DeadLetter)
    assert "time" in bad_time.reason
    other = parser.parse_line(b"hello")
    assert isinstance(other, DeadLetter)
    assert other.reason == "does not match the combined format"


@pytest.mark.parametrize(
    ("spec", "line", "expected"),
    [
        (
            "common",
            '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326',
            {"remote_user": "frank", "bytes_sent": 2326, "user_agent": "", "referer": ""},
        ),
        (
            "apache-common",
            '::1 - - [10/Oct/2000:13:55:36 -0700] "OPTIONS * HTTP/1.0" 200 -',
            {"client_ip": "::1", "bytes_sent": 0, "method": "OPTIONS"},
        ),
        (
            "apache-combined-time",
            '10.1.1.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 42 "-" "UA" 1234567',
            {"request_time": pytest.approx(1.234567), "user_agent": "UA"},
        ),
        (
            "apache-combined-seconds",
            '10.1.1.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 42 "-" "UA" 3',
            {"request_time": 3.0},
        ),
        (
            "nginx-combined-time",
            '10.1.1.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 42 "-" "UA" 0.004',
            {"request_time": pytest.approx(0.004)},
        ),
        (
            "nginx-main",
            '10.1.1.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 42 "-" "UA" '
            '"203.0.113.5, 10.0.0.2"',
            {"forwarded_for": "203.0.113.5, 10.0.0.2", "client_ip": "10.1.1.1"},
        ),
        (
            "apache-vhost-combined",
            'shop.example.com:443 10.1.1.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 '
            '42 "-" "UA"',
            {"host": "shop.example.com", "extra": {"server_port": "443"}, "bytes_sent": 42},
        ),
    ],
)
def test_other_presets(spec: str, line: str, expected: dict[str, Any]) -> None:
    check(build_parser(spec).parse_line(line), expected)


def test_every_advertised_name_builds() -> None:
    for name in format_names():
        parser = build_parser(name)
        assert parser.describe()


def test_unknown_format_name_lists_the_valid_ones() -> None:
    with pytest.raises(FormatError) as caught:
        build_parser("nginx-fancy")
    message = str(caught.value)
    assert "nginx-fancy" in message
    for name in ("auto", "combined", "common", "apache-combined-time", "json"):
        assert name in message


def test_batch_keeps_origin_and_order() -> None:
    lines = [
        b'1.1.1.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 1 "-" "-"',
        b"junk",
        b'1.1.1.2 - - [10/Oct/2000:13:55:37 -0700] "GET /b HTTP/1.1" 200 1 "-" "-"',
        b'1.1.1.3 - - [10/Oct/2000:13:55:38 -0700] "\\x16\\x03" 400 0 "-" "-"',
    ]
    offsets = [0, 75, 80, 155]
    result = build_parser("combined").parse_batch(LineBatch("web", "inode:7", lines, offsets, 200))
    assert [(r.source, r.file_id, r.offset) for r in result.records] == [
        ("web", "inode:7", 0),
        ("web", "inode:7", 80),
        ("web", "inode:7", 155),
    ]
    assert [r.malformed for r in result.records] == [False, False, True]
    assert result.dead_letters == [
        DeadLetter("web", "inode:7", 75, b"junk", result.dead_letters[0].reason)
    ]
    assert result.records[1].raw == lines[2].decode()


def test_invalid_utf8_nul_and_huge_lines_do_not_crash() -> None:
    huge_target = "/" + "a" * (1 << 20)
    lines = [
        b'1.1.1.1 - - [10/Oct/2000:13:55:36 -0700] "GET /\xff\xfe HTTP/1.1" 200 1 "-" "\xc3("',
        b'1.1.1.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a\x00b HTTP/1.1" 200 1 "-" "-"',
        b'1.1.1.1 - - [10/Oct/2000:13:55:36 -0700] "GET '
        + huge_target.encode()
        + b' HTTP/1.1" 200 1 "-" "-"',
        b"\xff" * (1 << 20),
    ]
    result = build_parser("combined").parse_batch(LineBatch("s", "f", lines, [0, 1, 2, 3], 4))
    assert len(result.records) == 3
    assert len(result.dead_letters) == 1
    first, nul, huge = result.records
    assert first.path == "/\ufffd\ufffd"
    assert first.user_agent == "\ufffd("
    assert nul.path == "/a\x00b"
    assert huge.path == huge_target


def test_max_line_bytes_dead_letters_long_lines() -> None:
    parser = build_parser("combined", max_line_bytes=100)
    short = b'1.1.1.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-"'
    long = short.replace(b"GET /", b"GET /" + b"x" * 100)
    result = parser.parse_batch(LineBatch("s", "f", [short, long], [0, 100], 300))
    assert [r.offset for r in result.records] == [0]
    assert result.dead_letters[0].offset == 100
    assert "longer than" in result.dead_letters[0].reason


def test_lines_the_reader_truncated_are_dead_letters() -> None:
    line = b'1.1.1.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-"'
    batch = LineBatch("s", "f", [line, line, line], [0, 80, 160], 240, oversized=frozenset({1}))
    for spec in ("combined", "auto"):
        result = build_parser(spec).parse_batch(batch)
        assert [r.offset for r in result.records] == [0, 160]
        assert [d.offset for d in result.dead_letters] == [80]


def test_line_ends_left_on_by_a_reader_are_ignored() -> None:
    line = b'1.1.1.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua"'
    batch = LineBatch("s", "f", [line + b"\n", line + b"\r\n", line], [0, 80, 161], 240)
    result = build_parser("combined").parse_batch(batch)
    assert [r.user_agent for r in result.records] == ["ua", "ua", "ua"]


def test_unbalanced_quote_does_not_swallow_the_next_line() -> None:
    good = b'1.1.1.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua"'
    bad = b'1.1.1.2 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua'
    tail = b'x" "y"'
    batch = LineBatch("s", "f", [good, bad, tail, good], [0, 1, 2, 3], 4)
    result = build_parser("combined").parse_batch(batch)
    assert [r.offset for r in result.records] == [0, 3]
    assert [d.offset for d in result.dead_letters] == [1, 2]


def test_timestamp_cache_gives_right_times_for_repeated_and_new_seconds() -> None:
    parser = build_parser("combined")
    lines = [
        f'1.1.1.1 - - [31/Dec/2023:23:59:{s:02d} +0100] "GET / HTTP/1.1" 200 1 "-" "-"'.encode()
        for s in (58, 58, 59, 59, 0)
    ]
    lines[-1] = (
        lines[-1].replace(b"23:59:00", b"24:00:00").replace(b"31/Dec/2023:24", b"01/Jan/2024:00")
    )
    result = parser.parse_batch(LineBatch("s", "f", lines, list(range(5)), 5))
    times = [r.observed_at for r in result.records]
    assert times == [
        datetime(2023, 12, 31, 22, 59, 58, tzinfo=UTC),
        datetime(2023, 12, 31, 22, 59, 58, tzinfo=UTC),
        datetime(2023, 12, 31, 22, 59, 59, tzinfo=UTC),
        datetime(2023, 12, 31, 22, 59, 59, tzinfo=UTC),
        datetime(2023, 12, 31, 23, 0, 0, tzinfo=UTC),
    ]
    assert all(t is not None and t.tzinfo is UTC for t in times)
