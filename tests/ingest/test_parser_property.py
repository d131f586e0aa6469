"""Whatever bytes arrive, every line becomes exactly one record or one dead letter, with its
offset, and the parser never raises."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.batch import LineBatch
from vigil.ingest.formats.template import TemplateParser
from vigil.ingest.parser import LogParser, build_parser

PARSERS: dict[str, LogParser] = {
    spec: build_parser(spec)
    for spec in (
        "combined",
        "apache-combined-time",
        "json",
        '$remote_addr [$time_local] "$request" $status$request_time "$http_user_agent"',
        '%h %{sec}t "%r" %>s %b %U%q',
    )
}

# Batches are matched in chunks; tiny chunks put chunk edges everywhere.
_chunked = build_parser("combined")
assert isinstance(_chunked, TemplateParser)
_chunked.chunk_lines = 3
PARSERS["combined in chunks of 3"] = _chunked

TEMPLATE = b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET /p?q=1 HTTP/1.1" 200 12 "-" "ua"'

any_line = st.binary(max_size=300).filter(lambda b: b"\n" not in b)
# Lines close to a real one find the corners random bytes rarely reach.
mutated_line = st.builds(
    lambda cut, insert: TEMPLATE[:cut] + insert + TEMPLATE[cut:],
    st.integers(0, len(TEMPLATE)),
    st.sampled_from(
        [
            b"",
            b'"',
            b"\\",
            b"\\x",
            b"\\x2",
            b"\\x22",
            b"\r",
            b"\x00",
            b"\xff",
            b" ",
            b"[",
            b"]",
            b"?",
            b"-",
            b"\xc3",
            b"\\u00",
            b"{",
            b"}",
        ]
    ),
)
lines = st.lists(st.one_of(any_line, mutated_line, st.just(TEMPLATE)), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=lines, spec=st.sampled_from(sorted(PARSERS)), oversized=st.sets(st.integers(0, 39)))
def test_every_line_is_accounted_for(lines: list[bytes], spec: str, oversized: set[int]) -> None:
    offsets = [i * 1000 for i in range(len(lines))]
    cut = frozenset(i for i in oversized if i < len(lines))
    batch = LineBatch("src", "file", lines, offsets, len(lines) * 1000, cut)
    result = PARSERS[spec].parse_batch(batch)
    seen = sorted([r.offset for r in result.records] + [d.offset for d in result.dead_letters])
    assert seen == offsets
    for dead in result.dead_letters:
        assert dead.raw == lines[dead.offset // 1000]
        assert dead.reason
    for record in result.records:
        assert (record.source, record.file_id) == ("src", "file")
        assert record.offset // 1000 not in cut
        assert record.observed_at is None or record.observed_at.utcoffset() is not None


@settings(max_examples=100, deadline=None)
@given(lines=lines)
def test_auto_accounts_for_every_line(lines: list[bytes]) -> None:
    parser = build_parser("auto")
    offsets = list(range(len(lines)))
    result = parser.parse_batch(LineBatch("s", "f", lines, offsets, len(lines)))
    seen = sorted([r.offset for r in result.records] + [d.offset for d in result.dead_letters])
    assert seen == offsets


@settings(max_examples=100, deadline=None)
@given(line=st.one_of(any_line, mutated_line))
def test_a_line_alone_and_in_a_batch_give_the_same_result(line: bytes) -> None:
    parser = PARSERS["combined"]
    alone = parser.parse_line(line)
    batch = LineBatch("-", "-", [TEMPLATE, line, TEMPLATE], [1, 0, 2], 3)
    result = parser.parse_batch(batch)
    together = [r for r in result.records if r.offset == 0] or [
        d for d in result.dead_letters if d.offset == 0
    ]
    assert together == [alone]
