"""Rollups: the counts /stats and the dashboard show, kept per site and minute, hour and day in
the same transaction as the events they count.

`traffic_rollups` counts every request (severity, status class, bytes; per hour and day also a
HyperLogLog sketch of the distinct clients, from Apache DataSketches). `threat_rollups` counts
stored events by severity, category, rule, client, path, country, status, ASN and user agent
per hour and day, and by severity and category per minute (the chart of short ranges).

Top lists are bounded the way web-analytics archives bound their reports: each bucket keeps
the `ROLLUP_CAPS` biggest clients, paths, rules, ASNs and user agents. A value that does not
make its bucket's top counts in the bucket's total (the severity rows) but not in its top
list, so a month's top list reads at most cap × days rows however many clients attacked.
Counts are only ever added (never overwritten), so several writers never lose one another's
counts; which values are kept is decided from a per-process view of each bucket that can lag
behind other writers, which can only affect which borderline value is listed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Table, and_, delete, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.db.bulk import increment
from vigil.db.models import ThreatRollup, TrafficRollup

ROLLUP_CAPS = {"client": 100, "path": 100, "rule": 500, "asn": 100, "ua": 100}
"""Values kept per bucket for the dimensions that can have very many."""
VALUE_LIMIT = 512
SKETCH_LG_K = 12
"""HyperLogLog precision: 4,096 registers, about 1.6% standard error."""
PERIODS = ("m", "h", "d")
THREAT_DIMS = (
    "severity",
    "category",
    "rule",
    "client",
    "path",
    "country",
    "status",
    "asn",
    "ua",
)
MINUTE_DIMS = ("severity", "category")
MULTI_DIMS = frozenset({"category", "rule"})
"""Dimensions of which an event can have several values."""
TRAFFIC_COUNTERS = (
    "requests",
    "low",
    "medium",
    "high",
    "malformed",
    "dead_letters",
    "bytes_sent",
    "status_2xx",
    "status_3xx",
    "status_4xx",
    "status_5xx",
    "status_other",
)
_CACHE_LIMIT = 4096

_THREATS = cast(Table, ThreatRollup.__table__)
_TRAFFIC = cast(Table, TrafficRollup.__table__)


def floor_to(moment: datetime, period: str) -> datetime:
    """The start of the minute, hour or day (UTC) holding `moment`."""
    moment = moment.astimezone(UTC)
    if period == "m":
        return moment.replace(second=0, microsecond=0)
    if period == "h":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


PERIOD_SECONDS = {"m": 60, "h": 3600, "d": 86400}


@dataclass(slots=True)
class _Tally:
    events: int = 0
    max_score: float = 0.0


@dataclass
class ThreatCounts:
    """Stored events counted by (period, bucket, dim, value) for one site.

    A transaction's events are added at once (`add_events`) and counted with C-level counters
    over (bucket, value) pairs, so the cost per event is a few list appends rather than a
    dictionary update per dimension and bucket.
    """

    site: str
    cells: dict[tuple[str, datetime, str, str], _Tally] = field(default_factory=dict)

    def add_events(
        self,
        observed: Sequence[datetime],
        scores: Sequence[float],
        dims: dict[str, Sequence[Any]],
    ) -> None:
        """Count events: `dims` maps each dimension to the value of every event, a string (None
        where the event has none) or, for `MULTI_DIMS`, a tuple of strings.

        Events are first counted by (value, score) with a C-level counter over each run of
        events in the same bucket (a log is written in time order, so a batch is a few runs):
        a flood repeats few of those pairs, so the Python work is per distinct pair and run,
        not per event. Minute counts, where kept, are summed into hours, and hours into days.
        """
        minute_of: dict[datetime, datetime] = {}
        minutes: list[datetime] = []
        for moment in observed:
            minute = minute_of.get(moment)
            if minute is None:
                minute = minute_of[moment] = floor_to(moment, "m")
            minutes.append(minute)
        hour_of = {minute: minute.replace(minute=0) for minute in set(minutes)}
        minute_runs = _runs(minutes)
        hour_runs = _runs([hour_of[minute] for minute in minutes])
        for dim, per_event in dims.items():
            multi = dim in MULTI_DIMS
            if dim in MINUTE_DIMS:
                tallies = _count(minute_runs, per_event, scores, multi)
                self._store("m", dim, tallies)
                tallies = _roll_up(tallies, hour_of.__getitem__)
            else:
                tallies = _count(hour_runs, per_event, scores, multi)
            self._store("h", dim, tallies)
            self._store("d", dim, _roll_up(tallies, lambda hour: hour.replace(hour=0)))

    def _store(self, period: str, dim: str, tallies: _Tallies) -> None:
        cells = self.cells
        for bucket, (counts, best) in tallies.items():
            for value, n in counts.items():
                key = (period, bucket, dim, value)
                tally = cells.get(key)
                if tally is None:
                    tally = cells[key] = _Tally()
                tally.events += n
                score = best[value]
                if score > tally.max_score:
                    tally.max_score = score


def _runs(buckets: list[datetime]) -> list[tuple[datetime, int, int]]:
    """The runs of equal buckets in `buckets`: (bucket, start, end)."""
    runs: list[tuple[datetime, int, int]] = []
    start = 0
    for bucket, members in groupby(buckets):
        end = start + sum(1 for _ in members)
        runs.append((bucket, start, end))
        start = end
    return runs


_Tallies = dict[datetime, tuple[Counter[str], dict[str, float]]]
"""Per bucket: events per value, and the best score of each value."""
_SCORE = itemgetter(1)


def _count(
    runs: list[tuple[datetime, int, int]],
    per_event: Sequence[Any],
    scores: Sequence[float],
    multi: bool,
) -> _Tallies:
    """Events per value and the best score of each, per bucket, over `runs` of the events.

    A single-valued dimension is counted by C-level calls only: a Counter of the values, and
    the best score of each value as the last one written of its distinct (value, score) pairs
    sorted by score. A flood's paths, agents and clients are many per batch; the tuples of a
    multi-valued dimension are few (one per verdict), and are unpacked in Python."""
    tallies: _Tallies = {}
    for bucket, start, end in runs:
        values = per_event[start:end]
        found = tallies.get(bucket)
        if found is None:
            found = tallies[bucket] = (Counter(), {})
        counts, best = found
        if multi:
            pairs = Counter(zip(values, scores[start:end], strict=True))
            for (value, score), n in pairs.items():
                if value is None:
                    continue
                for one in value:
                    counts[one] += n
                    if score > best.get(one, -1.0):
                        best[one] = score
            continue
        counts.update(values)
        top = dict(sorted(set(zip(values, scores[start:end], strict=True)), key=_SCORE))
        _keep_best(best, top)
        # Events without a value of this dimension count in no row of it.
        cast(dict[Any, int], counts).pop(None, None)
        cast(dict[Any, float], best).pop(None, None)
    return tallies


def _roll_up(tallies: _Tallies, coarser: Callable[[datetime], datetime]) -> _Tallies:
    """`tallies` summed into the coarser buckets that `coarser` maps theirs to. The first finer
    bucket of each coarser one lends it its counts, which the others are added to: call this
    once the finer counts are stored (`ThreatCounts._store` copies them into cells)."""
    total: _Tallies = {}
    for bucket, (counts, best) in tallies.items():
        key = coarser(bucket)
        found = total.get(key)
        if found is None:
            total[key] = (counts, best)
            continue
        into, top = found
        into.update(counts)
        _keep_best(top, best)
    return total


def _keep_best(best: dict[str, float], scores: dict[str, float]) -> None:
    """Raise each value's best score in `best` to its score in `scores` where that is higher."""
    if not best:
        best.update(scores)
        return
    for value, score in scores.items():
        if score > best.get(value, -1.0):
            best[value] = score


