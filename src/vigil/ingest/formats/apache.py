"""Compile an Apache `LogFormat` string into the fields of a log format.

Accepts the format string alone (`%h %l %u %t \\"%r\\" %>s %b`) or a whole
`LogFormat "..." nickname` line pasted from httpd.conf. Directives vigil knows fill record
fields; any other directive is kept in `LogRecord.extra` under a descriptive name.
Conditions (`%!200,304{Referer}i`) and the `<`/`>` modifiers are accepted; only `%>s` and
`%s` differ by them (the final status wins).
"""

from __future__ import annotations

import re

from vigil.errors import FormatError
from vigil.ingest.formats.fields import (
    APACHE_QUERY,
    CLF_BYTES,
    EXTRA,
    IGNORE,
    INT,
    IP,
    MICROS,
    MILLIS,
    REQUEST,
    REQUEST_LINE,
    SECONDS,
    STATUS,
    TEXT,
    TIME_CLF,
    FieldSpec,
    Token,
    epoch_kind,
    strftime_kind,
)
from vigil.ingest.formats.timestamps import strftime_parser

_DIRECTIVE = re.compile(r"%(!?[0-9]{3}(?:,[0-9]{3})*)?([<>]?)(?:\{([^}]*)\})?(\^t[io]|[A-Za-z%])")
_CONFIG_ESCAPE = re.compile(r"\\(.)")
_CONFIG_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}

_HEADERS: dict[str, tuple[str, int]] = {
    "referer": ("referer", 0),
    "user-agent": ("user_agent", 0),
    "x-forwarded-for": ("forwarded_for", 0),
    "host": ("host", 0),
}

_SIMPLE: dict[str, FieldSpec] = {
    "h": FieldSpec("remote_host", "client_ip", IP, 1),
    "A": FieldSpec("server_addr", EXTRA, TEXT),
    "B": FieldSpec("bytes_body", "bytes_sent", INT, 0),
    "b": FieldSpec("bytes_body", "bytes_sent", CLF_BYTES, 0),
    "O": FieldSpec("bytes_out", "bytes_sent", INT, 1),
    "I": FieldSpec("bytes_in", EXTRA, INT),
    "S": FieldSpec("bytes_total", EXTRA, INT),
    "D": FieldSpec("request_time_us", "request_time", MICROS, 0),
    "f": FieldSpec("filename", EXTRA, TEXT),
    "H": FieldSpec("protocol", "protocol", TEXT, 0),
    "k": FieldSpec("keepalive_requests", EXTRA, INT),
    "l": FieldSpec("ident", IGNORE, TEXT),
    "L": FieldSpec("log_id", EXTRA, TEXT),
    "m": FieldSpec("method", "method", TEXT, 0),
    "P": FieldSpec("pid", EXTRA, TEXT),
    "q": FieldSpec("query", "query", APACHE_QUERY, 0),
    "r": FieldSpec("request", REQUEST, REQUEST_LINE, 0),
    "R": FieldSpec("handler", EXTRA, TEXT),
    "u": FieldSpec("remote_user", "remote_user", TEXT, 0),
    "U": FieldSpec("path", "path", TEXT, 0),
    "v": FieldSpec("server_name", "host", TEXT, 2),
    "V": FieldSpec("server_name_used", "host", TEXT, 1),
    "X": FieldSpec("connection_status", EXTRA, TEXT),
}

_PARAM_PREFIX = {
    "C": "cookie_",
    "e": "env_",
    "n": "note_",
    "o": "sent_http_",
    "^ti": "trailer_in_",
    "^to": "trailer_out_",
}


def _key(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_") or "value"


def _time_field(param: str | None) -> list[Token]:
    if param is None:
        return ["[", FieldSpec("time", "observed_at", TIME_CLF, 0), "]"]
    pattern = param
    for prefix in ("begin:", "end:"):
        pattern = pattern.removeprefix(prefix)
    scales = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}
    if pattern in scales:
        return [FieldSpec(f"time_{pattern}", "observed_at", epoch_kind(scales[pattern]), 1)]
    if pattern in ("msec_frac", "usec_frac"):
        return [FieldSpec(f"time_{pattern}", EXTRA, INT)]
    kind = strftime_kind(pattern, strftime_parser(pattern))
    return [FieldSpec("time", "observed_at", kind, 2)]


def apache_field(letter: str, param: str | None, final: bool) -> list[Token]:
    """The tokens one `%` directive becomes (the time directive brings its brackets)."""
    if letter == "t":
        return _time_field(param)
    if letter == "i" and param is not None:
        slot, priority = _HEADERS.get(param.lower(), (EXTRA, 0))
        return [FieldSpec(f"http_{_key(param)}", slot, TEXT, priority)]
    if letter in _PARAM_PREFIX and param is not None:
        return [FieldSpec(f"{_PARAM_PREFIX[letter]}{_key(param)}", EXTRA, TEXT)]
    if letter == "a":
        if param == "c":
            return [FieldSpec("peer_addr", "client_ip", IP, 2)]
        return [FieldSpec("client_addr", "client_ip", IP, 0)]
    if letter == "s":
        return [
            FieldSpec("status" if final else "status_original", "status", STATUS, 0 if final else 1)
        ]
    if letter == "T":
        unit = (param or "s").lower()
        kinds = {"s": SECONDS, "ms": MILLIS, "us": MICROS}
        if unit not in kinds:
            raise FormatError(f"%{{{param}}}T: the unit must be s, ms or us")
        return [FieldSpec(f"request_time_{unit}", "request_time", kinds[unit], 1)]
    if letter == "p":
        name = "remote_port" if param == "remote" else "server_port"
        return [FieldSpec(name, EXTRA, INT)]
    simple = _SIMPLE.get(letter)
    if simple is not None:
        return [simple]
    suffix = f"_{_key(param)}" if param else ""
    return [FieldSpec(f"apache_{letter}{suffix}", EXTRA, TEXT)]


def read_format(spec: str) -> str:
    """The format string in `spec`, with httpd.conf escapes (`\\"`) decoded."""
    text = spec.strip()
    if text.startswith("LogFormat"):
        rest = text[len("LogFormat") :].strip()
        found = re.match(r'"((?:[^"\\]|\\.)*)"', rest)
        if found is None:
            raise FormatError('the LogFormat line holds no "quoted" format string')
        text = found.group(1)
    else:
        text = spec
    return _CONFIG_ESCAPE.sub(lambda m: _CONFIG_ESCAPES.get(m.group(1), m.group(0)), text)


def compile_apache(template: str) -> list[Token]:
    """The literal text and fields of an Apache format string (already unescaped)."""
    if "\n" in template:
        raise FormatError("an Apache LogFormat that writes newlines cannot be read line by line")
    tokens: list[Token] = []
    position = 0
    for match in _DIRECTIVE.finditer(template):
        if match.start() > position:
            tokens.append(template[position : match.start()])
        position = match.end()
        _conditions, modifier, param, letter = match.groups()
        if letter == "%":
            tokens.append("%")
            continue
        tokens.extend(apache_field(letter, param, final=modifier == ">"))
    if position < len(template):
        tokens.append(template[position:])
    if not any(isinstance(token, FieldSpec) for token in tokens):
        raise FormatError(f"Apache log format {template!r} has no %directives")
    return tokens
