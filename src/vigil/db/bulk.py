"""Bulk writes that are idempotent on both backends (INSERT … ON CONFLICT DO NOTHING)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.db.models import Base


def _insert_for(session: AsyncSession, table: type[Base]) -> Any:
    # Against the Table, not the mapped class: a Core statement skips the ORM's bulk-insert
    # bookkeeping, which cost more CPU per row than building and sending the row itself.
    target = cast(Table, table.__table__)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(target)
    if dialect == "sqlite":
        return sqlite.insert(target)
    raise NotImplementedError(f"no idempotent insert for dialect {dialect}")


async def insert_ignore(
    session: AsyncSession,
    table: type[Base],
    rows: Sequence[dict[str, Any]],
    conflict_columns: Sequence[str],
) -> int:
    """Insert `rows`, skipping any whose `conflict_columns` already exist; returns rows sent."""
    if not rows:
        return 0
    stmt = _insert_for(session, table).on_conflict_do_nothing(index_elements=list(conflict_columns))
    await session.execute(stmt, list(rows))
    return len(rows)


async def upsert(
    session: AsyncSession,
    table: type[Base],
    rows: Sequence[dict[str, Any]],
    conflict_columns: Sequence[str],
    update_columns: Sequence[str],
) -> None:
    """Insert `rows`, or overwrite `update_columns` where the key already exists."""
    await _insert_or_update(
        session,
        table,
        rows,
        conflict_columns,
        lambda excluded: {name: getattr(excluded, name) for name in update_columns},
    )


async def insert_returning_new(
    session: AsyncSession,
    table: type[Base],
    rows: Sequence[dict[str, Any]],
    conflict_columns: Sequence[str],
    key_column: Any,
) -> dict[Any, int]:
    """Insert `rows` ignoring duplicates; map the key of each row actually inserted to its id."""
    if not rows:
        return {}
    stmt = (
        _insert_for(session, table)
        .on_conflict_do_nothing(index_elements=list(conflict_columns))
        .returning(key_column, table.__table__.c.id)
    )
    result = await session.execute(stmt, list(rows))
    return {key: ident for key, ident in result.all()}


async def increment(
    session: AsyncSession,
    table: type[Base],
    rows: Sequence[dict[str, Any]],
    conflict_columns: Sequence[str],
    counter_columns: Sequence[str],
) -> None:
    """Insert counter rows, or add their values to the row already stored under the key."""
    columns = cast(Table, table.__table__).c
    await _insert_or_update(
        session,
        table,
        rows,
        conflict_columns,
        lambda excluded: {
            name: columns[name] + getattr(excluded, name) for name in counter_columns
        },
    )


async def _insert_or_update(
    session: AsyncSession,
    table: type[Base],
    rows: Sequence[dict[str, Any]],
    conflict_columns: Sequence[str],
    updates: Callable[[Any], dict[str, Any]],
) -> None:
    """INSERT … ON CONFLICT DO UPDATE SET `updates(excluded)` for every row."""
    if not rows:
        return
    base = _insert_for(session, table)
    stmt = base.on_conflict_do_update(
        index_elements=list(conflict_columns), set_=updates(base.excluded)
    )
    await session.execute(stmt, list(rows))
