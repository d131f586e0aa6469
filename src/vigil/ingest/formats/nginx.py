"""Compile an nginx `log_format` string into the fields of a log format.

Accepts the format string alone (`$remote_addr - $remote_user [$time_local] ...`) or a whole
`log_format name [escape=...] '...' '...';` directive pasted from nginx.conf. Variables vigil
knows fill record fields; any other variable is kept in `LogRecord.extra` under its name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vigil.errors import FormatError
from vigil.ingest.formats.fields import (
    EXTRA,
    IGNORE,
    INT,
    IP,
    IS_ARGS,
    REQUEST,
    REQUEST_LINE,
    SECONDS,
    STATUS,
    TEXT,
    TIME_CLF,
    TIME_EPOCH,
    TIME_ISO,
    UPSTREAM,
    FieldSpec,
    Kind,
    Token,
)

_VARIABLE = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
_ESCAPE_PARAM = re.compile(r"^escape=(default|json|none)\s+")

NGINX_VARIABLES: dict[str, tuple[str, Kind, int]] = {
    "remote_addr": ("client_ip", IP, 0),
    "remote_user": ("remote_user", TEXT, 0),
    "time_local": ("observed_at", TIME_CLF, 0),
    "time_iso8601": ("observed_at", TIME_ISO, 1),
    "msec": ("observed_at", TIME_EPOCH, 2),
    "request": (REQUEST, REQUEST_LINE, 0),
    "request_method": ("method", TEXT, 0),
    "request_uri": ("target", TEXT, 0),
    "uri": ("path", TEXT, 0),
    "document_uri": ("path", TEXT, 1),
    "args": ("query", TEXT, 0),
    "query_string": ("query", TEXT, 1),
    "server_protocol": ("protocol", TEXT, 0),
    "status": ("status", STATUS, 0),
    "body_bytes_sent": ("bytes_sent", INT, 0),
    "bytes_sent": ("bytes_sent", INT, 1),
    "http_referer": ("referer", TEXT, 0),
    "http_user_agent": ("user_agent", TEXT, 0),
    "http_x_forwarded_for": ("forwarded_for", TEXT, 0),
    "proxy_add_x_forwarded_for": ("forwarded_for", TEXT, 1),
    "host": ("host", TEXT, 0),
    "http_host": ("host", TEXT, 1),
    "server_name": ("host", TEXT, 2),
    "request_time": ("request_time", SECONDS, 0),
    "is_args": (IGNORE, IS_ARGS, 0),
    "request_length": (EXTRA, INT, 0),
    "connection": (EXTRA, INT, 0),
    "connection_requests": (EXTRA, INT, 0),
    "remote_port": (EXTRA, INT, 0),
    "server_port": (EXTRA, INT, 0),
}


def nginx_field(variable: str) -> FieldSpec:
    """The field an nginx variable becomes; unknown variables are kept in `extra`."""
    known = NGINX_VARIABLES.get(variable)
    if known is not None:
        slot, kind, priority = known
        return FieldSpec(variable, slot, kind, priority)
    if variable.startswith("upstream_"):
        return FieldSpec(variable, EXTRA, UPSTREAM)
    return FieldSpec(variable, EXTRA, TEXT)


@dataclass(frozen=True, slots=True)
class NginxFormat:
    """An nginx format string with its `escape=` mode, taken from a string or a directive."""

    template: str
    escape: str = "default"


def read_format(spec: str) -> NginxFormat:
    """The format string and escape mode in `spec` (a format string or a `log_format` line)."""
    text = spec.strip()
    escape = "default"
    if text.startswith("log_format"):
        rest = text[len("log_format") :].strip().rstrip(";").strip()
        _name, _, rest = rest.partition(" ")
        rest = rest.strip()
        found = _ESCAPE_PARAM.match(rest)
        if found:
            escape = found.group(1)
            rest = rest[found.end() :]
        pieces = [
            m.group(1) if m.group(1) is not None else m.group(2) for m in _QUOTED.finditer(rest)
        ]
        if not pieces:
            raise FormatError("the log_format directive holds no quoted format string")
        return NginxFormat("".join(pieces), escape)
    found = _ESCAPE_PARAM.match(text)
    if found:
        escape = found.group(1)
        text = text[found.end() :]
    return NginxFormat(spec if not found else text, escape)


def compile_nginx(template: str) -> list[Token]:
    """The literal text and fields of an nginx format string."""
    if "\n" in template:
        template = template.replace("\r", "").replace("\n", "")
    tokens: list[Token] = []
    position = 0
    for match in _VARIABLE.finditer(template):
        if match.start() > position:
            tokens.append(template[position : match.start()])
        tokens.append(nginx_field(match.group(1) or match.group(2)))
        position = match.end()
    if position < len(template):
        tokens.append(template[position:])
    if not any(isinstance(token, FieldSpec) for token in tokens):
        raise FormatError(f"nginx log format {template!r} has no $variables")
    return tokens


def json_template_keys(template: str) -> dict[str, str] | None:
    """For a JSON-object format (`{"ip":"$remote_addr",...}`), the variable behind each key."""
    text = template.strip()
    if not text.startswith("{"):
        return None
    pairs = re.findall(r'"([^"]+)"\s*:\s*"?\$\{?([A-Za-z0-9_]+)\}?"?', text)
    if not pairs:
        return None
    return {key: variable for key, variable in pairs}
