"""The score stage's traffic counters (counted a run of same-minute lines at a time) equal a
plain count line by line: in time order, out of order, across hours, with lines without a
timestamp, malformed requests, absent statuses and sizes."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from vigil.batch import LogRecord, minute_bucket
from vigil.pipeline.score import traffic_counters
from vigil.severity import Severity

START = datetime(2024, 3, 14, 23, 57, 30, tzinfo=UTC)
STATUSES = [200, 200, 200, 304, 404, 403, 500, 302, 101, 999, None]


def _records(rng: random.Random, count: int, *, ordered: bool) -> list[LogRecord]:
    seconds = sorted(rng.randrange(0, 400) for _ in range(count))
    if not ordered:
        rng.shuffle(seconds)
    shared: dict[int, datetime] = {}
    records = []
    for offset, second in enumerate(seconds):
        # Parsers share one timestamp object between the lines of one second.
        stamp = shared.setdefault(second, START + timedelta(seconds=second))
        records.append(
            LogRecord(
                source="s",
                file_id="f",
                offset=offset,
                client_ip=f"198.51.100.{rng.randrange(1, 40)}",
                observed_at=None if rng.random() < 0.03 else stamp,
                method="GET",
                target="/",
                path="/",
                query="",
                protocol="HTTP/1.1",
                status=rng.choice(STATUSES),
                bytes_sent=rng.choice([None, 0, 0, 17, 4096]),
                referer="-",
                user_agent="ua",
                malformed=rng.random() < 0.05,
            )
        )
    return records


def _line_by_line(
    records: list[LogRecord], flagged: list[int], severities: list[Severity]
) -> tuple[dict[datetime, Counter[str]], dict[datetime, set[str]]]:
    """The reference: every line counted on its own."""
    now = minute_bucket(None)
    severity_of = dict(zip(flagged, severities, strict=True))
    counters: dict[datetime, Counter[str]] = {}
    visitors: dict[datetime, set[str]] = {}
    for index, record in enumerate(records):
        stamp = record.observed_at
        minute = minute_bucket(stamp) if stamp is not None else now
        bucket = counters.setdefault(minute, Counter())
        bucket["requests"] += 1
        severity = severity_of.get(index)
        bucket[severity.name.lower() if severity is not None else "low"] += 1
        if record.malformed:
            bucket["malformed"] += 1
        status = record.status
        known = status is not None and 200 <= status < 600
        bucket[f"status_{status // 100}xx" if known else "status_other"] += 1
        if record.bytes_sent:
            bucket["bytes_sent"] += record.bytes_sent
        visitors.setdefault(minute.replace(minute=0), set()).add(record.client_ip)
    return counters, visitors


def _without_now(counted: dict[datetime, object]) -> dict[datetime, object]:
    """Lines without a timestamp count in the current minute, which may tick between the
    two counts: compare the rest."""
    return {minute: value for minute, value in counted.items() if minute.year == 2024}


@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_counters_equal_a_count_line_by_line(ordered: bool, seed: int) -> None:
    rng = random.Random(seed)
    records = _records(rng, rng.choice([1, 7, 300, 2048]), ordered=ordered)
    flagged = sorted(rng.sample(range(len(records)), len(records) // 10))
    severities = [rng.choice([Severity.HIGH, Severity.MEDIUM]) for _ in flagged]
    stamps = [record.observed_at for record in records]

    counters, visitors = traffic_counters(stamps, records, flagged, severities)
    expected_counters, expected_visitors = _line_by_line(records, flagged, severities)

    assert _without_now(counters) == _without_now(expected_counters)
    assert _without_now(visitors) == _without_now(expected_visitors)
    assert sum(b["requests"] for b in counters.values()) == len(records)


def test_no_records_no_counters() -> None:
    assert traffic_counters([], [], [], []) == ({}, {})
