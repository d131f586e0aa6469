"""Log formats and the parser: raw line batches in, records and dead letters out (a stage every
source feeds)."""

from typing import TYPE_CHECKING

from vigil._exports import lazy_exports

if TYPE_CHECKING:
    from vigil.ingest.parser import LogParser, build_parser, parse_line

__all__ = [
    "LogParser",
    "build_parser",
    "parse_line",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "LogParser": "vigil.ingest.parser",
        "build_parser": "vigil.ingest.parser",
        "parse_line": "vigil.ingest.parser",
    },
)
