"""Small builders for behaviour tests: records at chosen event times, batches through an engine."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from vigil.batch import LogRecord
from vigil.detect.behaviour import BehaviourEngine, BehaviourEvent

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

_offsets = itertools.count()


def rec(
    ip: str,
    second: float,
    path: str = "/",
    status: int | None = 200,
    *,
    method: str = "GET",
    agent: str = BROWSER,
    sent: int = 1000,
    at: datetime | None = T0,
) -> LogRecord:
    """A record from `ip` at `second` seconds after T0 (`at=None` for no timestamp)."""
    observed = None if at is None else at + timedelta(seconds=second)
    return LogRecord(
        source="test",
        file_id="test",
        offset=next(_offsets),
        client_ip=ip,
        observed_at=observed,
        method=method,
        target=path,
        path=path,
        query="",
        protocol="HTTP/1.1",
        status=status,
        bytes_sent=sent,
        referer="-",
        user_agent=agent,
    )


def run(
    engine: BehaviourEngine, records: Sequence[LogRecord], batch: int = 256, **kwargs: object
) -> list[BehaviourEvent]:
    """Feed `records` in batches; every event, with record_index made absolute."""
    events: list[BehaviourEvent] = []
    for start in range(0, len(records), batch):
        for event in engine.process_batch(records[start : start + batch], **kwargs):  # type: ignore[arg-type]
            event.record_index += start
            events.append(event)
    return events


def detectors(events: Sequence[BehaviourEvent]) -> set[str]:
    """Names of the detectors that fired."""
    return {e.detector for e in events}
