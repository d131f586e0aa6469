"""Log formats vigil reads: nginx and Apache presets, any `log_format` or `LogFormat` string,
JSON lines, and automatic detection. `vigil.ingest.parser.build_parser` is the entry point.
"""

from vigil.ingest.formats.base import LogParser, ParseResult

__all__ = ["LogParser", "ParseResult"]
