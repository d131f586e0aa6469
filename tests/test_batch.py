"""Records are immutable named tuples that survive pickling and copying unchanged."""

from __future__ import annotations

import copy
import pickle

import pytest

from vigil.batch import EMPTY_EXTRA, LogRecord
from vigil.ingest.parser import parse_line

LINE = (
    '203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /a?b=1 HTTP/1.1" 200 512 '
    '"https://example.com/" "Mozilla/5.0"'
)


def _record() -> LogRecord:
    record = parse_line(LINE, "combined")
    assert isinstance(record, LogRecord)
    return record


def test_a_parsed_record_pickles_and_copies_to_an_equal_record() -> None:
    record = _record()
    restored = pickle.loads(pickle.dumps(record))
    assert restored == record
    assert restored.extra is EMPTY_EXTRA
    assert copy.deepcopy(record) == record


def test_records_cannot_be_changed_in_place() -> None:
    record = _record()
    with pytest.raises(AttributeError):
        record.client_ip = "198.51.100.1"  # type: ignore[misc]
    with pytest.raises(TypeError):
        record.extra["x"] = "y"  # type: ignore[index]
    changed = record._replace(client_ip="198.51.100.1")
    assert changed.client_ip == "198.51.100.1"
    assert record.client_ip == "203.0.113.9"


def test_no_extra_fields_reads_as_an_empty_mapping() -> None:
    record = _record()
    assert record.extra == {}
    assert dict(record.extra) == {}
    assert "anything" not in record.extra
    assert record.path == "/a"
    assert record.query == "b=1"
