"""Types of the compiled behaviour loop (`_kernel.pyx`)."""

from array import array
from collections.abc import Callable, Mapping, Sequence
from datetime import tzinfo
from typing import Any

from vigil.batch import LogRecord
from vigil.detect.behaviour.engine import BehaviourEngine
from vigil.detect.behaviour.events import BehaviourEvent
from vigil.detect.behaviour.site import SiteState

RECORD_FIELDS: dict[str, int]
SLOTS: dict[str, int]
LOOP_VERSION: int

class ClientSlots:
    first_seen: int
    last_seen: int
    queued: int
    long_start: int
    short_start: int
    short_req: int
    short_req_prev: int
    long_cur: list[Any]
    long_prev: list[Any] | None
    agent: tuple[int, int, bool] | None
    allowed: bool
    fired: dict[str, list[float]] | None
    samples: list[tuple[int, str, str, int | None]] | None
    def __init__(self, t: int, long_gen: int, short_gen: int, allowed: bool) -> None: ...

def set_empty_generation(empty: list[Any]) -> None: ...
def update(
    engine: BehaviourEngine,
    s: SiteState,
    records: Sequence[LogRecord],
    events: list[BehaviourEvent],
    enrichment: Mapping[str, Mapping[str, Any]] | None,
    utc: tzinfo,
    infos: list[int | None] | None,
) -> None: ...
def expire(entries: dict[str, Any], now: int, ttl: int) -> int: ...

SLOW_LAYOUT: dict[str, int]

def slow_count(
    data: array[int], hours: int, days: int, t: int, path_bit: int, flags: int
) -> list[int] | None: ...
def batch_paths(
    records: Sequence[LogRecord], cache: dict[str, int]
) -> tuple[list[str], list[int | None]]: ...

PATH_LAYOUT: dict[str, int]

def pack_paths(
    new: list[str],
    sensitive: list[bool],
    health: frozenset[str],
    assets: tuple[str, ...],
    logins: dict[str, int],
    cache: dict[str, int],
    crc32: Callable[[bytes], int],
) -> None: ...
