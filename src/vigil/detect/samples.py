"""Log records from hand-written samples: bare request lines or combined-format log lines.

Rule examples and ``vigil rules explain`` take text a person typed; this module turns it into a
`LogRecord` without needing the full format registry of `vigil.ingest`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from vigil.batch import LogRecord
from vigil.ingest.formats.request_line import with_origin_path

_COMBINED = re.compile(
    r'^(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" '
    r"(?P<status>\d{3}|-) (?P<bytes>\d+|-)"
    r'(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)")?'
)
_REQUEST = re.compile(r"^(?P<method>[A-Za-z][A-Za-z_-]*) (?P<target>\S+)(?: (?P<protocol>\S+))?$")
_TIME_FORMAT = "%d/%b/%Y:%H:%M:%S %z"


def split_target(target: str) -> tuple[str, str]:
    """(path, query) of a request target as the log parsers split it: an absolute-form
    target (``http://host/x``, what proxies are sent) keeps its scheme and host in the path;
    `record_from_request` then reads one that names this server as its path, as the parsers do."""
    path, _, query = target.partition("?")
    if "#" in query:
        query = query.split("#", 1)[0]
    return path, query


def header_fields(headers: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Record fields for request headers given by name, as a log format would record them:
    X-Forwarded-For and Host in their own fields, the rest in `extra` as ``http_<name>``."""
    extra: dict[str, str] = {}
    out: dict[str, Any] = {}
    for name, value in headers:
        key = name.lower().replace("-", "_")
        if key == "x_forwarded_for":
            out["forwarded_for"] = value
        elif key == "host":
            out["host"] = value
        else:
            extra[f"http_{key}"] = value
    if extra:
        out["extra"] = extra
    return out


def record_from_request(
    request: str,
    *,
    user_agent: str = "",
    referer: str = "",
    client_ip: str = "192.0.2.10",
    status: int | None = 200,
    observed_at: datetime | None = None,
    offset: int = 0,
    headers: Iterable[tuple[str, str]] = (),
) -> LogRecord:
    """A record for one request line such as ``GET /x?id=1 HTTP/1.1``.

    Text that is not a request line becomes a malformed record carrying it as its target.
    `headers` are further request headers (cookie, x-forwarded-for, host, ...).
    """
    found = _REQUEST.match(request)
    more = header_fields(headers)
    if found is None:
        return LogRecord(
            source="sample", file_id="sample", offset=offset, client_ip=client_ip,
            observed_at=observed_at, method="", target=request, path="", query="",
            protocol="", status=status, bytes_sent=None, referer=referer,
            user_agent=user_agent, malformed=True, raw=request, **more,
        )  # fmt: skip
    target = found["target"]
    path, query = split_target(target)
    return with_origin_path(
        LogRecord(
            source="sample", file_id="sample", offset=offset, client_ip=client_ip,
            observed_at=observed_at, method=found["method"], target=target, path=path,
            query=query, protocol=found["protocol"] or "", status=status, bytes_sent=None,
            referer=referer, user_agent=user_agent, raw=request, **more,
        )
    )  # fmt: skip


def _unescape(text: str | None) -> str:
    if not text or text == "-":
        return ""
    return text.replace('\\"', '"').replace("\\\\", "\\")


def record_from_log_line(line: str, offset: int = 0) -> LogRecord | None:
    """A record for one combined/common-format access-log line, or None if it is not one."""
    found = _COMBINED.match(line.rstrip("\r\n"))
    if found is None:
        return None
    try:
        observed: datetime | None = datetime.strptime(found["time"], _TIME_FORMAT)
    except ValueError:
        observed = None
    status = int(found["status"]) if found["status"] != "-" else None
    record = record_from_request(
        _unescape(found["request"]),
        user_agent=_unescape(found["agent"]),
        referer=_unescape(found["referer"]),
        client_ip=found["ip"],
        status=status,
        observed_at=observed,
        offset=offset,
    )
    return record._replace(
        raw=line,
        remote_user="" if found["user"] == "-" else found["user"],
        bytes_sent=int(found["bytes"]) if found["bytes"] != "-" else None,
    )


def record_from_text(
    text: str,
    *,
    user_agent: str = "",
    referer: str = "",
    client_ip: str = "192.0.2.10",
    headers: Iterable[tuple[str, str]] = (),
    status: int | None = None,
) -> LogRecord:
    """A record for a log line if `text` is one, else for a request line with these headers.

    `status` overrides the logged status (a request line alone is answered 200 otherwise).
    """
    record = record_from_log_line(text)
    if record is None:
        record = record_from_request(
            text.strip(), user_agent=user_agent, referer=referer, client_ip=client_ip
        )
    more = header_fields(headers)
    if status is not None:
        more["status"] = status
    # The headers (a Host among them) decide whether a whole-URL target names this server.
    return with_origin_path(record._replace(**more) if more else record)
