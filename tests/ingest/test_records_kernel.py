"""The compiled fast path of `TemplateParser` (`_records.pyx`) against the generated Python loop.

Both parse the same batches; they must give equal records (of the same type, field by field)
and equal dead letters, whatever the lines hold: escapes, odd request lines, bad times, huge
numbers, invalid UTF-8, lines cut short or too long.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.batch import LineBatch, LogRecord
from vigil.ingest.formats import _records, template
from vigil.ingest.formats.base import ParseResult
from vigil.ingest.formats.presets import PRESETS
from vigil.ingest.formats.template import TemplateParser
from vigil.ingest.parser import build_parser

COMPILED_FORMATS = tuple(name for name in PRESETS if name != "json")
"""Every line-oriented preset: the compiled loop covers them all."""

TEMPLATE = b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET /p?q=1 HTTP/1.1" 200 12 "-" "ua"'
TRICKY = [
    TEMPLATE,
    b'203.0.113.9 - bob [10/Oct/2000:13:55:37 -0700] "POST /a/b HTTP/2.0" 404 - "r" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:37 -0700] "GET /x??y=1?z HTTP/1.1" 301 0 "-" "-"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:37 -0700] "GET / HTTP/1.0" 999 5 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:37 -0700] "GET /q? HTTP/1.1" 200 7 "-" "ua"\r',
    b'203.0.113.9 - - [99/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Foo/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:38 -0700] "GET / HTTP/1.1" 200 '
    + b"9" * 5000
    + b' "-" "u"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:38 -0700] "GET /\\x22 HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:38 -0700] "\\x16\\x03\\x01" 400 0 "-" "-"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:38 -0700] "-" 400 0 "-" "-"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:38 -0700] "GET /\xff\xfe HTTP/1.1" 200 1 "-" "\xc3"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:38 -0700] "GET / HTTP/1.1" 200 1 "-" "a"b"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:38 -0700] "GET / HTTP/1.1" 200 1 "-" "ua" "10.0.0.1"',
    b'vhost:80 203.0.113.9 - - [10/Oct/2000:13:55:39 -0700] "GET / HTTP/1.1" 200 1 "-" "ua"',
    TEMPLATE + b" 0.004",
    TEMPLATE + b" 1234567",
    TEMPLATE + b" -",
    TEMPLATE + b" 12.5.6",
    TEMPLATE + b" " + b"7" * 5000,
    TEMPLATE + b' "10.0.0.1, 10.0.0.2" trailing words',
    TEMPLATE + b' "-"',
    b"",
    b"   ",
    b"garbage",
    b"with\nnewline",
]


def _pair(spec: str) -> tuple[TemplateParser, TemplateParser]:
    compiled = build_parser(spec)
    reference = build_parser(spec)
    assert isinstance(compiled, TemplateParser)
    assert isinstance(reference, TemplateParser)
    reference._assemble = reference._python_assemble
    reference._split = None
    return compiled, reference


def _careful_offsets(parser: TemplateParser, lines: list[bytes]) -> list[int]:
    """Offsets of the lines `parser` sends the careful way (recorded by a wrapped `_careful`)."""
    sent: list[int] = []
    careful = parser._careful

    def recording(*args: Any, **kwargs: Any) -> None:
        sent.append(args[3])
        careful(*args, **kwargs)

    parser._careful = recording  # type: ignore[method-assign]
    offsets = [index * 1000 for index in range(len(lines))]
    parser.parse_batch(LineBatch("src", "file", lines, offsets, len(lines) * 1000))
    return sent


def _assert_same(spec: str, lines: list[bytes], oversized: frozenset[int] = frozenset()) -> None:
    compiled, reference = _pair(spec)
    # Both loops take the same lines the fast way, so neither hides behind the careful path.
    assert _careful_offsets(compiled, lines) == _careful_offsets(reference, lines)
    compiled, reference = _pair(spec)
    offsets = [index * 1000 for index in range(len(lines))]
    batch = LineBatch("src", "file", lines, offsets, len(lines) * 1000, oversized)
    got: ParseResult = compiled.parse_batch(batch)
    want: ParseResult = reference.parse_batch(batch)
    assert got.records == want.records
    assert [type(record) for record in got.records] == [LogRecord] * len(want.records)
    assert got.dead_letters == want.dead_letters


def test_the_compiled_loop_is_built_and_covers_the_presets() -> None:
    assert template._USE_RECORDS
    for spec in COMPILED_FORMATS:
        parser = build_parser(spec)
        assert isinstance(parser, TemplateParser)
        assert parser._assemble is not parser._python_assemble, spec
    # A target joined from path and query is left to the Python loop.
    joined = build_parser('%h [%t] "%m %U%q %H" %>s %b')
    assert isinstance(joined, TemplateParser)
    assert joined._assemble is joined._python_assemble


def test_plain_lines_are_built_by_the_compiled_loop_itself() -> None:
    compiled, _ = _pair("combined")
    plain = [TEMPLATE, *TRICKY[1:5]]
    assert _careful_offsets(compiled, plain) == []
    assert len(compiled.parse_batch(LineBatch("s", "f", plain, [0, 1, 2, 3, 4], 5)).records) == 5


@pytest.mark.parametrize(
    "lines",
    [[b""], [b"a", b"b"], [b"a", b"b\n"], [b"\n"], [b"x" * 100 + b"\n" + b"y"], TRICKY],
)
def test_has_newline_is_its_python_twin(lines: list[bytes]) -> None:
    assert _records.has_newline(lines) is template._has_newline_python(lines)


def test_has_newline_refuses_what_is_not_bytes() -> None:
    with pytest.raises(TypeError):
        _records.has_newline([b"a", "b"])  # type: ignore[list-item]


@pytest.mark.parametrize("spec", COMPILED_FORMATS)
def test_tricky_lines_give_what_the_python_loop_gives(spec: str) -> None:
    _assert_same(spec, TRICKY)
    _assert_same(spec, TRICKY, frozenset({0, 3}))
    compiled, _ = _pair(spec)
    compiled.chunk_lines = 2
    _assert_same(spec, TRICKY * 3)


def test_records_are_right_field_by_field() -> None:
    compiled, _ = _pair("combined")
    result = compiled.parse_batch(LineBatch("src", "file", TRICKY[:3], [0, 100, 200], 300))
    first, second, third = result.records
    assert (first.method, first.target, first.path, first.query) == ("GET", "/p?q=1", "/p", "q=1")
    assert (first.status, first.bytes_sent, first.user_agent, first.referer) == (200, 12, "ua", "")
    assert first.observed_at is not None and first.observed_at.isoformat() == (
        "2000-10-10T20:55:36+00:00"
    )
    assert first.raw == TEMPLATE.decode() and first.offset == 0 and not first.malformed
    assert (second.remote_user, second.bytes_sent, second.path, second.query) == (
        "bob",
        None,
        "/a/b",
        "",
    )
    assert (third.path, third.query, third.user_agent) == ("/x", "?y=1?z", "")


mutated_line = st.builds(
    lambda cut, insert: TEMPLATE[:cut] + insert + TEMPLATE[cut:],
    st.integers(0, len(TEMPLATE)),
    st.sampled_from([b"", b'"', b"\\", b"\\x22", b"\r", b"\xff", b" ", b"]", b"?", b"-", b"9"]),
)
suffixed_line = st.builds(
    lambda line, tail: line + tail,
    st.one_of(st.just(TEMPLATE), mutated_line),
    st.sampled_from([b"", b" 0.004", b" 12", b" -", b" 1.2.3", b' "x"', b" a b", b"\t9"]),
)
lines = st.lists(
    st.one_of(st.binary(max_size=200).filter(lambda b: b"\n" not in b), suffixed_line),
    min_size=1,
    max_size=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=lines, spec=st.sampled_from(COMPILED_FORMATS), oversized=st.sets(st.integers(0, 29)))
def test_any_lines_give_what_the_python_loop_gives(
    lines: list[bytes], spec: str, oversized: set[int]
) -> None:
    _assert_same(spec, lines, frozenset(i for i in oversized if i < len(lines)))


@pytest.mark.parametrize(
    ("spec", "tail", "request_time", "extra"),
    [
        ("nginx-combined-time", b" 0.004", 0.004, {}),
        ("nginx-combined-time", b" -", None, {}),
        ("apache-combined-time", b" 1234567", 1234567 / 1e6, {}),
        ("apache-combined-seconds", b" 2", 2.0, {}),
        ("combined-extra", b' "x" 7', None, {"trailing": '"x" 7'}),
    ],
)
def test_numbers_and_extra_fields_are_built_by_the_compiled_loop(
    spec: str, tail: bytes, request_time: float | None, extra: dict[str, str]
) -> None:
    compiled, _ = _pair(spec)
    assert _careful_offsets(compiled, [TEMPLATE + tail]) == []
    (record,) = compiled.parse_batch(LineBatch("s", "f", [TEMPLATE + tail], [0], 1)).records
    assert record.request_time == request_time
    assert dict(record.extra) == extra
    _assert_same(spec, [TEMPLATE + tail])


SPLIT_FORMATS = ("combined", "common", "apache-combined", "apache-common")
"""The presets `_records.Splitter` reads without the regular expression."""

SPLIT_TRICKY = [
    TEMPLATE,
    b'2a02:c7f:1224:839f::80b - - [10/Oct/2000:13:55:36 -0700] "GET /v6 HTTP/2.0" 200 1 "-" "-"',
    b'::1 - - [10/Oct/2000:13:55:36 -0700] "HEAD / HTTP/1.0" 204 - "-" "curl/8"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 - "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "get /lower HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "PROPFIND /dav HTTP/1.1" 207 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET /a"b HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET /a?b="c" HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "a \\"q\\" b"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "r\\"x" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET /\\"x HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua" "extra"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua" 0.004',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 -',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 -12',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 007',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 ' + b"9" * 18,
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 ' + b"9" * 19,
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 ' + b"9" * 19 + b' "-" "u"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 20x 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 2000 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "-" 400 0 "-" "-"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "" 400 0 "-" "-"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET /" 400 0 "-" "-"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET  / HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1 x" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/3" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1.1.." 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / http/1.1" 200 1 "-" "ua"',
    b'203.0.113.9\t- - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "a\tb"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET /\xc3\xa9 HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "\xff\xfe"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "caf\xc3\xa9"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "\x00\x01"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua"\r',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua" ',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-x" "-y"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "" ""',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "a b" "c] [d"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-" ',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36] "GET / HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - - [] "GET / HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700 "GET / HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:25:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - - 10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua"',
    b'- - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua"',
    b' - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua"',
    b'-x - -y [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - bob smith [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 identd bob [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9  bob [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET /p?q=1?r&s HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET ? HTTP/1.1" 200 1 "-" "ua"',
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "\\x16\\x03\\x01\\x00" 400 157 "-" "-"',
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
    b"\xff" * 300,
    b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET /' + b"a" * 70000 + b' HTTP/1.1" 200 1',
]


def _split_runs(spec: str, lines: list[bytes]) -> tuple[int, list[tuple[int, int]]]:
    """How many records the splitter makes of `lines`, and the runs it leaves to the regex."""
    parser = build_parser(spec)
    assert isinstance(parser, TemplateParser) and parser._split is not None
    runs: list[tuple[int, int]] = []
    records: list[LogRecord] = []
    offsets = list(range(len(lines)))
    parser._split(lines, offsets, "src", "file", records, lambda a, b: runs.append((a, b)))
    return len(records), runs


def test_the_splitter_reads_combined_and_common_only() -> None:
    for spec in COMPILED_FORMATS:
        parser = build_parser(spec)
        assert isinstance(parser, TemplateParser)
        assert (parser._split is not None) is (spec in SPLIT_FORMATS), spec
    # The same expression with other fields behind it (a host, an ISO time) is not combined.
    other = build_parser('$host - $remote_user [$time_iso8601] "$request" $status $bytes_sent')
    assert isinstance(other, TemplateParser) and other._split is None


def test_the_splitter_takes_plain_lines_and_leaves_the_rest_in_order() -> None:
    plain = [TEMPLATE, SPLIT_TRICKY[1], SPLIT_TRICKY[2], SPLIT_TRICKY[3]]
    assert _split_runs("combined", plain) == (4, [])
    odd = SPLIT_TRICKY[8]  # an escaped quote in the user agent
    assert _split_runs("combined", [odd, TEMPLATE, odd, odd, TEMPLATE, odd]) == (
        2,
        [(0, 1), (2, 4), (5, 6)],
    )
    common = TEMPLATE[: TEMPLATE.index(b' "-"')]
    assert _split_runs("common", [common, TEMPLATE]) == (1, [(1, 2)])
    apache = TEMPLATE.replace(b" - - ", b" identd bob ")
    assert _split_runs("apache-combined", [apache, TEMPLATE]) == (2, [])
    assert _split_runs("combined", [apache]) == (0, [(0, 1)])


@pytest.mark.parametrize("spec", SPLIT_FORMATS)
def test_the_splitter_gives_what_the_regex_gives(spec: str) -> None:
    common = [line.rsplit(b' "', 2)[0] for line in SPLIT_TRICKY]
    lines = SPLIT_TRICKY + common + [line.replace(b" - - ", b" x - ") for line in common]
    for chunk in (lines, lines[::-1], lines * 2):
        _assert_same(spec, chunk)
        _assert_same(spec, chunk, frozenset({0, 5, 9}))
        with_regex = build_parser(spec)
        assert isinstance(with_regex, TemplateParser)
        with_regex._split = None
        batch = LineBatch("s", "f", chunk, list(range(len(chunk))), len(chunk))
        got, want = build_parser(spec).parse_batch(batch), with_regex.parse_batch(batch)
        assert got.records == want.records and got.dead_letters == want.dead_letters


def test_the_splitter_fills_every_field() -> None:
    line = (
        b'2001:db8::1 - alice [10/Oct/2000:13:55:36 -0700] "PATCH /a/b?x=1&y HTTP/2.0" 201 '
        b'345 "https://r.example/p" "Agent/1.0 (X)"'
    )
    (record,) = build_parser("combined").parse_batch(LineBatch("s", "f", [line], [7], 9)).records
    assert record == LogRecord(
        "s",
        "f",
        7,
        "2001:db8::1",
        record.observed_at,
        "PATCH",
        "/a/b?x=1&y",
        "/a/b",
        "x=1&y",
        "HTTP/2.0",
        201,
        345,
        "https://r.example/p",
        "Agent/1.0 (X)",
        "alice",
        raw=line.decode(),
    )
    assert record.observed_at is not None
    assert record.observed_at.isoformat() == "2000-10-10T20:55:36+00:00"
    (dash,) = (
        build_parser("apache-common")
        .parse_batch(LineBatch("s", "f", [SPLIT_TRICKY[3].rsplit(b' "', 2)[0]], [0], 1))
        .records
    )
    assert (dash.client_ip, dash.bytes_sent, dash.referer, dash.user_agent) == (
        "203.0.113.9",
        0,
        "",
        "",
    )


_printable = st.sampled_from(
    [b"-", b"", b" ", b'"', b"\\", b'\\"', b"[", b"]", b"?", b"\t", b"\xc3\xa9", b"\xff", b"9"]
)
_word = st.one_of(
    st.text("abcXYZ019.:/-?=&", min_size=0, max_size=8).map(str.encode),
    _printable,
)


def _combined_line(*parts: bytes) -> bytes:
    """A combined line of ip, user, time, method, target, protocol, status, bytes, referer,
    agent and what follows the line."""
    ip, user, time, method, target, proto, status, size, ref, ua, tail = parts
    head = [ip, b" - ", user, b" [", time, b'] "', method, b" ", target, b" ", proto]
    return b"".join([*head, b'" ', status, b" ", size, b' "', ref, b'" "', ua, b'"', tail])


structured_line = st.builds(
    _combined_line,
    st.one_of(st.sampled_from([b"203.0.113.9", b"::1", b"-"]), _word),
    st.one_of(st.just(b"-"), _word),
    st.one_of(
        st.sampled_from([b"10/Oct/2000:13:55:36 -0700", b"10/Oct/2000:13:55:37 -0700"]), _word
    ),
    st.one_of(st.sampled_from([b"GET", b"POST", b"HEAD", b"DELETE", b"-"]), _word),
    st.one_of(st.sampled_from([b"/", b"/a?b=1", b'/x"y']), _word),
    st.one_of(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/9"]), _word),
    st.one_of(st.sampled_from([b"200", b"404", b"999"]), _word),
    st.one_of(st.sampled_from([b"0", b"-", b"123", b"9" * 19]), _word),
    st.one_of(st.just(b"-"), _word),
    st.one_of(st.just(b"Mozilla/5.0 (X)"), _word),
    st.sampled_from([b"", b" ", b' "x"', b"\r", b" 0.1"]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(st.one_of(structured_line, suffixed_line), min_size=1, max_size=20),
    spec=st.sampled_from(SPLIT_FORMATS),
)
def test_any_shaped_lines_give_what_the_regex_gives(lines: list[bytes], spec: str) -> None:
    common = [line.rsplit(b' "', 2)[0] for line in lines]
    _assert_same(spec, lines + common)


def test_every_byte_anywhere_in_a_word_gives_what_the_regex_gives() -> None:
    # The splitter checks lines eight bytes at a time: put each byte value at each place of
    # a word, in the target and in the user agent.
    line = TEMPLATE.replace(b"/p?q=1", b"/path/to?q=1").replace(b'"ua"', b'"agent/1.0 (long)"')
    starts = (line.index(b"/path"), line.index(b"agent/"))
    lines = [
        line[: start + place] + bytes([value]) + line[start + place :]
        for start in starts
        for value in range(256)
        for place in range(9)
        if value != 10
    ]
    _assert_same("combined", lines)
    taken, _ = _split_runs("combined", lines)
    assert taken > 0


def test_an_escape_anywhere_in_lines_of_any_length_goes_the_regex_way() -> None:
    # `\x41` is `A` once the careful path decodes it: the splitter must leave every such line
    # to it, wherever the escape falls (in a whole word or in the last bytes of the line).
    lines = []
    for pad in range(8):
        line = TEMPLATE.replace(b'"ua"', b'"ua' + b"u" * pad + b'"')
        lines += [line[:place] + b"\\x41" + line[place:] for place in range(len(line) + 1)]
    _assert_same("combined", lines)
    assert _split_runs("combined", lines) == (0, [(0, len(lines))])
