"""The store sink: one transaction per batch holding its events, incidents, dead letters,
counters, block decisions and the source checkpoint, so a batch is stored whole or not at all.

A batch whose checkpoint is already at or past its end was stored before (a replay after a
crash, or the same file scanned twice) and is skipped. Event keys come from line origins; a batch
that starts before its file's checkpoint (an overlapping replay) has its keys looked up and the
stored ones left out, so nothing is stored twice. The rest go in without per-event round trips:
on PostgreSQL by COPY straight into the (partitioned) events table with ids drawn from its
sequence in one statement, on SQLite by one multi-row insert; their matched rules go into
`event_rules` the same way. Incidents, decisions and rollups are then updated with a few
statements per transaction (one row per client, bucket or value, never per event). Should a key
meet a unique violation anyway (another writer of the same file), the batch is written again with
its keys checked. When the database is unreachable the sink retries with backoff and holds the
batch: the queues in front of it fill and the sources wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from vigil import metrics
from vigil.batch import ScoredBatch, StoreResult, Threat
from vigil.config import Settings
from vigil.db.bulk import copy_records, insert_ignore, json_text, next_ids, upsert
from vigil.db.models import DeadLetterRow, IngestCheckpoint, ThreatEvent, event_rules
from vigil.db.partitions import PARTITIONED_TABLES, Partitions, day_of, partition_name
from vigil.db.session import get_db_context, get_engine
from vigil.errors import DatabaseUnavailableError
from vigil.sinks.blocklist import BlockPolicy, apply_policy
from vigil.sinks.campaigns import assign_campaigns
from vigil.sinks.incidents import NewEvent, assign_incidents
from vigil.sinks.rollups import VALUE_LIMIT, RollupWriter, ThreatCounts, add_traffic

log = logging.getLogger(__name__)

RETRYABLE = (
    OperationalError,
    DBAPIError,
    PoolTimeoutError,
    OSError,
    DatabaseUnavailableError,
    TimeoutError,
    ConnectionError,
)
_FRAGMENT_LIMIT = 2048
_ROLLUP_LOCK_SPACE = 0x76696732
"""First key of the advisory lock a site's rollup updates take (the second: the site's hash);
the number is arbitrary but fixed."""


EVENT_COLUMNS = (
    "id",
    "event_key",
    "site",
    "source",
    "observed_at",
    "created_at",
    "client_ip",
    "method",
    "path",
    "query",
    "status",
    "bytes_sent",
    "user_agent",
    "referer",
    "score",
    "severity",
    "detection_mode",
    "categories",
    "matched_rules",
    "component_scores",
    "country",
    "city",
    "asn",
    "as_org",
    "ua_family",
    "client_class",
    "model_version",
    "incident_id",
    "reviewed",
)
_JSON_COLUMNS = frozenset({"categories", "matched_rules", "component_scores"})
RULE_COLUMNS = ("event_id", "observed_at", "site", "rule_id", "category", "first_of_category")
_EVENTS = cast(Table, ThreatEvent.__table__)
_NO_CLIENT: dict[str, Any] = {}


def threat_row(threat: Threat, site: str, now: datetime) -> dict[str, Any]:
    """An event as a column → value mapping (the API's shape, before its id)."""
    return _stored_row(_event_values(threat, site, now, None))


def _stored_row(values: Sequence[Any]) -> dict[str, Any]:
    """Event values (`_event_values`) as a column → value mapping, as stored and shown."""
    row = dict(zip(EVENT_COLUMNS[1:], values, strict=True))
    row["component_scores"] = _stored_components(row["component_scores"])
    return row


def _stored_components(components: dict[str, Any]) -> dict[str, Any]:
    """A threat's component scores as stored: without the client facts, which have columns of
    their own. `_event_values` leaves them in (the row shares the threat's dict); they are left
    out where the row is written or shown."""
    if not components.get("client"):
        return components
    return {k: v for k, v in components.items() if k != "client"}


def _event_values(
    threat: Threat, site: str, now: datetime, incident_id: int | None
) -> tuple[Any, ...]:
    record = threat.record
    components = threat.components
    client = components.get("client", _NO_CLIENT)
    return (
        threat.key,
        site,
        record.source[:1024],
        record.observed_at or now,
        now,
        record.client_ip[:45],
        record.method[:32],
        record.path[: _FRAGMENT_LIMIT * 4],
        record.query[: _FRAGMENT_LIMIT * 4],
        record.status,
        record.bytes_sent,
        record.user_agent[:_FRAGMENT_LIMIT],
        record.referer[:_FRAGMENT_LIMIT],
        threat.score,
        threat.severity,
        threat.detection_mode,
        threat.categories,
        threat.matches,
        components,
        client.get("country"),
        client.get("city"),
        client.get("asn"),
        client.get("as_org"),
        client.get("ua_family"),
        client.get("client_class"),
        threat.model_version,
        incident_id,
        False,
    )


def _asn_label(asn: int, org: str | None) -> str:
    """An ASN as the rollups keep it: its number and, when known, its organisation."""
    return f"AS{asn} {org}"[:VALUE_LIMIT] if org else f"AS{asn}"


def event_message(row: dict[str, Any], event_id: int, incident_id: int | None) -> dict[str, Any]:
    """The JSON published for a stored event (the same shape the API returns)."""
    message = dict(row)
    message["id"] = event_id
    message["incident_id"] = incident_id
    message["observed_at"] = row["observed_at"].isoformat()
    message["created_at"] = row["created_at"].isoformat()
    return message


def _rule_shapes(
    categories: list[str], matches: list[dict[str, Any]]
) -> list[tuple[str, str, bool]]:
    """The `event_rules` rows of an event as (rule id, category, first of its category): one
    per distinct rule, one more per category that came without a rule. One row per category
    of the event is marked for the category index, so a category filter finds each event
    once."""
    wanted = set(categories)
    rows: list[tuple[str, str, bool]] = []
    seen_rules: set[str] = set()
    marked: set[str] = set()
    for match in matches:
        rule = str(match.get("rule_id", ""))[:64]
        if rule in seen_rules:
            continue
        seen_rules.add(rule)
        category = str(match.get("category", ""))[:32]
        first = category in wanted and category not in marked
        if first:
            marked.add(category)
        rows.append((rule, category, first))
    for category in categories:
        if category[:32] not in marked:
            marked.add(category[:32])
            rows.append(("", category[:32], True))
    return rows


_Shape = tuple[list[tuple[str, str, bool]], tuple[str, ...], tuple[str, ...]]
"""An event's `event_rules` rows, and its rules and categories as the rollups count them."""


async def record_event_rows(
    session: AsyncSession,
    rollups: RollupWriter,
    ids: list[int],
    values: list[tuple[Any, ...]],
    later: list[ThreatCounts] | None = None,
) -> Counter[date]:
    """Write what stored events add beside their rows: their `event_rules` rows and their
    counts in the threat rollups (put in `later`, when given, for the caller to write at the
    end of its transaction). `values` are rows as `_event_values` makes them, all of one site;
    returns the events per day."""
    if not values:
        return Counter()
    rules: list[tuple[Any, ...]] = []
    rule_ids: list[tuple[str, ...]] = []
    # Threats of one verdict share their lists (see `_store_threats`): the rows' shape is
    # worked out once per distinct pair while `values` keeps the lists alive.
    category_ids: list[tuple[str, ...]] = []
    shapes: dict[tuple[int, int], _Shape] = {}
    append = rules.append
    for ident, row in zip(ids, values, strict=True):
        categories, matches = row[16], row[17]
        known = shapes.get((id(categories), id(matches)))
        if known is None:
            shape = _rule_shapes(categories, matches)
            known = shapes[(id(categories), id(matches))] = (
                shape,
                tuple([r[0][:VALUE_LIMIT] for r in shape if r[0]]),
                tuple([c[:VALUE_LIMIT] for c in categories]),
            )
        observed_at, site = row[3], row[1]
        for rule, category, first in known[0]:
            append((ident, observed_at, site, rule, category, first))
        rule_ids.append(known[1])
        category_ids.append(known[2])
    observed = [row[3] for row in values]
    counts = ThreatCounts(values[0][1])
    counts.add_events(
        observed,
        [row[13] for row in values],
        {
            "severity": [row[14] for row in values],
            "category": category_ids,
            "rule": rule_ids,
            "client": [row[5][:VALUE_LIMIT] for row in values],
            "path": [row[7][:VALUE_LIMIT] for row in values],
            "country": [row[19] or None for row in values],
            "status": [None if row[9] is None else str(row[9]) for row in values],
            "asn": [_asn_label(row[21], row[22]) if row[21] else None for row in values],
            "ua": [row[11][:VALUE_LIMIT] or None for row in values],
        },
    )
    # A flood's events share a few hundred distinct times a batch: each is dated once.
    days: Counter[date] = Counter()
    for moment, n in Counter(observed).items():
        days[day_of(moment)] += n
    if session.get_bind().dialect.name == "postgresql":
        await copy_records(session, "event_rules", RULE_COLUMNS, rules)
    elif rules:
        await session.execute(
            insert(event_rules), [dict(zip(RULE_COLUMNS, row, strict=True)) for row in rules]
        )
    if later is not None:
        later.append(counts)
    else:
        await rollups.add_threats(session, counts)
    return days


class StoreSink:
    """Writes scored batches; see the module docstring for the guarantees.

    As a pipeline `Sink` it comes first: `write` stores the batch (retrying through outages)
    and puts the result on `batch.stored` for the sinks after it. `messages` False skips
    building the published shape of each event (a scan that publishes to nobody); counts and
    incident ids are returned either way.
    """

    name = "store"
    durable = True

    def __init__(self, settings: Settings, *, messages: bool = True) -> None:
        # Built from its section of the settings (`Settings.store`), nothing else.
        self.section = section = settings.store
        self.policy = BlockPolicy.from_section(section)
        self.quiet = timedelta(minutes=section.incident_quiet_minutes)
        self.messages = messages
        self.stored_events = 0
        self.retries = 0
        self.partitions = Partitions()
        self.rollups = RollupWriter()
        self.changed_days: Counter[date] = Counter()
        """Events stored per day since the last `analyze_changed`."""
        self._check_keys = False
        self.healthy = True
        self._stopping: Callable[[], bool] = _never

    async def start(self, stopping: Callable[[], bool]) -> None:
        self._stopping = stopping

    async def write(self, batch: ScoredBatch) -> None:
        batch.stored = await self.store(
            batch, stop_requested=self._stopping, on_retry=self._unhealthy
        )
        self.healthy = True

    async def close(self) -> None:
        return None

    async def _unhealthy(self, exc: BaseException) -> None:
        self.healthy = False

    async def store(
        self,
        batch: ScoredBatch,
        stop_requested: Callable[[], bool] | None = None,
        on_retry: Callable[[BaseException], Awaitable[None]] | None = None,
    ) -> StoreResult:
        """Store `batch`, retrying through database outages until it is committed."""
        delay = 0.25
        while True:
            try:
                result = await self._write_once(batch)
            except IntegrityError as exc:
                # A key stored by another writer since this batch was read, or a row whose day
                # partition retention has just dropped: the batch is written again with every
                # key checked first and the partitions read again.
                self.rollups.rolled_back()
                self.partitions.reset()
                if not self._check_keys:
                    self._check_keys = True
                    log.warning("event=store_key_conflict source=%s", batch.source)
                    continue
                await self._backoff(batch, exc, delay, stop_requested, on_retry)
                delay = min(delay * 2, self.section.retry_max_seconds)
                continue
            except RETRYABLE as exc:
                self.rollups.rolled_back()
                self.partitions.reset()
                await self._backoff(batch, exc, delay, stop_requested, on_retry)
                delay = min(delay * 2, self.section.retry_max_seconds)
                continue
            self._check_keys = False
            self.rollups.committed()
            self.stored_events += result.stored
            metrics.EVENTS_STORED.inc(result.stored)
            if batch.read_at:
                metrics.LAG_SECONDS.set(max(0.0, time.time() - batch.read_at))
            return result

    async def _backoff(
        self,
        batch: ScoredBatch,
        exc: BaseException,
        delay: float,
        stop_requested: Callable[[], bool] | None,
        on_retry: Callable[[BaseException], Awaitable[None]] | None,
    ) -> None:
        self.retries += 1
        metrics.STAGE_ERRORS.labels("store").inc()
        log.warning(
            "event=store_retry source=%s delay=%.2f error=%s detail=%r",
            batch.source,
            delay,
            type(exc).__name__,
            str(getattr(exc, "orig", exc)).splitlines()[0][:200] if str(exc) else "",
        )
        if on_retry is not None:
            await on_retry(exc)
        if stop_requested is not None and stop_requested() and delay >= 8:
            raise exc
        await asyncio.sleep(delay)

    async def _write_once(self, batch: ScoredBatch) -> StoreResult:
        now = datetime.now(UTC)
        if batch.threats:
            days = {day_of(t.record.observed_at or now) for t in batch.threats}
            await self.partitions.ensure(get_engine(), days)
        async with get_db_context() as session:
            stored_offset = await session.scalar(
                select(IngestCheckpoint.byte_offset).where(
                    IngestCheckpoint.source == batch.source,
                    IngestCheckpoint.file_id == batch.file_id,
                )
            )
            if stored_offset is not None and stored_offset >= batch.end_offset:
                return StoreResult(skipped=True, events=[], decisions=[])
            later: list[ThreatCounts] = []
            result = await self._store_threats(session, batch, now, stored_offset, later)
            await insert_ignore(
                session,
                DeadLetterRow,
                [
                    {
                        "source": d.source[:512],
                        "file_id": d.file_id,
                        "byte_offset": d.offset,
                        "raw": d.raw,
                        "reason": d.reason[:255],
                        "created_at": now,
                    }
                    for d in batch.dead_letters
                ],
                ["source", "file_id", "byte_offset"],
            )
            await self._save_checkpoint(session, batch, now)
            # The rollup rows of a site's current minute, hour and day are updated by every
            # transaction of that site: by all the partitions of a cluster at once. Written
            # last, their row locks are held from here to the commit, not through the
            # statements before, and the other writers wait that much less. One writer of a
            # site at a time goes through them (they were one at a time anyway, all updating
            # the same minute's row): the evictions of capped values lock rows in no order of
            # their own, and two writers taking the same rows in two orders deadlocked.
            if session.get_bind().dialect.name == "postgresql":
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(:space, hashtext(:site))"),
                    {"space": _ROLLUP_LOCK_SPACE, "site": batch.site},
                )
            for counts in later:
                await self.rollups.add_threats(session, counts)
            await add_traffic(session, batch.site, batch.counters, batch.visitors)
        return result

    async def _fresh(
        self, session: AsyncSession, batch: ScoredBatch, stored_offset: int | None
    ) -> list[Threat]:
        """The threats of `batch` not stored before, each key once.

        Keys are looked up only when the batch starts before the stored checkpoint of its file
        (a replay that overlaps what was stored): every event comes from a line before its
        batch's end, so a batch that starts at or after the checkpoint holds no stored event.
        """
        unique: dict[str, Threat] = {}
        for threat in batch.threats:
            unique.setdefault(threat.key, threat)
        threats = list(unique.values())
        first = min(t.record.offset for t in threats)
        if not self._check_keys and (stored_offset is None or stored_offset <= first):
            return threats
        # A stored copy of an event has its line's time: keys are looked up within the time
        # span of each chunk, which the unique key (observed_at, event_key) serves. An event
        # whose line had no time was stored with the time of its store, so its key is looked
        # up alone.
        timed = sorted(
            (t for t in threats if t.record.observed_at is not None),
            key=lambda t: cast(datetime, t.record.observed_at),
        )
        untimed = [t.key for t in threats if t.record.observed_at is None]
        te = ThreatEvent
        seen: set[str] = set()
        for start in range(0, len(timed), 1000):
            chunk = timed[start : start + 1000]
            seen.update(
                await session.scalars(
                    select(te.event_key).where(
                        te.observed_at >= chunk[0].record.observed_at,
                        te.observed_at <= chunk[-1].record.observed_at,
                        te.event_key.in_([t.key for t in chunk]),
                    )
                )
            )
        for start in range(0, len(untimed), 1000):
            seen.update(
                await session.scalars(
                    select(te.event_key).where(te.event_key.in_(untimed[start : start + 1000]))
                )
            )
        return [t for t in threats if t.key not in seen]

    async def _store_threats(
        self,
        session: AsyncSession,
        batch: ScoredBatch,
        now: datetime,
        stored_offset: int | None,
        later: list[ThreatCounts],
    ) -> StoreResult:
        """Store the batch's new events; their rollup counts go in `later`."""
        if not batch.threats:
            return StoreResult(skipped=False, events=[], decisions=[])
        fresh = await self._fresh(session, batch, stored_offset)
        if not fresh:
            return StoreResult(skipped=False, events=[], decisions=[])
        site = batch.site
        incident_of, incidents = await assign_incidents(
            session,
            site,
            [
                NewEvent(
                    key=t.key,
                    client_ip=t.record.client_ip[:45],
                    observed_at=t.record.observed_at or now,
                    severity=t.severity,
                    score=t.score,
                    categories=t.categories,
                )
                for t in fresh
            ],
            self.quiet,
        )
        values = [_event_values(t, site, now, incident_of[t.key].id) for t in fresh]
        if session.get_bind().dialect.name == "postgresql":
            ids = await next_ids(session, _EVENTS, len(values))
            # Threats of one verdict share their lists: each is encoded once per batch (the
            # batch keeps them alive, so an id is not reused meanwhile; a cache kept across
            # batches held tens of megabytes of old verdicts in a flood).
            encoded: dict[int, str] = {}

            def as_json(value: Any) -> str:
                known = encoded.get(id(value))
                if known is None:
                    known = encoded[id(value)] = json_text(value)
                return known

            # Component scores are a small dict per event, mostly with the same few values.
            components: dict[Any, str] = {}

            def components_json(value: dict[str, Any]) -> str:
                # Keyed by the stored items (all but the client facts), with no dict made
                # per event.
                try:
                    items = value.items()
                    key: Any = (
                        tuple([item for item in items if item[0] != "client"])
                        if value.get("client")
                        else tuple(items)
                    )
                    known = components.get(key)
                except TypeError:  # a list among the values (a profile's reasons)
                    return json_text(_stored_components(value))
                if known is None:
                    known = components[key] = json_text(dict(key))
                return known

            await copy_records(
                session,
                "threat_events",
                EVENT_COLUMNS,
                [
                    (
                        ident,
                        *row[:16],
                        as_json(row[16]),
                        as_json(row[17]),
                        components_json(row[18]),
                        *row[19:],
                    )
                    for ident, row in zip(ids, values, strict=True)
                ],
            )
        else:
            result = await session.execute(
                insert(_EVENTS).returning(_EVENTS.c.id, sort_by_parameter_order=True),
                [_stored_row(row) for row in values],
            )
            ids = list(result.scalars().all())
        self.changed_days.update(await record_event_rows(session, self.rollups, ids, values, later))
        # Campaign members are blocked with their campaign as the reason, before the policy
        # looks at each client on its own.
        campaigns = await assign_campaigns(session, site, fresh, self.policy, now)
        decisions = campaigns.decisions
        decisions += await apply_policy(session, site, incidents, self.policy, now)
        events: list[dict[str, Any]] = []
        if self.messages:
            events = [
                event_message(_stored_row(row), ident, row[26])
                for ident, row in zip(ids, values, strict=True)
            ]
        return StoreResult(
            skipped=False,
            events=events,
            decisions=decisions,
            stored=len(ids),
            incident_ids={i.id for i in incidents if i.id is not None} | campaigns.incident_ids,
        )

    async def analyze_changed(self, minimum: int = 10_000) -> list[str]:
        """ANALYZE what a bulk load changed, so the next queries are planned on statistics of
        the data they read (autovacuum may be off, and it never analyzes a partitioned parent).

        On PostgreSQL: the partitions of each day that received `minimum` events or more since
        the last call, and the incident and rollup tables; returns the tables analyzed.
        """
        days = [day for day, n in self.changed_days.items() if n >= minimum]
        if not days:
            return []
        for day in days:
            del self.changed_days[day]
        engine = get_engine()
        if engine.dialect.name != "postgresql":
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
            return ["*"]
        tables = ["incidents", "decisions", "threat_rollups", "traffic_rollups"]
        async with engine.begin() as conn:
            if await self.partitions.check(conn):
                for day in sorted(days):
                    tables += [partition_name(t, day) for t in PARTITIONED_TABLES]
            else:
                tables += list(PARTITIONED_TABLES)
            for name in tables:
                # Names come from this module and dates, never from input.
                await conn.execute(text(f'ANALYZE "{name}"'))
        log.info("event=analyzed tables=%d", len(tables))
        return tables

    async def _save_checkpoint(
        self, session: AsyncSession, batch: ScoredBatch, now: datetime
    ) -> None:
        await upsert(
            session,
            IngestCheckpoint,
            [
                {
                    "source": batch.source,
                    "file_id": batch.file_id,
                    "byte_offset": batch.end_offset,
                    "updated_at": now,
                }
            ],
            ["source", "file_id"],
            ["byte_offset", "updated_at"],
        )


async def load_checkpoints(source: str | None = None) -> dict[tuple[str, str], int]:
    """Stored checkpoints, keyed by (source, file id)."""
    async with get_db_context() as session:
        query = select(
            IngestCheckpoint.source, IngestCheckpoint.file_id, IngestCheckpoint.byte_offset
        )
        if source is not None:
            query = query.where(IngestCheckpoint.source == source)
        rows = await session.execute(query)
        return {(s, f): o for s, f, o in rows}


class DbCheckpointStore:
    """The tailer's view of the `ingest_checkpoints` table."""

    async def load_all(self, source: str) -> dict[str, int]:
        stored = await load_checkpoints(source)
        return {file_id: offset for (_source, file_id), offset in stored.items()}


def _never() -> bool:
    return False
