"""The units that move through the pipeline: raw line batches, parsed records, dead letters,
and the scored batches (threats, per-line results, counters) that sinks consume.

Every record carries its origin (source, file identity, byte offset) so that an event id can be
derived from it and a restart can resume exactly where the last committed batch ended.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from vigil.severity import Severity


@dataclass(slots=True)
class LineBatch:
    """Complete lines read from one source, in order, with their byte offsets.

    `end_offset` is the offset just after the last line: once this batch is stored, it is the
    checkpoint from which the source resumes. Lines come without their `\n` and are otherwise
    raw bytes (a `\r` is kept). `oversized` holds the indexes of lines that were longer than
    the source's `max_line_bytes`: only their first `max_line_bytes` bytes are kept, and the
    parser must dead-letter them rather than parse a truncated request. `site` is set by a
    source whose batches belong to different sites (HTTP ingest, a cluster's partition stream);
    None means the site the source was added with (or the pipeline's).
    """

    source: str
    file_id: str
    lines: list[bytes]
    offsets: list[int]
    end_offset: int
    oversized: frozenset[int] = frozenset()
    site: str | None = None

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


@dataclass(slots=True)
class Threat:
    """A MEDIUM or HIGH finding about one line, ready to be stored and published."""

    key: str
    record: LogRecord
    score: float
    severity: Severity
    categories: list[str]
    matches: list[dict[str, Any]]
    components: dict[str, Any]
    detection_mode: str
    model_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The threat as one flat JSON object (what `vigil scan -o jsonl` prints)."""
        record = self.record
        return {
            "observed_at": record.observed_at.isoformat() if record.observed_at else None,
            "client_ip": record.client_ip,
            "method": record.method,
            "path": record.path,
            "query": record.query,
            "status": record.status,
            "user_agent": record.user_agent,
            "score": self.score,
            "severity": self.severity,
            "categories": self.categories,
            "rules": [m["rule_id"] for m in self.matches],
            "source": record.source,
            "offset": record.offset,
        }


@dataclass(slots=True)
class LineResult:
    """Per input line, in input order: what `--jsonl-all` prints."""

    line: int
    score: float
    severity: Severity
    rules: list[str]
    categories: list[str]
    client_ip: str = ""
    dead_letter: str | None = None


@dataclass(slots=True)
class StoreResult:
    """What the store made of one (merged) batch, for the sinks after it: the events new to the
    database, as published (with their ids and incidents), and the block decisions taken."""

    skipped: bool
    events: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    stored: int = 0
    """Events new to the database (also when `events` is left empty: a store that publishes
    to nobody builds no messages)."""
    incident_ids: set[int] = field(default_factory=set)


@dataclass(slots=True)
class ScoredBatch:
    """The outcome of one batch: threats to store, dead letters, counters, the checkpoint.

    `stored` is set by the store sink once the batch is committed (None where nothing stores).
    """

    source: str
    file_id: str
    end_offset: int
    site: str
    lines: int
    records: int
    malformed: int
    threats: list[Threat]
    dead_letters: list[DeadLetter]
    counters: dict[datetime, Counter[str]]
    """Traffic counters per minute (UTC): requests, low/medium/high, malformed, dead_letters,
    bytes_sent, status_2xx … status_5xx and status_other."""
    visitors: dict[datetime, set[str]] = field(default_factory=dict)
    """The distinct clients per hour (UTC) of every request of the batch."""
    results: list[LineResult] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    read_at: float = 0.0
    stored: StoreResult | None = None

    @property
    def origin(self) -> tuple[str, str, str]:
        """Source, file and site: batches that share it may be stored together."""
        return self.source, self.file_id, self.site


def merge_scored(batches: Sequence[ScoredBatch]) -> ScoredBatch:
    """Consecutive scored batches of one source file as one, to be stored in one transaction.

    The merged batch ends where the last one ends, so its checkpoint covers all of them.
    Per-line results are not carried over: they are consumed before batches are stored.
    """
    first = batches[0]
    if len(batches) == 1:
        return first
    counters: dict[datetime, Counter[str]] = {}
    for batch in batches:
        if batch.origin != first.origin:
            raise ValueError("only batches of one source file and site can be merged")
        for bucket, counts in batch.counters.items():
            merged = counters.get(bucket)
            if merged is None:
                counters[bucket] = Counter(counts)
            else:
                merged.update(counts)
    visitors: dict[datetime, set[str]] = {}
    for batch in batches:
        for hour, ips in batch.visitors.items():
            visitors.setdefault(hour, set()).update(ips)
    read_times = [batch.read_at for batch in batches if batch.read_at]
    return ScoredBatch(
        source=first.source,
        file_id=first.file_id,
        end_offset=batches[-1].end_offset,
        site=first.site,
        lines=sum(batch.lines for batch in batches),
        records=sum(batch.records for batch in batches),
        malformed=sum(batch.malformed for batch in batches),
        threats=[threat for batch in batches for threat in batch.threats],
        dead_letters=[dead for batch in batches for dead in batch.dead_letters],
        counters=counters,
        visitors=visitors,
        read_at=min(read_times) if read_times else 0.0,
    )


def hour_bucket(moment: datetime | None) -> datetime:
    moment = moment or datetime.now(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def minute_bucket(moment: datetime | None) -> datetime:
    """The start of the minute of `moment` (now if None), in UTC."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.replace(second=0, microsecond=0)
