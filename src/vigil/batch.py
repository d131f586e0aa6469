"""The units that move between ingestion stages: raw line batches, parsed records, dead letters.

Every record carries its origin (source, file identity, byte offset) so that an event id can be
derived from it and a restart can resume exactly where the last committed batch ended.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple


@dataclass(slots=True)
class LineBatch:
    """Complete lines read from one source, in order, with their byte offsets.

    `end_offset` is the offset just after the last line: once this batch is stored, it is the
    checkpoint from which the source resumes. Lines come without their `\n` and are otherwise
    raw bytes (a `\r` is kept). `oversized` holds the indexes of lines that were longer than
    the source's `max_line_bytes`: only their first `max_line_bytes` bytes are kept, and the
    parser must dead-letter them rather than parse a truncated request.
    """

    source: str
    file_id: str
    lines: list[bytes]
    offsets: list[int]
    end_offset: int
    oversized: frozenset[int] = frozenset()

    def __len__(self) -> int:
        return len(self.lines)


def event_key(source: str, file_id: str, offset: int) -> str:
    """Stable id of the event made from the line at `offset` of `file_id` in `source`."""
    digest = hashlib.blake2b(f"{source}\x00{file_id}\x00{offset}".encode(), digest_size=16)
    return digest.hexdigest()


class _NoExtra(Mapping[str, str]):
    """An empty mapping that cannot change and survives pickling and copying as itself."""

    __slots__ = ()

    def __getitem__(self, key: str) -> str:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"

    def __reduce__(self) -> str:
        return "EMPTY_EXTRA"


EMPTY_EXTRA: Mapping[str, str] = _NoExtra()
"""The `extra` of a record whose format has no other fields; shared, so it cannot change."""


class LogRecord(NamedTuple):
    """One parsed access-log line.

    `malformed` marks a request line that is not HTTP (a TLS handshake, binary junk, `-`):
    such records are signals for detection, not parse errors.

    A record is an immutable named tuple: parsers build a batch of them in C (`tuple.__new__`
    over zipped columns), which costs a fraction of calling a Python `__init__` per line, and
    fields are read through C descriptors. Use `_replace` for a changed copy.
    """

    source: str
    file_id: str
    offset: int
    client_ip: str
    observed_at: datetime | None
    method: str
    target: str
    path: str
    query: str
    protocol: str
    status: int | None
    bytes_sent: int | None
    referer: str
    user_agent: str
    remote_user: str = ""
    host: str = ""
    request_time: float | None = None
    forwarded_for: str = ""
    malformed: bool = False
    raw: str = ""
    extra: Mapping[str, str] = EMPTY_EXTRA

    @property
    def event_key(self) -> str:
        return event_key(self.source, self.file_id, self.offset)


@dataclass(slots=True)
class DeadLetter:
    """A line that matched no known format; kept with its origin and why it was rejected."""

    source: str
    file_id: str
    offset: int
    raw: bytes
    reason: str
