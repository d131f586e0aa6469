"""Types of the compiled fast path of `TemplateParser` (`_records.pyx`)."""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from vigil.batch import DeadLetter, LogRecord

OPERATIONS: dict[str, int]
LOOP_VERSION: int

class Assembler:
    def __init__(
        self,
        record_type: type[LogRecord],
        plan: Sequence[tuple[int, int, Any]],
        status_codes: dict[str, int],
        time_get: Callable[[str], datetime | None] | None = None,
        time_miss: Callable[[str], datetime] | None = None,
    ) -> None: ...
    def __call__(
        self,
        rows: list[tuple[str, ...]],
        lines: list[bytes],
        offsets: list[int],
        source: str,
        file_id: str,
        records: list[LogRecord],
        dead: list[DeadLetter],
        slow: Callable[[str, str, bytes, int, list[LogRecord], list[DeadLetter]], None],
        escapes: bool,
    ) -> None: ...

def has_newline(lines: list[bytes]) -> bool: ...

SPLIT_FIELDS: tuple[str, ...]

class Splitter:
    def __init__(
        self,
        record_type: type[LogRecord],
        constants: tuple[Any, ...],
        time_get: Callable[[str], datetime | None],
        time_miss: Callable[[str], datetime],
        identd: bool,
        quoted: bool,
        dash_bytes: int | None,
    ) -> None: ...
    def split(
        self,
        lines: list[bytes],
        offsets: list[int],
        source: str,
        file_id: str,
        records: list[LogRecord],
        match: Callable[[int, int], None],
    ) -> None: ...
