"""Incidents: one row per client per episode, so an operator reviews 1 incident, not 4,000 events.

An episode ends when the client has been quiet for `quiet` time; its next event opens a new one.
All incidents of a batch are read with one query, the new ones inserted with one statement (on
PostgreSQL a COPY, their ids drawn from the sequence first) and the changed ones updated with one
more. These are Core statements over plain rows: the ORM's unit of work cost more CPU per
incident than the statements themselves.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    Text,
    any_,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.db.bulk import copy_records, json_text, next_ids
from vigil.db.models import Incident, utcnow
from vigil.severity import Severity

_TABLE = cast(Table, Incident.__table__)
_STATE_COLUMNS = (
    "first_seen",
    "last_seen",
    "event_count",
    "top_severity",
    "max_score",
    "categories",
)
_COPY_COLUMNS = ("id", "site", "client_ip", *_STATE_COLUMNS, "status", "created_at")
"""The columns a new incident is written with on PostgreSQL (the others stay NULL)."""
_ARRAY_TYPES: dict[str, Any] = {
    "first_seen": DateTime(timezone=True),
    "last_seen": DateTime(timezone=True),
    "event_count": Integer,
    "top_severity": String,
    "max_score": Float,
}


@dataclass(slots=True)
class NewEvent:
    """What incident and blocklist logic need of an event about to be stored."""

    key: str
    client_ip: str
    observed_at: datetime
    severity: str
    score: float
    categories: list[str]


@dataclass(slots=True, eq=False)
class IncidentState:
    """An incident as the store works on it: its row's values.

    `id` is None until a new incident is inserted.
    """

    site: str
    client_ip: str
    first_seen: datetime
    last_seen: datetime
    event_count: int
    top_severity: str
    max_score: float
    categories: list[str] = field(default_factory=list)
    id: int | None = None
    _merged: list[str] | None = field(default=None, repr=False, compare=False)
    """The categories list last merged in (events of one verdict share theirs)."""

    def merge(self, event: NewEvent) -> None:
        # Called once per stored event: plain comparisons, and the categories are merged only
        # when the event brings one the incident does not have yet.
        moment = event.observed_at
        if moment > self.last_seen:
            self.last_seen = moment
        if moment < self.first_seen:
            self.first_seen = moment
        self.event_count += 1
        if event.score > self.max_score:
            self.max_score = event.score
        if _RANKS.get(event.severity, 0) > _RANKS.get(self.top_severity, 0):
            self.top_severity = event.severity
        categories = event.categories
        if categories and categories is not self._merged:
            self._merged = categories
            if not set(categories).issubset(self.categories):
                self.categories = sorted(set(self.categories) | set(categories))

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _STATE_COLUMNS}


async def assign_incidents(
    session: AsyncSession, site: str, events: list[NewEvent], quiet: timedelta
) -> tuple[dict[str, IncidentState], list[IncidentState]]:
    """Upsert the incidents of `events`; returns event key → incident, and the touched incidents.

    After the call every incident has its id, so events can be inserted pointing at it.
    """
    if not events:
        return {}, []
    by_ip: dict[str, list[NewEvent]] = defaultdict(list)
    for event in events:
        by_ip[event.client_ip].append(event)
    earliest = min(e.observed_at for e in events) - quiet
    latest: dict[str, IncidentState] = {}
    ips = list(by_ip)
    c = _TABLE.c
    postgres = session.get_bind().dialect.name == "postgresql"
    # PostgreSQL takes the clients as one array parameter; SQLite in lists it can bind.
    step = (len(ips) or 1) if postgres else 500
    for start in range(0, len(ips), step):
        chunk = ips[start : start + step]
        among = (
            c.client_ip == any_(bindparam("ips", chunk, type_=ARRAY(String)))
            if postgres
            else c.client_ip.in_(chunk)
        )
        query = select(c.id, c.client_ip, *(c[name] for name in _STATE_COLUMNS)).where(
            c.site == site, among, c.status == "open", c.last_seen >= earliest
        )
        # Only each client's latest incident is wanted. PostgreSQL returns just that one (a
        # client attacking all day has an incident per episode, and reading them all cost more
        # than the events' own statements); elsewhere the latest is the last one read.
        if postgres:
            query = query.ext(distinct_on(c.client_ip)).order_by(c.client_ip, c.last_seen.desc())
        else:
            query = query.order_by(c.last_seen)
        rows = await session.execute(query)
        for row in rows:
            latest[row.client_ip] = IncidentState(
                site=site,
                client_ip=row.client_ip,
                first_seen=row.first_seen,
                last_seen=row.last_seen,
                event_count=row.event_count,
                top_severity=row.top_severity,
                max_score=row.max_score,
                categories=list(row.categories or []),
                id=row.id,
            )

    of_event: dict[str, IncidentState] = {}
    touched: dict[int, IncidentState] = {}
    for ip, client_events in by_ip.items():
        current = latest.get(ip)
        for event in sorted(client_events, key=lambda e: e.observed_at):
            if current is None or event.observed_at - current.last_seen > quiet:
                current = IncidentState(
                    site=site,
                    client_ip=ip,
                    first_seen=event.observed_at,
                    last_seen=event.observed_at,
                    event_count=0,
                    top_severity=event.severity,
                    max_score=event.score,
                )
            current.merge(event)
            of_event[event.key] = current
            touched[id(current)] = current
    incidents = list(touched.values())
    await _write(session, incidents)
    return of_event, incidents


async def _write(session: AsyncSession, incidents: list[IncidentState]) -> None:
    # Every incident passed here took at least one event: the stored ones all need updating.
    fresh = [incident for incident in incidents if incident.id is None]
    changed = [incident for incident in incidents if incident.id is not None]
    postgres = session.get_bind().dialect.name == "postgresql"
    if fresh and postgres:
        # Ids drawn from the sequence in one statement, the rows sent by COPY: a flood opens
        # thousands of incidents a transaction, which an INSERT … RETURNING took through
        # SQLAlchemy's processing row by row.
        ids = await next_ids(session, _TABLE, len(fresh))
        created = utcnow()
        encoded: dict[tuple[str, ...], str] = {}
        records = []
        for incident, ident in zip(fresh, ids, strict=True):
            incident.id = ident
            key = tuple(incident.categories)
            categories = encoded.get(key)
            if categories is None:
                categories = encoded[key] = json_text(incident.categories)
            records.append(
                (
                    ident,
                    incident.site,
                    incident.client_ip,
                    incident.first_seen,
                    incident.last_seen,
                    incident.event_count,
                    incident.top_severity,
                    incident.max_score,
                    categories,
                    "open",
                    created,
                )
            )
        await copy_records(session, "incidents", _COPY_COLUMNS, records)
    elif fresh:
        result = await session.execute(
            insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True),
            [
                {"site": i.site, "client_ip": i.client_ip, "status": "open", **i.values()}
                for i in fresh
            ],
        )
        for incident, ident in zip(fresh, result.scalars().all(), strict=True):
            incident.id = ident
    if changed and postgres:
        # One statement over arrays: an executemany would be one statement per incident.
        values = [i.values() for i in changed]
        arrays = (
            func.unnest(
                bindparam("a_id", [i.id for i in changed], type_=ARRAY(BigInteger)),
                *(
                    bindparam(f"a_{name}", [v[name] for v in values], type_=ARRAY(kind))
                    for name, kind in _ARRAY_TYPES.items()
                ),
                bindparam(
                    "a_categories", [json_text(v["categories"]) for v in values], type_=ARRAY(Text)
                ),
            )
            .table_valued("id", *_ARRAY_TYPES, "categories")
            .render_derived()
        )
        await session.execute(
            update(_TABLE)
            .where(_TABLE.c.id == arrays.c.id)
            .values(
                {name: arrays.c[name] for name in _ARRAY_TYPES}
                | {"categories": sql_cast(arrays.c.categories, JSON)}
            )
        )
    elif changed:
        # Bound names must differ from the column names that the SET clause uses.
        await session.execute(
            update(_TABLE)
            .where(_TABLE.c.id == bindparam("b_id"))
            .values({name: bindparam(f"b_{name}") for name in _STATE_COLUMNS}),
            [{"b_id": i.id, **{f"b_{k}": v for k, v in i.values().items()}} for i in changed],
        )


_RANKS = {s.value: s.rank for s in Severity}
"""Severity → rank, for the stored strings."""
