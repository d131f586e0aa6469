"""Dashboard numbers over a time range, read from the rollup tables only (never from events).

A range is read at the finest resolution that gives at most `MAX_BUCKETS` chart buckets from
one rollup period: minutes up to 6 hours, hours up to 8 days, days beyond. Its ends are then
aligned to that period (the response says which window it covers), so the chart, the severity
totals and the traffic counters are exact sums of whole rollup buckets. Top lists and distinct
clients come from hour and day rollups: whole days inside the window from day rows, the rest
from hour rows (a window of minutes is widened to its whole hours for them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    and_,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.db.models import ThreatRollup, TrafficRollup
from vigil.services.visibility import Visibility
from vigil.sinks.rollups import PERIOD_SECONDS, TRAFFIC_COUNTERS, distinct_clients, floor_to

RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
MAX_BUCKETS = 60
MAX_SPAN_DAYS = 3660
"""The longest range /stats reads (ten years of day rollups, at most 41 chart buckets)."""
SEVERITIES = ("HIGH", "MEDIUM", "LOW")
RESOLUTIONS = (
    ("m", timedelta(hours=6), (60, 300, 900, 1800, 3600)),
    ("h", timedelta(days=8), (3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)),
    ("d", timedelta(days=MAX_SPAN_DAYS + 1), (86400, 7 * 86400, 30 * 86400, 91 * 86400)),
)
TOP_DIMS = {
    "client": "top_ips",
    "path": "top_paths",
    "rule": "top_rules",
    "country": "top_countries",
    "status": "top_statuses",
    "asn": "top_asns",
    "ua": "top_user_agents",
}
BUCKET_SIZES = tuple(size for _, _, sizes in RESOLUTIONS for size in sizes)

# The tables' Core columns: the statements here return plain rows, and through the ORM's
# attributes every statement and every row also passed its entity-loading steps.
_THREATS = ThreatRollup.__table__.c
_TRAFFIC = TrafficRollup.__table__.c


@dataclass(slots=True)
class Bucket:
    start: datetime
    severities: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    traffic: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Ranked:
    value: str
    count: int
    max_score: float | None = None


@dataclass(slots=True)
class Stats:
    """What /stats returns."""

    since: datetime
    until: datetime
    bucket_seconds: int
    resolution: str
    totals: dict[str, int]
    categories: dict[str, int]
    buckets: list[Bucket]
    top_ips: list[Ranked]
    top_paths: list[Ranked]
    top_rules: list[Ranked]
    top_countries: list[Ranked]
    top_statuses: list[Ranked]
    top_asns: list[Ranked]
    top_user_agents: list[Ranked]
    traffic: dict[str, int]
    latest: datetime | None


def resolution_for(span: timedelta) -> tuple[str, int]:
    """The rollup period and chart bucket size for a range of `span`."""
    seconds = max(span.total_seconds(), 1.0)
    for period, longest, sizes in RESOLUTIONS:
        if span <= longest:
            for size in sizes:
                if seconds / size <= MAX_BUCKETS:
                    return period, size
    return "d", RESOLUTIONS[-1][2][-1]


def bucket_seconds_for(span: timedelta) -> int:
    """The chart bucket size for a range of `span`."""
    return resolution_for(span)[1]


def ceil_to(moment: datetime, period: str) -> datetime:
    floored = floor_to(moment, period)
    if floored == moment:
        return floored
    return floored + timedelta(seconds=PERIOD_SECONDS[period])


def tiles(since: datetime, until: datetime) -> list[tuple[str, datetime, datetime]]:
    """[since, until) (whole hours) as day rows where whole days fit, hour rows elsewhere."""
    first_day = ceil_to(since, "d")
    last_day = floor_to(until, "d")
    if first_day >= last_day:
        return [("h", since, until)]
    parts = [("d", first_day, last_day)]
    if since < first_day:
        parts.append(("h", since, first_day))
    if last_day < until:
        parts.append(("h", last_day, until))
    return parts


def _tile_clause(table: Any, parts: list[tuple[str, datetime, datetime]]) -> ColumnElement[bool]:
    return or_(
        *(
            and_(table.period == period, table.bucket >= start, table.bucket < end)
            for period, start, end in parts
        )
    )


def _slot(column: Any, size: int, dialect: str) -> ColumnElement[Any]:
    """The chart bucket of a rollup bucket: its epoch seconds divided by `size`, floored."""
    if dialect == "postgresql":
        # date_part's double, not extract's numeric: numeric division and floor were a quarter
        # of a week's chart query (5,400 hour rows). Exact: a bucket's epoch is a whole number
        # of minutes, and a correctly rounded quotient of two integers floors to the true one.
        return cast(func.floor(func.date_part("epoch", column) / size), BigInteger)
    # SQLite keeps the naive UTC text; integer division floors positive epochs.
    return cast(func.strftime("%s", column), Integer) / size


def _total(column: Any) -> ColumnElement[int]:
    """SUM of a bigint column as a bigint: PostgreSQL's own SUM gives numeric, which the
    driver turns into a Decimal per value (over a thousand of them for a week's chart)."""
    return cast(func.sum(column), BigInteger)


def _sites(table: Any, visible: Visibility, site: str | None) -> list[ColumnElement[bool]]:
    where = [visible.clause(table.site)]
    if site is not None:
        where.append(table.site == site)
    return where


async def compute_stats(
    session: AsyncSession,
    visible: Visibility,
    *,
    since: datetime,
    until: datetime,
    site: str | None = None,
    top: int = 10,
) -> Stats:
    """Counts and tops of the visible sites' events in [since, until), from rollups."""
    period, size = resolution_for(until - since)
    since = floor_to(since, period)
    until = ceil_to(until, period)
    tr, th = _THREATS, _TRAFFIC

    # Every chart bucket of the range, empty ones too; rollup rows are added to them below.
    first_slot = int(since.timestamp()) // size
    buckets: dict[int, Bucket] = {
        slot: Bucket(datetime.fromtimestamp(slot * size, UTC))
        for slot in range(first_slot, -(-int(until.timestamp()) // size))
    }

    def bucket(slot: int) -> Bucket:
        found = buckets.get(slot)
        if found is None:  # not expected: a rollup bucket is inside [since, until)
            found = buckets[slot] = Bucket(datetime.fromtimestamp(slot * size, UTC))
        return found

    # Rollup rows are summed into chart buckets by the database: a week of hour rows is
    # thousands of rows, its chart 56 buckets.
    dialect = session.get_bind().dialect.name
    threat_slot = _slot(tr.bucket, size, dialect)
    totals = dict.fromkeys(SEVERITIES, 0)
    categories: dict[str, int] = {}
    # Rows are fetched at once (`all`): iterating the result fetches them one call a row.
    chart_rows = await session.execute(
        select(threat_slot, tr.dim, tr.value, _total(tr.events))
        .where(
            tr.period == period,
            tr.dim.in_(("severity", "category")),
            tr.bucket >= since,
            tr.bucket < until,
            *_sites(tr, visible, site),
        )
        .group_by(threat_slot, tr.dim, tr.value)
    )
    for slot, dim, value, count in chart_rows.all():
        n = int(count)
        target = bucket(int(slot))
        if dim == "severity":
            target.severities[value] = target.severities.get(value, 0) + n
            totals[value] = totals.get(value, 0) + n
        else:
            target.categories[value] = target.categories.get(value, 0) + n
            categories[value] = categories.get(value, 0) + n

    traffic = dict.fromkeys(TRAFFIC_COUNTERS, 0)
    sums = [_total(th[name]) for name in TRAFFIC_COUNTERS]
    traffic_slot = _slot(th.bucket, size, dialect)
    traffic_rows = await session.execute(
        select(traffic_slot, *sums)
        .where(
            th.period == period, th.bucket >= since, th.bucket < until, *_sites(th, visible, site)
        )
        .group_by(traffic_slot)
    )
    for slot, *values in traffic_rows.all():
        target = bucket(int(slot))
        for name, value in zip(TRAFFIC_COUNTERS, values, strict=True):
            traffic[name] += int(value or 0)
            target.traffic[name] = target.traffic.get(name, 0) + int(value or 0)
        target.requests += int(values[0] or 0)

    # Tops and distinct clients: whole hours, as day rows where whole days fit.
    parts = tiles(floor_to(since, "h"), ceil_to(until, "h"))
    ranked = (
        select(
            tr.dim,
            tr.value,
            _total(tr.events).label("n"),
            func.max(tr.max_score).label("m"),
            func.row_number()
            .over(partition_by=tr.dim, order_by=(func.sum(tr.events).desc(), tr.value))
            .label("r"),
        )
        .where(tr.dim.in_(tuple(TOP_DIMS)), _tile_clause(tr, parts), *_sites(tr, visible, site))
        .group_by(tr.dim, tr.value)
        .subquery()
    )
    tops: dict[str, list[Ranked]] = {name: [] for name in TOP_DIMS.values()}
    for dim, value, count, score in await session.execute(
        select(ranked.c.dim, ranked.c.value, ranked.c.n, ranked.c.m)
        .where(ranked.c.r <= top)
        .order_by(ranked.c.dim, ranked.c.r)
    ):
        keeps_score = dim in ("client", "path")
        tops[TOP_DIMS[dim]].append(
            Ranked(str(value), int(count), float(score) if keeps_score else None)
        )
    sketches = await session.scalars(
        select(th.visitors).where(
            _tile_clause(th, parts), th.visitors.is_not(None), *_sites(th, visible, site)
        )
    )
    traffic["visitors"] = distinct_clients(sketches)

    return Stats(
        since=since,
        until=until,
        bucket_seconds=size,
        resolution=period,
        totals=totals,
        categories=dict(sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))),
        buckets=[buckets[key] for key in sorted(buckets)],
        top_ips=tops["top_ips"],
        top_paths=tops["top_paths"],
        top_rules=tops["top_rules"],
        top_countries=tops["top_countries"],
        top_statuses=tops["top_statuses"],
        top_asns=tops["top_asns"],
        top_user_agents=tops["top_user_agents"],
        traffic=traffic,
        latest=await latest_data(session, visible, site),
    )


async def latest_data(
    session: AsyncSession, visible: Visibility, site: str | None = None
) -> datetime | None:
    """The end of the newest hour holding any visible request or event (None: no data).

    Both reads walk a primary key backwards from its newest hour, so they stay cheap at any
    table size; they go in one statement (one round trip).
    """
    tr, th = _THREATS, _TRAFFIC
    newest_event = (
        select(func.max(tr.bucket))
        .where(tr.period == "h", tr.dim == "severity", *_sites(tr, visible, site))
        .scalar_subquery()
    )
    newest_request = (
        select(func.max(th.bucket))
        .where(th.period == "h", *_sites(th, visible, site))
        .scalar_subquery()
    )
    row = (await session.execute(select(newest_event, newest_request))).one()
    found: list[datetime] = [moment for moment in row if moment is not None]
    if not found:
        return None
    newest = max(
        moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment for moment in found
    )
    return newest + timedelta(hours=1)
