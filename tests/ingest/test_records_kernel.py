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
