"""Daily partitions of the event tables on PostgreSQL: made before rows need them, dropped whole
when they expire.

`threat_events` and `event_rules` are partitioned by range of `observed_at`, one partition a
day (UTC), named `<table>_pYYYYMMDD`. A partition is created as a plain table and then attached,
which takes only a SHARE UPDATE EXCLUSIVE lock on the parent, so readers and writers carry on;
expiry detaches a partition CONCURRENTLY (the same lock, outside any transaction) and then drops
the detached table, so pruning a day blocks no query of the parent. A database whose tables are
not partitioned (SQLite, or a schema made by `create_all` in tests) needs none of this, and
every function here then does nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

PARTITIONED_TABLES = ("threat_events", "event_rules")
_NAME = re.compile(r"^(?P<table>[a-z_]+)_p(?P<day>\d{8})$")
# Serialises partition creation between writers; the number is arbitrary but fixed.
_LOCK_ID = 0x76696731


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


class Partitions:
    """What one engine knows of the partitions; caches the days that exist."""

    def __init__(self) -> None:
        self.partitioned: bool | None = None
        self.days: set[date] = set()

    async def check(self, conn: AsyncConnection) -> bool:
        """Whether `threat_events` is partitioned here (read once per engine)."""
        if self.partitioned is None:
            if conn.dialect.name != "postgresql":
                self.partitioned = False
            else:
                found = await conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_partitioned_table p "
                        "JOIN pg_class c ON c.oid = p.partrelid "
                        "WHERE c.relname = 'threat_events' AND pg_table_is_visible(c.oid)"
                    )
                )
                self.partitioned = bool(found)
            if self.partitioned:
                self.days = await existing_days(conn)
        return self.partitioned

    async def ensure(self, engine: AsyncEngine, days: Iterable[date]) -> None:
        """Create the partitions of `days` that do not exist yet, in a transaction of their own
        (so the lock of an attach is held for milliseconds, not for a batch)."""
        if self.partitioned is False:
            return
        wanted = set(days) - self.days
        if not wanted and self.partitioned is not None:
            return
        async with engine.begin() as conn:
            if not await self.check(conn):
                return
            wanted = set(days) - self.days
            if not wanted:
                return
            await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
            present = await existing_days(conn)
            for day in sorted(wanted - present):
                await _create_day(conn, day)
            self.days = present | wanted

    def forget(self, days: Iterable[date]) -> None:
        self.days.difference_update(days)

    def reset(self) -> None:
        """Read the partitions from the catalogue again at the next `ensure` (after a write
        failed: a day may have been dropped by retention since it was last seen)."""
        self.partitioned = None
        self.days = set()


async def existing_days(conn: AsyncConnection) -> set[date]:
    """Days that have a `threat_events` partition."""
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = 'threat_events' AND pg_table_is_visible(p.oid) "
            # A partition being detached takes no more rows; its day is made again if needed.
            "AND NOT i.inhdetachpending"
        )
    )
    days: set[date] = set()
    for (name,) in rows:
        match = _NAME.match(name)
        if match:
            days.add(datetime.strptime(match["day"], "%Y%m%d").date())
    return days


async def _create_day(conn: AsyncConnection, day: date) -> None:
    start, end = _bounds(day)
    for table in PARTITIONED_TABLES:
        name = partition_name(table, day)
        # Identifiers are made here from a table name of this module and digits only.
        await conn.execute(
            text(
                f'CREATE TABLE IF NOT EXISTS "{name}" '
                f'(LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
            )
        )
        # DDL takes no bound parameters; the bounds are ISO timestamps made from a date.
        await conn.execute(
            text(
                f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" '
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        )
    log.info("event=partition_created day=%s", day.isoformat())


async def drop_day(engine: AsyncEngine, day: date) -> None:
    """Detach one day's partitions concurrently, then drop them.

    DETACH … CONCURRENTLY cannot run inside a transaction block, so it runs on a connection in
    autocommit mode. A detach interrupted before it finished is completed with FINALIZE.
    """
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in PARTITIONED_TABLES:
            name = partition_name(table, day)
            attached = await auto.scalar(
                text(
                    "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE c.relname = :name AND pg_table_is_visible(c.oid)"
                ),
                {"name": name},
            )
            if attached:
                pending = await auto.scalar(
                    text(
                        "SELECT i.inhdetachpending FROM pg_inherits i "
                        "JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relname = :name"
                    ),
                    {"name": name},
                )
                mode = "FINALIZE" if pending else "CONCURRENTLY"
                await auto.execute(text(f'ALTER TABLE "{table}" DETACH PARTITION "{name}" {mode}'))
            await auto.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
    log.info("event=partition_dropped day=%s", day.isoformat())
