"""Retention: events older than `VIGIL_RETENTION_DAYS` go, hour and day rollups older than
`VIGIL_ROLLUP_RETENTION_DAYS` go, and nothing is ever held for long while they do.

On PostgreSQL the event tables are partitioned by day: a day past retention is one partition of
each, detached concurrently and dropped (see `vigil.db.partitions`), whatever its size. Where
the tables are not partitioned (SQLite), old rows are deleted in chunks of `CHUNK` rows, one short
transaction each, so a writer or a reader waits at most one chunk. Minute rollups, incidents
last seen before the cutoff, expired decisions and dead letters follow the events' retention.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine

from vigil.config import Settings
from vigil.db.models import (
    DeadLetterRow,
    Decision,
    Incident,
    ThreatEvent,
    ThreatRollup,
    TrafficRollup,
    event_rules,
)
from vigil.db.partitions import Partitions, drop_day, existing_days

log = logging.getLogger(__name__)

CHUNK = 5000
"""Rows deleted per transaction where no partition can be dropped."""
AHEAD_DAYS = 2
"""Days of partitions made in advance, so live writes never wait for one."""


@dataclass
class PruneReport:
    """What one pruning pass removed."""

    event_cutoff: datetime | None
    rollup_cutoff: datetime | None
    partitions_dropped: list[date] = field(default_factory=list)
    rows_deleted: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    partition_seconds: float = 0.0
    """Of `seconds`, the time spent detaching and dropping partitions."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_cutoff": self.event_cutoff.isoformat() if self.event_cutoff else None,
            "rollup_cutoff": self.rollup_cutoff.isoformat() if self.rollup_cutoff else None,
            "partitions_dropped": [day.isoformat() for day in self.partitions_dropped],
            "rows_deleted": dict(self.rows_deleted),
            "seconds": round(self.seconds, 3),
            "partition_seconds": round(self.partition_seconds, 3),
        }


def cutoffs(settings: Settings, now: datetime) -> tuple[datetime | None, datetime | None]:
    """Start of the oldest day kept for events and for rollups (None: kept forever)."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    events = today - timedelta(days=settings.retention_days) if settings.retention_days else None
    rollups = (
        today - timedelta(days=settings.rollup_retention_days)
        if settings.rollup_retention_days
        else None
    )
    return events, rollups


async def prune(
    engine: AsyncEngine,
    settings: Settings,
    *,
    now: datetime | None = None,
    partitions: Partitions | None = None,
) -> PruneReport:
    """Remove what is past retention; make the next days' partitions."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    partitions = partitions or Partitions()
    event_cutoff, rollup_cutoff = cutoffs(settings, now)
    report = PruneReport(event_cutoff, rollup_cutoff)
    today = now.astimezone(UTC).date()
    await partitions.ensure(engine, [today + timedelta(days=n) for n in range(AHEAD_DAYS)])
    if event_cutoff is not None:
        async with engine.connect() as conn:
            partitioned = await partitions.check(conn)
            days = await existing_days(conn) if partitioned else set()
        dropping = time.perf_counter()
        for day in sorted(d for d in days if d < event_cutoff.date()):
            await drop_day(engine, day)
            partitions.forget([day])
            report.partitions_dropped.append(day)
        report.partition_seconds = time.perf_counter() - dropping
        if not partitioned:
            events = _table(ThreatEvent)
            await _delete_chunks(engine, events, events.c.observed_at < event_cutoff, report)
            await _delete_chunks(
                engine, event_rules, event_rules.c.observed_at < event_cutoff, report
            )
        for model in (ThreatRollup, TrafficRollup):
            table = _table(model)
            await _delete_chunks(
                engine,
                table,
                (table.c.period == "m") & (table.c.bucket < event_cutoff),
                report,
            )
        incidents = _table(Incident)
        await _delete_chunks(engine, incidents, incidents.c.last_seen < event_cutoff, report)
        decisions = _table(Decision)
        await _delete_chunks(
            engine,
            decisions,
            (decisions.c.expires_at < event_cutoff) | (decisions.c.deleted_at < event_cutoff),
            report,
        )
        dead = _table(DeadLetterRow)
        await _delete_chunks(engine, dead, dead.c.created_at < event_cutoff, report)
    if rollup_cutoff is not None:
        for model in (ThreatRollup, TrafficRollup):
            table = _table(model)
            await _delete_chunks(engine, table, table.c.bucket < rollup_cutoff, report)
    report.seconds = time.perf_counter() - started
    log.info(
        "event=pruned partitions=%d rows=%d seconds=%.3f",
        len(report.partitions_dropped),
        sum(report.rows_deleted.values()),
        report.seconds,
    )
    return report


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


async def _delete_chunks(
    engine: AsyncEngine, table: Table, condition: ColumnElement[bool], report: PruneReport
) -> None:
    """Delete the rows of `table` matching `condition`, CHUNK rows a transaction."""
    # A row's physical address picks the chunk: every table has one, with or without a key.
    address: ColumnElement[Any] = literal_column(
        "ctid" if engine.dialect.name == "postgresql" else "rowid"
    )
    total = 0
    while True:
        async with engine.begin() as conn:
            chunk = select(address).select_from(table).where(condition).limit(CHUNK)
            result = await conn.execute(delete(table).where(address.in_(chunk.scalar_subquery())))
            deleted = int(result.rowcount or 0)
        total += deleted
        if deleted < CHUNK:
            break
    if total:
        report.rows_deleted[table.name] = report.rows_deleted.get(table.name, 0) + total
