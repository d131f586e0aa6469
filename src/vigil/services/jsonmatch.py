"""Membership tests on the JSON list columns of events (categories, matched rules), in SQL.

PostgreSQL tests containment on the value cast to `jsonb`; SQLite walks the list with
`json_each`. Both take the searched value as a bound parameter.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, cast, exists, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def list_contains(session: AsyncSession, column: Any, value: str) -> ColumnElement[bool]:
    """`column` (a JSON list of strings) holds `value`."""
    if _dialect(session) == "postgresql":
        return cast(column, JSONB).contains([value])  # type: ignore[no-any-return]
    items = func.json_each(column).table_valued("value")
    return exists(select(1).select_from(items).where(items.c.value == value))


def list_has_object(
    session: AsyncSession, column: Any, key: str, value: str
) -> ColumnElement[bool]:
    """`column` (a JSON list of objects) holds an object whose `key` is `value`."""
    if _dialect(session) == "postgresql":
        return cast(column, JSONB).contains([{key: value}])  # type: ignore[no-any-return]
    items = func.json_each(column).table_valued("value")
    return exists(
        select(1).select_from(items).where(func.json_extract(items.c.value, f"$.{key}") == value)
    )


def unnest_strings(session: AsyncSession, column: Any) -> Any:
    """A table-valued expression with one row (`value`) per string of a JSON list column."""
    if _dialect(session) == "postgresql":
        return func.json_array_elements_text(column).table_valued("value")
    return func.json_each(column).table_valued("value")


def unnest_field(session: AsyncSession, column: Any, key: str) -> tuple[Any, Any]:
    """A table-valued expression over a JSON list of objects and the expression for `key`."""
    if _dialect(session) == "postgresql":
        items = func.json_array_elements(column).table_valued("value")
        return items, items.c.value.op("->>")(key)
    items = func.json_each(column).table_valued("value")
    return items, func.json_extract(items.c.value, f"$.{key}")
