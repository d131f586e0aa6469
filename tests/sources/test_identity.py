"""File identity: which bytes are fingerprinted, and that an id still names its file later."""

from __future__ import annotations

import os
from pathlib import Path

from vigil.sources.identity import FileIdentity, content_digest, fingerprint_span, stream_id

LIMIT = 64


def test_span_is_limit_when_enough_bytes() -> None:
    assert fingerprint_span(b"x" * 100, LIMIT) == LIMIT
    assert fingerprint_span(b"a\n" * 50, LIMIT) == LIMIT


def test_short_file_is_fingerprinted_up_to_its_last_newline() -> None:
    assert fingerprint_span(b"one\ntwo\nthr", LIMIT) == len(b"one\ntwo\n")


def test_short_file_without_newline_has_no_identity_until_complete() -> None:
    assert fingerprint_span(b"no newline yet", LIMIT) is None
    assert fingerprint_span(b"no newline yet", LIMIT, complete=True) == 14
    assert fingerprint_span(b"", LIMIT, complete=True) is None


def test_id_round_trips_and_rejects_other_strings() -> None:
    identity = FileIdentity.of(0xFE01, 123456, b"GET / HTTP/1.1\n", LIMIT)
    assert identity is not None
    assert FileIdentity.parse(identity.file_id) == identity
    assert FileIdentity.parse("stdin:10:0123456789abcdef") is None
    assert FileIdentity.parse("a:b:c:d") is None
    assert FileIdentity.parse("1:2:0:0123456789abcdef") is None


def test_id_of_a_short_file_still_verifies_after_it_grew(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"first line\n")
    st = os.stat(path)
    early = FileIdentity.of(st.st_dev, st.st_ino, path.read_bytes()[:LIMIT], LIMIT)
    assert early is not None
    with path.open("ab") as f:
        f.write(b"more lines\n" * 20)
    grown_head = path.read_bytes()[:LIMIT]
    assert early.verifies(grown_head)
    late = FileIdentity.of(st.st_dev, st.st_ino, grown_head, LIMIT)
    assert late is not None
    assert late.file_id != early.file_id  # why restarts look stored ids up instead of recomputing


def test_replaced_content_does_not_verify() -> None:
    identity = FileIdentity.of(1, 2, b"2024-01-01 first\n", LIMIT)
    assert identity is not None
    assert not identity.verifies(b"2024-06-01 other\n")
    assert not identity.verifies(b"2024-01")  # shorter than the fingerprinted span


def test_stream_id_depends_on_content_only() -> None:
    assert stream_id("stdin", b"abc\ndef\n", LIMIT) == stream_id("stdin", b"abc\ndef\n", LIMIT)
    assert stream_id("stdin", b"abc\n", LIMIT) != stream_id("stdin", b"abd\n", LIMIT)
    assert stream_id("stdin", b"abc\n", LIMIT).endswith(content_digest(b"abc\n"))
