"""Bulk writes that are idempotent on both backends (INSERT … ON CONFLICT DO NOTHING).

On PostgreSQL, many new rows go in by COPY into a temporary table and one INSERT … SELECT …
ON CONFLICT DO NOTHING RETURNING from it: the values travel in COPY's binary format, encoded by
the driver in C, instead of as one bound parameter each through SQLAlchemy's per-row processing,
which cost several times the rest of storing a batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, cast

import orjson
from sqlalchemy import JSON, Column, Dialect, MetaData, Table, TypeDecorator, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import CreateTable

from vigil.db.models import Base

COPY_MIN_ROWS = 100
"""Fewer rows than this are inserted with one statement: COPY's extra round trips cost more."""


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
    if len(rows) >= COPY_MIN_ROWS and session.get_bind().dialect.name == "postgresql":
        return await _copy_returning_new(session, table, rows, conflict_columns, key_column)
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


def json_text(value: Any) -> str:
    """`value` as JSON text, as the JSON columns store it (orjson, with json's generality)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value, default=str)


def _converter(column_type: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """What SQLAlchemy's bind processing would do to a value of this column, for COPY.

    JSON is written with `json_text` rather than the type's processor, which is the slow part
    COPY is here to avoid; decorated types (UTC timestamps) run their own bind step.
    """
    if isinstance(column_type, JSON):
        return lambda v: None if v is None else json_text(v)
    if isinstance(column_type, TypeDecorator):
        return lambda v: column_type.process_bind_param(v, dialect)
    return None


async def _copy_returning_new(
    session: AsyncSession,
    table: type[Base],
    rows: Sequence[dict[str, Any]],
    conflict_columns: Sequence[str],
    key_column: Any,
) -> dict[Any, int]:
    target = cast(Table, table.__table__)
    names = [column.name for column in target.columns if column.name in rows[0]]
    dialect = session.get_bind().dialect
    converters = [_converter(target.columns[name].type, dialect) for name in names]
    records = [
        tuple(
            [
                row.get(name) if convert is None else convert(row.get(name))
                for name, convert in zip(names, converters, strict=True)
            ]
        )
        for row in rows
    ]
    staging = _staging_table(target, names)
    await session.execute(CreateTable(staging, if_not_exists=True))
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    if driver is None:  # pragma: no cover - an open session always has its driver connection
        raise RuntimeError("no database connection for COPY")
    await driver.copy_records_to_table(staging.name, records=records, columns=names)
    stmt = (
        postgresql.insert(target)
        .from_select(names, select(*staging.c))
        .on_conflict_do_nothing(index_elements=list(conflict_columns))
        .returning(key_column, target.c.id)
    )
    inserted = (await session.execute(stmt)).all()
    # The staging rows go at commit anyway; cleared now in case the transaction goes on.
    await session.execute(delete(staging))
    return {key: ident for key, ident in inserted}


def _staging_table(target: Table, names: Sequence[str]) -> Table:
    """A temporary table of `target`'s columns `names`, emptied at every commit."""
    return Table(
        f"vigil_staging_{target.name}",
        MetaData(),
        *(Column(name, target.columns[name].type) for name in names),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DELETE ROWS",
    )
