"""Bulk writes on both backends: idempotent inserts (INSERT … ON CONFLICT DO NOTHING), upserts
that add to counters, and on PostgreSQL COPY of rows known to be new and ids drawn from a
sequence in one statement. COPY sends the values in its binary format, encoded by the driver in
C, instead of as one bound parameter each through SQLAlchemy's per-row processing. Upserts on
PostgreSQL send their rows as one array per column, unnested by the server: one statement for
any number of rows (an executemany runs the statement once per row on the server, and a flood's
batch upserts thousands of rollup rows).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, cast

import orjson
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeDecorator, TypeEngine

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


async def increment(
    session: AsyncSession,
    table: type[Base],
    rows: Sequence[dict[str, Any]],
    conflict_columns: Sequence[str],
    counter_columns: Sequence[str],
    greatest: Sequence[str] = (),
) -> None:
    """Insert counter rows, or add their values to the row already stored under the key (and
    keep the larger value of each `greatest` column)."""
    columns = cast(Table, table.__table__).c
    larger = func.greatest if session.get_bind().dialect.name == "postgresql" else func.max

    def updates(excluded: Any) -> dict[str, Any]:
        values = {name: columns[name] + getattr(excluded, name) for name in counter_columns}
        for name in greatest:
            values[name] = larger(columns[name], getattr(excluded, name))
        return values

    await _insert_or_update(session, table, rows, conflict_columns, updates)


async def next_ids(session: AsyncSession, table: Table, count: int) -> list[int]:
    """`count` new ids from the sequence of `table.id` (PostgreSQL), in increasing order."""
    if count <= 0:
        return []
    sequence = func.pg_get_serial_sequence(table.name, "id")
    # One row holding one array: the driver decodes it in C, where `count` rows each went
    # through the result machinery in Python.
    drawn = await session.scalar(
        select(func.array_agg(func.nextval(sequence))).select_from(func.generate_series(1, count))
    )
    return sorted(drawn or [])


async def copy_records(
    session: AsyncSession, table: str, columns: Sequence[str], records: Sequence[tuple[Any, ...]]
) -> None:
    """COPY `records` (values already in the database's types) straight into `table`."""
    if not records:
        return
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    if driver is None:  # pragma: no cover - an open session always has its driver connection
        raise RuntimeError("no database connection for COPY")
    await driver.copy_records_to_table(table, records=records, columns=list(columns))


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
    dialect = session.get_bind().dialect
    target = cast(Table, table.__table__)
    unnested = (
        _unnested(target, rows, conflict_columns, dialect) if dialect.name == "postgresql" else None
    )
    if unnested is not None:
        columns, source = unnested
        from_arrays = postgresql.insert(target).from_select(columns, source)
        await session.execute(
            from_arrays.on_conflict_do_update(
                index_elements=list(conflict_columns), set_=updates(from_arrays.excluded)
            )
        )
        return
    base = _insert_for(session, table)
    stmt = base.on_conflict_do_update(
        index_elements=list(conflict_columns), set_=updates(base.excluded)
    )
    await session.execute(stmt, list(rows))


_ARRAY_ELEMENTS: tuple[type[TypeEngine[Any]], ...] = (
    BigInteger,
    Integer,
    Float,
    Boolean,
    String,
    Text,
    DateTime,
)
"""Column types whose values go into a PostgreSQL array parameter as they are."""


def _unnested(
    table: Table, rows: Sequence[dict[str, Any]], conflict_columns: Sequence[str], dialect: Any
) -> tuple[list[str], Any] | None:
    """`rows` as a SELECT over one array parameter per column (PostgreSQL), or None when a
    column's type has no plain array form, the rows name different columns, or two rows share
    a key (one INSERT … ON CONFLICT DO UPDATE may not update a row twice; an executemany adds
    them one after the other)."""
    columns = list(rows[0])
    if any(len(row) != len(columns) for row in rows):
        return None
    try:
        values = [[row[name] for row in rows] for name in columns]
    except KeyError:
        return None
    elements: list[TypeEngine[Any]] = []
    for index, name in enumerate(columns):
        kind = table.c[name].type
        if isinstance(kind, TypeDecorator):
            # The decorator's own conversion, which a bound array would not apply per value.
            convert = kind.process_bind_param
            values[index] = [convert(value, dialect) for value in values[index]]
            kind = kind.impl_instance
        if not isinstance(kind, _ARRAY_ELEMENTS):
            return None
        elements.append(kind)
    keys = set(zip(*(values[columns.index(name)] for name in conflict_columns), strict=True))
    if len(keys) != len(rows):
        return None
    arrays = (
        func.unnest(
            *(
                bindparam(f"u_{index}", column, type_=postgresql.ARRAY(kind))
                for index, (column, kind) in enumerate(zip(values, elements, strict=True))
            )
        )
        .table_valued(*columns)
        .render_derived()
    )
    return columns, select(*(arrays.c[name] for name in columns))


def json_text(value: Any) -> str:
    """`value` as JSON text, as the JSON columns store it (orjson, with json's generality)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value, default=str)
