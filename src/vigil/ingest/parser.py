"""Build the parser for a log format named by the operator: a preset name, `auto`, or a
format string (anything with `$` is an nginx `log_format`, anything with `%` an Apache
`LogFormat`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from vigil.batch import DeadLetter, LogRecord
from vigil.errors import FormatError
from vigil.ingest.formats import apache, nginx
from vigil.ingest.formats.autodetect import AutoParser
from vigil.ingest.formats.base import BatchParser, LogParser, ParseResult
from vigil.ingest.formats.clientip import ClientIpResolver
from vigil.ingest.formats.fields import EXTRA, TEXT, FieldSpec, Token
from vigil.ingest.formats.jsonlog import JsonParser
from vigil.ingest.formats.presets import ALIASES, AUTO_CANDIDATES, PRESETS, format_names
from vigil.ingest.formats.template import TemplateParser

if TYPE_CHECKING:
    from vigil.config import ParserSection

__all__ = [
    "LogParser",
    "ParseResult",
    "build_parser",
    "format_names",
    "parse_line",
    "parser_from_section",
]


def parser_from_section(section: ParserSection) -> LogParser:
    """The parser of the settings' parser section (its format and trusted proxies)."""
    return build_parser(section.format, trusted_proxies=section.trusted_proxies)


def build_parser(
    spec: str = "auto",
    *,
    trusted_proxies: Sequence[str] = (),
    json_fields: Mapping[str, str] | None = None,
    max_line_bytes: int | None = None,
) -> LogParser:
    """The parser for `spec`; raises `FormatError` naming the valid choices when unknown.

    `trusted_proxies` (CIDRs) makes X-Forwarded-For believed for requests that came through
    them; `json_fields` maps vigil fields to JSON keys for JSON logs; lines longer than
    `max_line_bytes` become dead letters.
    """
    resolver = ClientIpResolver(trusted_proxies)
    text = spec.strip()
    if not text:
        raise FormatError(_unknown_message(spec))
    name = ALIASES.get(text.lower(), text.lower())
    if name == "auto":
        candidates = [
            _build_preset(candidate, resolver, json_fields, max_line_bytes)
            for candidate in AUTO_CANDIDATES
        ]
        return AutoParser(candidates)
    if name in PRESETS:
        return _build_preset(name, resolver, json_fields, max_line_bytes)
    if "$" in text:
        return _build_nginx(text, resolver, json_fields, max_line_bytes)
    if "%" in text:
        template = apache.read_format(text)
        return TemplateParser(
            "apache-custom",
            f"Apache LogFormat {template!r}",
            apache.compile_apache(template),
            resolver=resolver,
            max_line_bytes=max_line_bytes,
        )
    raise FormatError(_unknown_message(spec))


def _unknown_message(spec: str) -> str:
    return (
        f"unknown log format {spec!r}; use one of: {', '.join(format_names())}, "
        "or an nginx log_format string ($variables) or Apache LogFormat string (%directives)"
    )


def _build_preset(
    name: str,
    resolver: ClientIpResolver,
    json_fields: Mapping[str, str] | None,
    max_line_bytes: int | None,
) -> BatchParser:
    preset = PRESETS[name]
    if preset.syntax == "json":
        return JsonParser(
            name,
            preset.description,
            fields=json_fields,
            resolver=resolver,
            max_line_bytes=max_line_bytes,
        )
    tokens: list[Token]
    if preset.syntax == "apache":
        tokens = apache.compile_apache(preset.template)
    else:
        tokens = nginx.compile_nginx(preset.template)
    if preset.syntax == "combined-extra":
        tokens = [*tokens, " ", FieldSpec("trailing", EXTRA, TEXT)]
    return TemplateParser(
        name, preset.description, tokens, resolver=resolver, max_line_bytes=max_line_bytes
    )


def _build_nginx(
    text: str,
    resolver: ClientIpResolver,
    json_fields: Mapping[str, str] | None,
    max_line_bytes: int | None,
) -> BatchParser:
    read = nginx.read_format(text)
    keys = nginx.json_template_keys(read.template)
    if keys is not None:
        mapping: dict[str, str] = {}
        priorities: dict[str, int] = {}
        for key, variable in keys.items():
            spec = nginx.nginx_field(variable)
            if spec.slot == EXTRA or spec.priority >= priorities.get(spec.slot, 1 << 30):
                continue
            mapping[spec.slot] = key
            priorities[spec.slot] = spec.priority
        if json_fields:
            mapping.update(json_fields)
        return JsonParser(
            "nginx-json-custom",
            "nginx JSON log_format",
            fields=mapping,
            use_defaults=False,
            resolver=resolver,
            max_line_bytes=max_line_bytes,
        )
    return TemplateParser(
        "nginx-custom",
        f"nginx log_format {read.template!r}",
        nginx.compile_nginx(read.template),
        resolver=resolver,
        max_line_bytes=max_line_bytes,
    )


@lru_cache(maxsize=16)
def _cached_parser(spec: str) -> LogParser:
    return build_parser(spec)


def parse_line(line: str | bytes, spec: str = "auto") -> LogRecord | DeadLetter:
    """Parse one line on its own (for tests and `vigil rules explain`).

    With `auto`, the format is detected from this line alone.
    """
    parser = build_parser(spec) if spec.strip().lower() == "auto" else _cached_parser(spec)
    return parser.parse_line(line)
