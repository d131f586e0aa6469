"""What every log parser offers, the result of parsing a batch, and the slow-path record builder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from vigil.batch import DeadLetter, LineBatch, LogRecord
from vigil.ingest.formats.clientip import ClientIpResolver
from vigil.ingest.formats.request_line import split_request, split_target

SLOTS = (
    "client_ip",
    "observed_at",
    "method",
    "target",
    "path",
    "query",
    "protocol",
    "status",
    "bytes_sent",
    "referer",
    "user_agent",
    "remote_user",
    "host",
    "request_time",
    "forwarded_for",
)
"""The `LogRecord` fields a log format can fill; `request` fills method to protocol at once."""


TRUNCATED_REASON = "line longer than the source's max_line_bytes; only its start was read"


@dataclass(slots=True)
class ParseResult:
    """The records and dead letters made from one batch; together they account for every line."""

    records: list[LogRecord] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records) + len(self.dead_letters)


@runtime_checkable
class LogParser(Protocol):
    """Turns batches of raw lines into records; every line becomes a record or a dead letter."""

    name: str

    def parse_batch(self, batch: LineBatch) -> ParseResult:
        """Parse every line of `batch`, keeping its origin on each result."""
        ...

    def describe(self) -> str:
        """A short human description, e.g. `nginx/Apache combined`."""
        ...

    def parse_line(
        self, line: str | bytes, *, source: str = "-", file_id: str = "-", offset: int = 0
    ) -> LogRecord | DeadLetter:
        """Parse one line (without its newline)."""
        ...


class BatchParser:
    """Shared convenience for parsers that implement `parse_batch`."""

    name: str = ""

    def parse_batch(self, batch: LineBatch) -> ParseResult:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name

    def parse_line(
        self, line: str | bytes, *, source: str = "-", file_id: str = "-", offset: int = 0
    ) -> LogRecord | DeadLetter:
        """Parse one line (without its newline) into a record or a dead letter."""
        data = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
        batch = LineBatch(source, file_id, [data], [offset], offset + len(data) + 1)
        result = self.parse_batch(batch)
        if result.records:
            return result.records[0]
        return result.dead_letters[0]


def strip_line_end(line: bytes) -> bytes:
    """The line without a trailing newline or CRLF, if the reader left one on."""
    if line.endswith(b"\n"):
        line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line


def line_problem(raw: bytes, limit: int | None) -> tuple[bytes, str | None]:
    """The line without its end, and why it cannot be parsed at all (empty, too long), if so."""
    line = strip_line_end(raw)
    if not line.strip():
        return line, "empty line"
    if limit is not None and len(line) > limit:
        return line, f"line of {len(line)} bytes is longer than the limit of {limit}"
    return line, None


def text_or_empty(value: str) -> str:
    """`-` is how servers log an absent value."""
    return "" if value == "-" else value


def build_record(
    batch_source: str,
    file_id: str,
    offset: int,
    values: Mapping[str, object],
    extra: dict[str, str],
    raw: str,
    resolver: ClientIpResolver,
) -> LogRecord:
    """A record from slot values gathered by a slow path (template fallback or JSON).

    `values` holds already converted slot values; `request` (a whole request line) wins over
    separate method/target/path/query/protocol values.
    """
    request = values.get("request")
    malformed = False
    if isinstance(request, str):
        method, target, path, query, protocol, malformed = split_request(request)
    else:
        method = _text(values.get("method"))
        target = _text(values.get("target"))
        path = _text(values.get("path"))
        query = _text(values.get("query"))
        protocol = _text(values.get("protocol"))
        query = query.removeprefix("?")
        if target and not path:
            path, split_query = split_target(target)
            query = query or split_query
        elif path and not target:
            target = f"{path}?{query}" if query else path
    peer = _text(values.get("client_ip"))
    forwarded_for = _text(values.get("forwarded_for"))
    client_ip = resolver.resolve(peer, forwarded_for) if resolver.active else peer
    observed = values.get("observed_at")
    status = values.get("status")
    bytes_sent = values.get("bytes_sent")
    request_time = values.get("request_time")
    return LogRecord(
        batch_source,
        file_id,
        offset,
        client_ip,
        observed if isinstance(observed, datetime) else None,
        method,
        target,
        path,
        query,
        protocol,
        status if isinstance(status, int) else None,
        bytes_sent if isinstance(bytes_sent, int) else None,
        _text(values.get("referer")),
        _text(values.get("user_agent")),
        _text(values.get("remote_user")),
        _text(values.get("host")),
        float(request_time) if isinstance(request_time, int | float) else None,
        forwarded_for,
        malformed,
        raw,
        extra,
    )


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)
