"""Parse JSON-lines access logs (nginx `escape=json` and any other) through a field mapping.

The mapping names, for each vigil field, the JSON key that holds it; dotted keys
(`http.request.method`) reach into nested objects. Without a mapping, the key names nginx
users conventionally give their JSON formats are tried in order. Keys the mapping does not
use are kept in `LogRecord.extra`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from vigil.batch import DeadLetter, LineBatch, LogRecord
from vigil.errors import FormatError
from vigil.ingest.formats.base import (
    TRUNCATED_REASON,
    BatchParser,
    ParseResult,
    build_record,
    line_problem,
)
from vigil.ingest.formats.clientip import ClientIpResolver
from vigil.ingest.formats.request_line import origin_form
from vigil.ingest.formats.timestamps import TimestampCache, parse_any

DEFAULT_KEYS: dict[str, tuple[str, ...]] = {
    "client_ip": ("remote_addr", "client_ip", "clientip", "remote_ip", "ip"),
    "observed_at": ("time_iso8601", "time_local", "timestamp", "@timestamp", "time", "msec"),
    "request": ("request",),
    "method": ("request_method", "method"),
    "target": ("request_uri",),
    "path": ("uri", "path"),
    "query": ("args", "query_string", "query"),
    "protocol": ("server_protocol", "protocol"),
    "status": ("status", "status_code"),
    "bytes_sent": ("body_bytes_sent", "bytes_sent", "bytes"),
    "referer": ("http_referer", "referer", "referrer"),
    "user_agent": ("http_user_agent", "user_agent", "agent"),
    "remote_user": ("remote_user",),
    "host": ("host", "http_host", "server_name"),
    "request_time": ("request_time", "duration"),
    "forwarded_for": ("http_x_forwarded_for", "x_forwarded_for"),
}
"""Keys tried, in order, for each vigil field when no mapping is given."""

FIELD_ALIASES = {
    "time": "observed_at",
    "timestamp": "observed_at",
    "ip": "client_ip",
    "xff": "forwarded_for",
    "x_forwarded_for": "forwarded_for",
    "uri": "target",
    "agent": "user_agent",
    "bytes": "bytes_sent",
}
"""Friendlier names accepted in a mapping for some vigil fields."""

_INT_FIELDS = ("status", "bytes_sent")
_MISSING = object()


def normalize_mapping(fields: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """A user mapping (vigil field -> JSON key) checked against the known field names."""
    mapping: dict[str, tuple[str, ...]] = {}
    for name, key in fields.items():
        field = FIELD_ALIASES.get(name, name)
        if field not in DEFAULT_KEYS:
            valid = ", ".join(sorted({*DEFAULT_KEYS, *FIELD_ALIASES}))
            raise FormatError(
                f"unknown field {name!r} in the JSON field mapping; use one of: {valid}"
            )
        if not isinstance(key, str) or not key:
            raise FormatError(f"the JSON key for {name!r} must be a non-empty string")
        mapping[field] = (key,)
    return mapping


def _lookup(obj: dict[str, Any], key: str) -> Any:
    if key in obj:
        return obj[key]
    if "." in key:
        current: Any = obj
        for part in key.split("."):
            if not isinstance(current, dict) or part not in current:
                return _MISSING
            current = current[part]
        return current
    return _MISSING


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return orjson.dumps(value).decode()


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _as_seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class JsonParser(BatchParser):
    """A parser for JSON-lines logs: one JSON object per line."""

    def __init__(
        self,
        name: str = "json",
        description: str = "JSON lines (nginx escape=json)",
        *,
        fields: Mapping[str, str] | None = None,
        use_defaults: bool = True,
        resolver: ClientIpResolver | None = None,
        max_line_bytes: int | None = None,
    ) -> None:
        self.name = name
        self.description = description
        mapping: dict[str, tuple[str, ...]] = dict(DEFAULT_KEYS) if use_defaults else {}
        if fields:
            mapping.update(normalize_mapping(fields))
        self._mapping: Sequence[tuple[str, tuple[str, ...]]] = tuple(mapping.items())
        self._resolver = resolver or ClientIpResolver()
        self._max_line_bytes = max_line_bytes
        self._times = TimestampCache(parse_any)

    def describe(self) -> str:
        return self.description

    def parse_batch(self, batch: LineBatch) -> ParseResult:
        """Parse every line of `batch` into a record or a dead letter."""
        result = ParseResult()
        records = result.records
        dead = result.dead_letters
        source, file_id = batch.source, batch.file_id
        truncated = batch.oversized
        for index, (raw, offset) in enumerate(zip(batch.lines, batch.offsets, strict=True)):
            if truncated and index in truncated:
                dead.append(DeadLetter(source, file_id, offset, raw, TRUNCATED_REASON))
                continue
            outcome = self._parse_one(source, file_id, raw, offset)
            if isinstance(outcome, LogRecord):
                records.append(outcome)
            else:
                dead.append(DeadLetter(source, file_id, offset, raw, outcome))
        origin_form(records)
        return result

    def _parse_one(self, source: str, file_id: str, raw: bytes, offset: int) -> LogRecord | str:
        line, problem = line_problem(raw, self._max_line_bytes)
        if problem is not None:
            return problem
        text = line.decode("utf-8", "replace")
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return f"not JSON: {exc}"
        if not isinstance(obj, dict):
            return "not a JSON object"
        values: dict[str, object] = {}
        used: set[str] = set()
        for field, keys in self._mapping:
            for key in keys:
                value = _lookup(obj, key)
                if value is not _MISSING:
                    used.add(key.partition(".")[0] if key not in obj else key)
                    values[field] = value
                    break
        if not values:
            return "JSON object has none of the access-log fields"
        converted: dict[str, object] = {}
        for field, value in values.items():
            if field in _INT_FIELDS:
                converted[field] = _as_int(value)
            elif field == "request_time":
                converted[field] = _as_seconds(value)
            elif field == "observed_at":
                try:
                    converted[field] = self._time(value)
                except (ValueError, OverflowError, OSError) as exc:
                    return f"bad time value {_as_text(value)[:80]!r}: {exc}"
            else:
                text_value = _as_text(value)
                converted[field] = "" if text_value == "-" else text_value
        if (
            "request" in converted
            and not converted["request"]
            and ("method" in converted or "target" in converted or "path" in converted)
        ):
            del converted["request"]
        extra = {key: _as_text(value) for key, value in obj.items() if key not in used}
        return build_record(source, file_id, offset, converted, extra, text, self._resolver)

    def _time(self, value: Any) -> datetime:
        if isinstance(value, str):
            return self._times.lookup(value) or self._times.miss(value)
        return parse_any(value)
