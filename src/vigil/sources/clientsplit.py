"""The client address of a raw line, found cheaply, so an agent can partition lines by client
without parsing them (workers parse; agents run on the web servers and should cost little).

Per format: the text presets begin with the client address (`$remote_addr`, `%h`), Apache's
vhost_combined has it second, JSON lines name it in one of the usual keys. `auto` looks at each
line: a `{` starts JSON, otherwise the first token that looks like an address. Where the address
cannot be found this cheaply — a custom format string, or trusted proxies whose
X-Forwarded-For decides the client — lines are parsed with the real parser. A line whose client
cannot be found at all gets None (the agent sends it to partition 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import orjson

from vigil.batch import LineBatch
from vigil.config import ParserSection
from vigil.ingest.formats.jsonlog import DEFAULT_KEYS
from vigil.ingest.formats.presets import ALIASES, PRESETS

__all__ = ["ClientSplitter"]

_ADDRESS_CHARS = b"0123456789abcdefABCDEF:."
_JSON_KEYS = DEFAULT_KEYS["client_ip"]


def _address(token: bytes) -> bytes | None:
    if 0 < len(token) <= 45 and not token.translate(None, _ADDRESS_CHARS):
        return token
    return None


def _first(line: bytes) -> bytes | None:
    return _address(line.split(b" ", 1)[0])


def _second(line: bytes) -> bytes | None:
    parts = line.split(b" ", 2)
    return _address(parts[1]) if len(parts) > 1 else None


def _json(line: bytes) -> bytes | None:
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    for key in _JSON_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value.encode()
    return None


def _auto(line: bytes) -> bytes | None:
    if line[:1] == b"{":
        return _json(line)
    return _first(line) or _second(line)


class ClientSplitter:
    """Client addresses of lines, as cheaply as their format allows (module docstring)."""

    def __init__(self, log_format: str, trusted_proxies: Sequence[str] = ()) -> None:
        name = ALIASES.get(log_format.strip().lower(), log_format.strip().lower())
        self._parser = None
        self._one: Callable[[bytes], bytes | None] | None = None
        if not trusted_proxies and name == "auto":
            self._one = _auto
        elif not trusted_proxies and name in PRESETS:
            preset = PRESETS[name]
            if preset.syntax == "json":
                self._one = _json
            elif preset.template.startswith(("%v", "$host")):
                self._one = _second
            else:
                self._one = _first
        else:
            from vigil.ingest.parser import build_parser

            self._parser = build_parser(log_format, trusted_proxies=trusted_proxies)
        self.parses = self._parser is not None
        """True when lines are parsed in full (custom formats, trusted proxies)."""

    @classmethod
    def from_section(cls, section: ParserSection) -> ClientSplitter:
        """The splitter for lines of the settings' parser section (format, trusted proxies)."""
        return cls(section.format, section.trusted_proxies)

    def clients(self, batch: LineBatch) -> list[bytes | None]:
        """The client address of each line of `batch`, None where it cannot be told."""
        one = self._one
        if one is not None:
            return [one(line) for line in batch.lines]
        assert self._parser is not None
        by_offset: dict[int, bytes] = {}
        for record in self._parser.parse_batch(batch).records:
            if record.client_ip:
                by_offset[record.offset] = record.client_ip.encode()
        return [by_offset.get(offset) for offset in batch.offsets]
