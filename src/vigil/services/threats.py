"""Threat events: filtered keyset pages, one event, and the analyst's review."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, exists, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from vigil.db.models import ThreatEvent, event_rules
from vigil.services.netmatch import Network, client_clause
from vigil.services.pagination import Page, decode_cursor, fetch_page
from vigil.services.visibility import Visibility

ThreatSort = Literal["-observed_at", "observed_at", "-score", "score"]
ReviewLabel = Literal["true_positive", "false_positive"]


@dataclass(frozen=True, slots=True)
class ThreatFilter:
    """What a caller narrows threat events by; every field is optional."""

    severities: tuple[str, ...] = ()
    category: str | None = None
    rule_id: str | None = None
    client: Network | None = None
    path_contains: str | None = None
    site: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    reviewed: bool | None = None
    label: str | None = None
    incident_id: int | None = None


async def threat_conditions(
    session: AsyncSession, visible: Visibility, filters: ThreatFilter
) -> list[ColumnElement[bool]]:
    """The where clauses for `filters` on the events' own columns, always starting with what
    the caller may see (rule and category filters join `event_rules`, see `list_threats`)."""
    te = ThreatEvent
    conditions: list[ColumnElement[bool]] = [visible.clause(te.site)]
    if filters.site is not None:
        conditions.append(te.site == filters.site)
    if filters.severities:
        severity: Any = te.severity
        if filters.site is not None:
            # With a site, the site's index drives the walk and severity only filters it (an
            # expression no index serves): a site's events come in bursts, and the severity
            # index walked every newer event of the other sites first (32 ms for site + HIGH
            # at 10,000,000 events, whose newest 40,000 were of two other sites; 0.1 ms so).
            # Events are MEDIUM or HIGH, so within a site the filter passes a good share.
            severity = te.severity.concat("")
        conditions.append(severity.in_(filters.severities))
    if filters.client is not None:
        conditions.append(await client_clause(session, te.client_ip, filters.client))
    if filters.path_contains:
        conditions.append(te.path.contains(filters.path_contains, autoescape=True))
    if filters.since is not None:
        conditions.append(te.observed_at >= filters.since)
    if filters.until is not None:
        conditions.append(te.observed_at < filters.until)
    if filters.reviewed is True:
        # `= true`, not `IS true`: only the former lets the planner use the partial index
        # (`WHERE reviewed = true`); PostgreSQL does not prove one from the other.
        conditions.append(te.reviewed == true())
    elif filters.reviewed is False:
        conditions.append(te.reviewed.is_(False))
    if filters.label is not None:
        conditions.append(te.label == filters.label)
    if filters.incident_id is not None:
        conditions.append(te.incident_id == filters.incident_id)
    return conditions


def _rule_join(filters: ThreatFilter) -> tuple[Any, list[ColumnElement[bool]]] | None:
    """The `event_rules` rows that drive a rule or category filter, and their conditions."""
    if filters.rule_id is None and filters.category is None:
        return None
    rules = event_rules.alias("matched")
    c = rules.c
    conditions: list[ColumnElement[bool]] = []
    if filters.rule_id is not None:
        conditions.append(c.rule_id == filters.rule_id)
        if filters.category is not None:
            other = event_rules.alias("in_category")
            conditions.append(
                exists().where(
                    other.c.event_id == c.event_id,
                    other.c.observed_at == c.observed_at,
                    other.c.category == filters.category,
                    other.c.first_of_category == true(),
                )
            )
    else:
        # `= true` matches the category index's predicate; with `IS true` PostgreSQL walked
        # the time index and filtered (a rare category: 10 ms at 10,000,000 events, 0.1 ms so).
        conditions += [c.category == filters.category, c.first_of_category == true()]
    return rules, conditions


def _sort_key(sort: ThreatSort) -> tuple[Any, type, bool]:
    column = ThreatEvent.score if sort.endswith("score") else ThreatEvent.observed_at
    kind: type = float if sort.endswith("score") else datetime
    return column, kind, sort.startswith("-")


async def list_threats(
    session: AsyncSession,
    visible: Visibility,
    filters: ThreatFilter,
    *,
    sort: ThreatSort = "-observed_at",
    limit: int = 50,
    cursor: str | None = None,
) -> Page[ThreatEvent]:
    """A page of visible events matching `filters`; raises InvalidCursorError for bad cursors.

    Keyset pages: each page resumes after the (sort key, id) of the previous page's last row,
    stated on the columns of the index that drives the query (the events', or `event_rules`'
    for a rule or category filter), so a deep page costs what the first does. The time bound
    is repeated as a plain comparison so that PostgreSQL skips the partitions it excludes.
    """
    column, kind, descending = _sort_key(sort)
    position: tuple[Any, int] | None = None
    if cursor:
        value, last_id = decode_cursor(cursor, sort, kind)
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        position = (value, last_id)
    conditions = await threat_conditions(session, visible, filters)
    joined = _rule_join(filters)
    if (
        joined is not None
        and column is ThreatEvent.observed_at
        and session.get_bind().dialect.name == "postgresql"
    ):
        stmt = _rule_keys_first(visible, filters, joined, conditions, descending, position)
    else:
        stmt = _joined(filters, joined, conditions, column, descending, position)
    return await fetch_page(
        session, stmt, limit, lambda last: (sort, getattr(last, column.key), last.id)
    )


def _after(
    sort_column: Any, key_id: Any, descending: bool, position: tuple[Any, int]
) -> ColumnElement[bool]:
    row = tuple_(sort_column, key_id)
    return row < position if descending else row > position


def _joined(
    filters: ThreatFilter,
    joined: tuple[Any, list[ColumnElement[bool]]] | None,
    conditions: list[ColumnElement[bool]],
    column: Any,
    descending: bool,
    position: tuple[Any, int] | None,
) -> Select[ThreatEvent]:
    """The events, joined to their rule rows for a rule or category filter, in one ordered
    statement (SQLite's nested loops walk the driving index; so does PostgreSQL without a
    rule filter)."""
    te = ThreatEvent
    stmt = select(te).where(*conditions)
    key_time, key_id = te.observed_at, te.id
    if joined is not None:
        rules, rule_conditions = joined
        stmt = stmt.join(
            rules, and_(rules.c.event_id == te.id, rules.c.observed_at == te.observed_at)
        ).where(*rule_conditions)
        key_time, key_id = rules.c.observed_at, rules.c.event_id
        if filters.since is not None:
            stmt = stmt.where(key_time >= filters.since)
        if filters.until is not None:
            stmt = stmt.where(key_time < filters.until)
    sort_column = key_time if column is te.observed_at else column
    if position is not None:
        stmt = stmt.where(_after(sort_column, key_id, descending, position))
        if column is te.observed_at:
            stmt = stmt.where(key_time <= position[0] if descending else key_time >= position[0])
    order = (sort_column.desc(), key_id.desc()) if descending else (sort_column, key_id)
    return stmt.order_by(*order)


def _rule_keys_first(
    visible: Visibility,
    filters: ThreatFilter,
    joined: tuple[Any, list[ColumnElement[bool]]],
    conditions: list[ColumnElement[bool]],
    descending: bool,
    position: tuple[Any, int] | None,
) -> Select[ThreatEvent]:
    """A rule or category filter on PostgreSQL: the page's keys walked from `event_rules`' index
    in page order, each event then fetched by its key (a LATERAL subquery, so one index probe
    in one partition per key, and the walk stops at the page's end).

    Joined in one statement instead, PostgreSQL estimates a common rule's rows at millions and
    hash-joins every partition of both tables: 10-24 s a page at 10,000,000 events.
    """
    rules, rule_conditions = joined
    c = rules.c
    keys = select(c.event_id, c.observed_at).where(*rule_conditions, visible.clause(c.site))
    if filters.site is not None:
        keys = keys.where(c.site == filters.site)
    if filters.since is not None:
        keys = keys.where(c.observed_at >= filters.since)
    if filters.until is not None:
        keys = keys.where(c.observed_at < filters.until)
    if position is not None:
        keys = keys.where(
            _after(c.observed_at, c.event_id, descending, position),
            c.observed_at <= position[0] if descending else c.observed_at >= position[0],
        )
    page_keys = keys.subquery("page_keys")
    te = ThreatEvent
    # LIMIT 1 (a key names one event) keeps the subquery from being flattened into a join
    # the planner would be free to hash again.
    event = (
        select(te)
        .where(
            te.id == page_keys.c.event_id,
            te.observed_at == page_keys.c.observed_at,
            *conditions,
        )
        .limit(1)
        .lateral("event")
    )
    found = aliased(ThreatEvent, event)
    order = (
        (page_keys.c.observed_at.desc(), page_keys.c.event_id.desc())
        if descending
        else (page_keys.c.observed_at, page_keys.c.event_id)
    )
    return select(found).select_from(page_keys).join(event, true()).order_by(*order)


async def get_threat(
    session: AsyncSession, visible: Visibility, event_id: int
) -> ThreatEvent | None:
    """The event with `event_id` if the caller may see it."""
    stmt = select(ThreatEvent).where(ThreatEvent.id == event_id, visible.clause(ThreatEvent.site))
    return (await session.scalars(stmt)).one_or_none()


async def review_threat(
    session: AsyncSession,
    visible: Visibility,
    event_id: int,
    *,
    label: ReviewLabel,
    note: str | None,
    now: datetime | None = None,
) -> ThreatEvent | None:
    """Mark a visible event reviewed with the analyst's label and note; None if not visible."""
    event = await get_threat(session, visible, event_id)
    if event is None:
        return None
    event.reviewed = True
    event.label = label
    event.review_note = note
    event.reviewed_at = now or datetime.now(UTC)
    await session.flush()
    return event