class RollupWriter:
    """Adds one transaction's counts to the rollup tables; keeps the per-process view of the
    capped buckets (see the module docstring). Call `committed()` after the commit and
    `rolled_back()` after a failure, so the view follows what the database holds."""

    def __init__(self) -> None:
        self._tops: dict[tuple[str, str, datetime, str], dict[str, int]] = {}
        self._pending: dict[tuple[str, str, datetime, str], dict[str, int]] = {}

    async def add_threats(self, session: AsyncSession, counts: ThreatCounts) -> None:
        if not counts.cells:
            return
        site = counts.site
        grouped: dict[tuple[str, datetime, str], dict[str, _Tally]] = defaultdict(dict)
        for (period, bucket, dim, value), tally in counts.cells.items():
            grouped[(period, bucket, dim)][value] = tally
        rows: list[dict[str, Any]] = []
        evict: list[tuple[str, str, datetime, str, str]] = []
        await self._load_tops(session, site, [key for key in grouped if key[2] in ROLLUP_CAPS])
        for (period, bucket, dim), values in grouped.items():
            cap = ROLLUP_CAPS.get(dim)
            if cap is not None:
                values = self._capped(site, period, bucket, dim, values, cap, evict)
            for value, tally in values.items():
                rows.append(
                    {
                        "period": period,
                        "dim": dim,
                        "bucket": bucket,
                        "site": site,
                        "value": value,
                        "events": tally.events,
                        "max_score": tally.max_score,
                    }
                )
        if evict:
            t = _THREATS.c
            await session.execute(
                delete(_THREATS).where(
                    tuple_(t.site, t.period, t.bucket, t.dim, t.value).in_(evict)
                )
            )
        rows.sort(key=lambda r: (r["period"], r["dim"], r["bucket"], r["value"]))
        await increment(
            session,
            ThreatRollup,
            rows,
            ["period", "dim", "bucket", "site", "value"],
            ["events"],
            greatest=["max_score"],
        )

    async def _load_tops(
        self, session: AsyncSession, site: str, keys: list[tuple[str, datetime, str]]
    ) -> None:
        missing = [k for k in keys if (site, *k) not in self._tops]
        if not missing:
            return
        t = _THREATS.c
        for start in range(0, len(missing), 200):
            chunk = missing[start : start + 200]
            for key in chunk:
                self._tops[(site, *key)] = {}
            rows = await session.execute(
                select(t.period, t.bucket, t.dim, t.value, t.events).where(
                    t.site == site,
                    or_(*(and_(t.period == p, t.bucket == b, t.dim == d) for p, b, d in chunk)),
                )
            )
            for period, bucket, dim, value, events in rows:
                top = (site, period, bucket.astimezone(UTC), dim)
                self._tops.setdefault(top, {})[value] = int(events)
        if len(self._tops) > _CACHE_LIMIT:
            # The oldest buckets are the least likely to be written again.
            for old in sorted(self._tops, key=lambda k: k[2])[: len(self._tops) // 2]:
                del self._tops[old]

    def _capped(
        self,
        site: str,
        period: str,
        bucket: datetime,
        dim: str,
        values: dict[str, _Tally],
        cap: int,
        evict: list[tuple[str, str, datetime, str, str]],
    ) -> dict[str, _Tally]:
        key = (site, period, bucket, dim)
        stored = self._tops.get(key, {})
        merged = dict(stored)
        for value, tally in values.items():
            merged[value] = merged.get(value, 0) + tally.events
        if len(merged) <= cap:
            self._pending[key] = merged
            return values
        kept = set(sorted(merged, key=lambda v: (-merged[v], v))[:cap])
        for value in stored:
            if value not in kept:
                evict.append((site, period, bucket, dim, value))
        self._pending[key] = {v: merged[v] for v in kept}
        return {v: t for v, t in values.items() if v in kept}

    def committed(self) -> None:
        self._tops.update(self._pending)
        self._pending.clear()

    def rolled_back(self) -> None:
        for key in self._pending:
            self._tops.pop(key, None)
        self._pending.clear()


def status_class(status: int | None) -> str:
    if status is None or not 200 <= status < 600:
        return "status_other"
    return f"status_{status // 100}xx"


async def add_traffic(
    session: AsyncSession,
    site: str,
    minutes: dict[datetime, Counter[str]],
    visitors: dict[datetime, set[str]],
) -> None:
    """Add per-minute request counters, summed into their hours and days, and the clients of
    each hour to the hour's and day's distinct-client sketches."""
    if not minutes and not visitors:
        return
    sums: dict[tuple[str, datetime], Counter[str]] = {}
    for minute, counts in minutes.items():
        minute = floor_to(minute, "m")
        for period in PERIODS:
            key = (period, floor_to(minute, period))
            total = sums.get(key)
            if total is None:
                sums[key] = total = Counter()
            total.update(counts)
    for hour in visitors:
        for period in ("h", "d"):
            sums.setdefault((period, floor_to(hour, period)), Counter())
    rows = [
        {
            "period": period,
            "bucket": bucket,
            "site": site,
            **{name: int(counts.get(name, 0)) for name in TRAFFIC_COUNTERS},
        }
        for (period, bucket), counts in sorted(sums.items())
    ]
    await increment(session, TrafficRollup, rows, ["period", "bucket", "site"], TRAFFIC_COUNTERS)
    if visitors:
        await _add_visitors(session, site, visitors)


async def _add_visitors(
    session: AsyncSession, site: str, visitors: dict[datetime, set[str]]
) -> None:
    import datasketches

    clients: dict[tuple[str, datetime], set[str]] = defaultdict(set)
    for hour, ips in visitors.items():
        for period in ("h", "d"):
            clients[(period, floor_to(hour, period))].update(ips)
    t = _TRAFFIC.c
    keys = sorted(clients)
    # The rows exist (the counters were just added) and are locked by that upsert.
    stored = {
        (period, bucket.astimezone(UTC)): sketch
        for period, bucket, sketch in await session.execute(
            select(t.period, t.bucket, t.visitors).where(
                t.site == site, tuple_(t.period, t.bucket).in_(keys)
            )
        )
    }
    updates = []
    for key in keys:
        union = datasketches.hll_union(SKETCH_LG_K)
        previous = stored.get(key)
        if previous:
            union.update(datasketches.hll_sketch.deserialize(previous))
        sketch = datasketches.hll_sketch(SKETCH_LG_K)
        for ip in clients[key]:
            sketch.update(ip)
        union.update(sketch)
        updates.append(
            {
                "b_period": key[0],
                "b_bucket": key[1],
                "b_site": site,
                "b_visitors": union.get_result().serialize_compact(),
            }
        )
    from sqlalchemy import bindparam

    await session.execute(
        update(_TRAFFIC)
        .where(
            t.period == bindparam("b_period"),
            t.bucket == bindparam("b_bucket"),
            t.site == bindparam("b_site"),
        )
        .values(visitors=bindparam("b_visitors")),
        updates,
    )


def distinct_clients(sketches: Iterable[bytes | None]) -> int:
    """The estimated number of distinct clients over several buckets' sketches."""
    import datasketches

    union = datasketches.hll_union(SKETCH_LG_K)
    empty = True
    for sketch in sketches:
        if sketch:
            union.update(datasketches.hll_sketch.deserialize(sketch))
            empty = False
    return 0 if empty else round(union.get_result().get_estimate())


def day_start(moment: datetime) -> datetime:
    return floor_to(moment, "d")


ONE_DAY = timedelta(days=1)
