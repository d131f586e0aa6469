"""Retention: events older than `VIGIL_RETENTION_DAYS` go, hour and day rollups older than
`VIGIL_ROLLUP_RETENTION_DAYS` go, and nothing is ever held for long while they do.

On PostgreSQL the event tables are partitioned by day: a day past retention is one partition of
each, detached concurrently and dropped (see `vigil.db.partitions`), whatever its size. Where
the tables are not partitioned (SQLite), old rows are deleted in chunks of `CHUNK` rows, one short
transaction each, so a writer or a reader waits at most one chunk. Minute rollups, incidents
last seen before the cutoff (with their campaign members; their decisions let go of them), expired
decisions and dead letters follow the events' retention.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, func, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vigil.config import Settings
from vigil.db.models import (
    DeadLetterRow,
    Decision,
    Incident,
    IncidentMember,
    ThreatEvent,
    ThreatRollup,
    TrafficRollup,
    event_rules,
)
from vigil.db.partitions import Partitions, drop_day, existing_days

log = logging.getLogger(__name__)

CHUNK = 5000
"""Rows deleted per transaction where no partition can be dropped (SQLite)."""
PG_CHUNK = 50_000
"""Rows deleted per transaction on PostgreSQL (see `_chunk_size`)."""
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
        # Expired decisions first: deleting an incident sets its decisions' incident_id to
        # NULL, a row update each, which is wasted on a decision about to go.
        decisions = _table(Decision)
        await _delete_chunks(
            engine,
            decisions,
            (decisions.c.expires_at < event_cutoff) | (decisions.c.deleted_at < event_cutoff),
            report,
        )
        await _delete_incidents(engine, event_cutoff, report)
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


async def _delete_incidents(engine: AsyncEngine, cutoff: datetime, report: PruneReport) -> None:
    """Delete the incidents last seen before `cutoff`, a chunk a transaction, with what names
    them by key (no foreign key does it, row by row): a campaign's members go, a decision
    that outlives its incident keeps no dangling id. Their events are never newer than
    their last_seen, so they went before. No id list travels to and fro: on PostgreSQL one
    statement deletes a chunk and hands its ids to the other two; on SQLite each statement
    names the chunk by the same subquery (the lowest ids of the expired)."""
    incidents, members, decisions = _table(Incident), _table(IncidentMember), _table(Decision)
    expired = incidents.c.last_seen < cutoff

    async def one_chunk(conn: AsyncConnection, size: int) -> int:
        if conn.dialect.name == "postgresql":
            address: ColumnElement[Any] = literal_column("ctid")
            gone = (
                delete(incidents)
                .where(address.in_(select(address).where(expired).limit(size).scalar_subquery()))
                .returning(incidents.c.id)
                .cte("gone")
            )
            ids = select(gone.c.id).scalar_subquery()
            members_gone = delete(members).where(members.c.incident_id.in_(ids)).cte("m")
            let_go = (
                update(decisions)
                .where(decisions.c.incident_id.in_(ids))
                .values(incident_id=None)
                .cte("d")
            )
            counted = select(func.count()).select_from(gone).add_cte(members_gone, let_go)
            return int(await conn.scalar(counted) or 0)
        chunk = (
            select(incidents.c.id).where(expired).order_by(incidents.c.id).limit(size)
        ).scalar_subquery()
        await conn.execute(delete(members).where(members.c.incident_id.in_(chunk)))
        await conn.execute(
            update(decisions).where(decisions.c.incident_id.in_(chunk)).values(incident_id=None)
        )
        result = await conn.execute(delete(incidents).where(incidents.c.id.in_(chunk)))
        return int(result.rowcount or 0)

    await _in_chunks(engine, incidents.name, one_chunk, report)


async def _in_chunks(
    engine: AsyncEngine,
    name: str,
    one_chunk: Callable[[AsyncConnection, int], Awaitable[int]],
    report: PruneReport,
) -> None:
    """Run `one_chunk` (rows it deleted from `name`, at most the size given) a transaction at
    a time until a chunk comes back short; count the rows in the report."""
    size = _chunk_size(engine)
    total = 0
    while True:
        async with engine.begin() as conn:
            deleted = await one_chunk(conn, size)
        total += deleted
        if deleted < size:
            break
    if total:
        report.rows_deleted[name] = report.rows_deleted.get(name, 0) + total


def _chunk_size(engine: AsyncEngine) -> int:
    """Rows a transaction deletes: SQLite's writers wait for the whole transaction, so its
    chunks are short; PostgreSQL's deletes wait for nobody (only rows past retention, which
    no writer touches, are locked), and each chunk re-reads the dead rows of those before it
    until vacuum, so fewer, larger chunks are much cheaper there."""
    return PG_CHUNK if engine.dialect.name == "postgresql" else CHUNK


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


async def _delete_chunks(
    engine: AsyncEngine, table: Table, condition: ColumnElement[bool], report: PruneReport
) -> None:
    """Delete the rows of `table` matching `condition`, a chunk a transaction."""
    # A row's physical address picks the chunk: every table has one, with or without a key.
    address: ColumnElement[Any] = literal_column(
        "ctid" if engine.dialect.name == "postgresql" else "rowid"
    )

    async def one_chunk(conn: AsyncConnection, size: int) -> int:
        chunk = select(address).select_from(table).where(condition).limit(size)
        result = await conn.execute(delete(table).where(address.in_(chunk.scalar_subquery())))
        return int(result.rowcount or 0)

    await _in_chunks(engine, table.name, one_chunk, report)
