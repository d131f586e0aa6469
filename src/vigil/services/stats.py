"""Dashboard numbers over a time range: counts per bucket, by severity and category, and tops."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, func, literal, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.db.models import ThreatEvent, TrafficCounter
from vigil.services.jsonmatch import unnest_field, unnest_strings
from vigil.services.visibility import Visibility

RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
BUCKET_SIZES = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
MAX_BUCKETS = 60
SEVERITIES = ("HIGH", "MEDIUM", "LOW")


@dataclass(slots=True)
class Bucket:
    start: datetime
    severities: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)


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
    totals: dict[str, int]
    categories: dict[str, int]
    buckets: list[Bucket]
    top_ips: list[Ranked]
    top_paths: list[Ranked]
    top_rules: list[Ranked]
    traffic: dict[str, int]


def bucket_seconds_for(span: timedelta) -> int:
    """The smallest bucket size that covers `span` in at most MAX_BUCKETS buckets."""
    seconds = max(span.total_seconds(), 1.0)
    for size in BUCKET_SIZES:
        if seconds / size <= MAX_BUCKETS:
            return size
    return BUCKET_SIZES[-1]


def _bucket_expr(session: AsyncSession, column: Any, size: int) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        floored = func.floor(func.extract("epoch", column) / literal(size))
        return cast(floored, Integer) * literal(size)
    epoch = cast(func.strftime("%s", column), Integer)
    return epoch.op("/")(literal(size)) * literal(size)


def _bucket_keys(since: datetime, until: datetime, size: int, seen: dict[int, Bucket]) -> list[int]:
    # Empty buckets are listed too, so a chart has a bar (of zero) for every interval.
    first = int(since.timestamp()) // size * size
    keys = set(range(first, int(until.timestamp()), size)) if size else set()
    return sorted(keys | set(seen))


async def compute_stats(
    session: AsyncSession,
    visible: Visibility,
    *,
    since: datetime,
    until: datetime,
    site: str | None = None,
    top: int = 10,
) -> Stats:
    """Counts and tops of visible events observed in [since, until)."""
    te = ThreatEvent
    size = bucket_seconds_for(until - since)
    where: list[ColumnElement[bool]] = [
        visible.clause(te.site),
        te.observed_at >= since,
        te.observed_at < until,
    ]
    if site is not None:
        where.append(te.site == site)

    totals = {s: 0 for s in SEVERITIES}
    for severity, count in await session.execute(
        select(te.severity, func.count()).where(*where).group_by(te.severity)
    ):
        totals[severity] = int(count)

    buckets: dict[int, Bucket] = {}

    def bucket(epoch: Any) -> Bucket:
        key = int(epoch)
        if key not in buckets:
            buckets[key] = Bucket(datetime.fromtimestamp(key, UTC))
        return buckets[key]

    inner = select(_bucket_expr(session, te.observed_at, size).label("b"), te.severity).where(
        *where
    )
    sub = inner.subquery()
    for epoch, severity, count in await session.execute(
        select(sub.c.b, sub.c.severity, func.count()).group_by(sub.c.b, sub.c.severity)
    ):
        bucket(epoch).severities[severity] = int(count)

    cats = unnest_strings(session, te.categories)
    inner_cat = (
        select(_bucket_expr(session, te.observed_at, size).label("b"), cats.c.value.label("c"))
        .select_from(te)
        .join(cats, true())
        .where(*where)
    ).subquery()
    categories: dict[str, int] = {}
    for epoch, category, count in await session.execute(
        select(inner_cat.c.b, inner_cat.c.c, func.count()).group_by(inner_cat.c.b, inner_cat.c.c)
    ):
        bucket(epoch).categories[str(category)] = int(count)
        categories[str(category)] = categories.get(str(category), 0) + int(count)

    top_ips = [
        Ranked(str(ip), int(count), float(score))
        for ip, count, score in await session.execute(
            select(te.client_ip, func.count().label("n"), func.max(te.score))
            .where(*where)
            .group_by(te.client_ip)
            .order_by(func.count().desc(), te.client_ip)
            .limit(top)
        )
    ]
    top_paths = [
        Ranked(str(path), int(count), float(score))
        for path, count, score in await session.execute(
            select(te.path, func.count(), func.max(te.score))
            .where(*where)
            .group_by(te.path)
            .order_by(func.count().desc(), te.path)
            .limit(top)
        )
    ]
    rules, rule_id = unnest_field(session, te.matched_rules, "rule_id")
    rule_sub = select(rule_id.label("r")).select_from(te).join(rules, true()).where(*where)
    rule_rows = rule_sub.subquery()
    top_rules = [
        Ranked(str(rule), int(count))
        for rule, count in await session.execute(
            select(rule_rows.c.r, func.count())
            .where(rule_rows.c.r.is_not(None))
            .group_by(rule_rows.c.r)
            .order_by(func.count().desc(), rule_rows.c.r)
            .limit(top)
        )
    ]

    tc = TrafficCounter
    traffic_where: list[ColumnElement[bool]] = [
        visible.clause(tc.site),
        tc.bucket >= since - timedelta(hours=1),
        tc.bucket < until,
    ]
    if site is not None:
        traffic_where.append(tc.site == site)
    sums = (
        await session.execute(
            select(
                func.coalesce(func.sum(tc.requests), 0),
                func.coalesce(func.sum(tc.low), 0),
                func.coalesce(func.sum(tc.medium), 0),
                func.coalesce(func.sum(tc.high), 0),
            ).where(*traffic_where)
        )
    ).one()
    traffic = dict(zip(("requests", "low", "medium", "high"), map(int, sums), strict=True))

    return Stats(
        since=since,
        until=until,
        bucket_seconds=size,
        totals=totals,
        categories=dict(sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))),
        buckets=[bucket(k) for k in _bucket_keys(since, until, size, buckets)],
        top_ips=top_ips,
        top_paths=top_paths,
        top_rules=top_rules,
        traffic=traffic,
    )
