"""The store sink: one transaction per batch holding its events, incidents, dead letters,
counters, block decisions and the source checkpoint, so a batch is stored whole or not at all.

A batch whose checkpoint is already at or past its end was stored before (a replay after a
crash, or the same file scanned twice) and is skipped; event keys come from line origins and
inserts ignore duplicates, so even an overlapping replay stores nothing twice. When the database
is unreachable the sink retries with backoff and holds the batch: the queues in front of it fill
and the sources wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from vigil import metrics
from vigil.batch import ScoredBatch, StoreResult, Threat
from vigil.config import Settings
from vigil.db.bulk import increment, insert_ignore, insert_returning_new, upsert
from vigil.db.models import DeadLetterRow, IngestCheckpoint, ThreatEvent, TrafficCounter
from vigil.db.session import get_db_context
from vigil.errors import DatabaseUnavailableError
from vigil.sinks.blocklist import BlockPolicy, apply_policy, decision_dict
from vigil.sinks.incidents import NewEvent, assign_incidents

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


def threat_row(threat: Threat, site: str, now: datetime) -> dict[str, Any]:
    record = threat.record
    client = threat.components.get("client", {})
    return {
        "event_key": threat.key,
        "site": site,
        "source": record.source[:1024],
        "observed_at": record.observed_at or now,
        "created_at": now,
        "client_ip": record.client_ip[:45],
        "method": record.method[:32],
        "path": record.path[: _FRAGMENT_LIMIT * 4],
        "query": record.query[: _FRAGMENT_LIMIT * 4],
        "status": record.status,
        "bytes_sent": record.bytes_sent,
        "user_agent": record.user_agent[:_FRAGMENT_LIMIT],
        "referer": record.referer[:_FRAGMENT_LIMIT],
        "score": threat.score,
        "severity": threat.severity,
        "detection_mode": threat.detection_mode,
        "categories": threat.categories,
        "matched_rules": threat.matches,
        "component_scores": {k: v for k, v in threat.components.items() if k != "client"},
        "country": client.get("country"),
        "city": client.get("city"),
        "asn": client.get("asn"),
        "as_org": client.get("as_org"),
        "ua_family": client.get("ua_family"),
        "client_class": client.get("client_class"),
        "model_version": threat.model_version,
        "reviewed": False,
    }


def event_message(row: dict[str, Any], event_id: int, incident_id: int | None) -> dict[str, Any]:
    """The JSON published for a stored event (the same shape the API returns)."""
    message = dict(row)
    message["id"] = event_id
    message["incident_id"] = incident_id
    message["observed_at"] = row["observed_at"].isoformat()
    message["created_at"] = row["created_at"].isoformat()
    return message


class StoreSink:
    """Writes scored batches; see the module docstring for the guarantees.

    As a pipeline `Sink` it comes first: `write` stores the batch (retrying through outages)
    and puts the result on `batch.stored` for the sinks after it.
    """

    name = "store"
    durable = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.policy = BlockPolicy.from_settings(settings)
        self.quiet = timedelta(minutes=settings.incident_quiet_minutes)
        self.stored_events = 0
        self.retries = 0
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
            except RETRYABLE as exc:
                self.retries += 1
                metrics.STAGE_ERRORS.labels("store").inc()
                log.warning(
                    "event=store_retry source=%s delay=%.2f error=%s",
                    batch.source,
                    delay,
                    type(exc).__name__,
                )
                if on_retry is not None:
                    await on_retry(exc)
                if stop_requested is not None and stop_requested() and delay >= 8:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.store_retry_max_seconds)
                continue
            self.stored_events += len(result.events)
            metrics.EVENTS_STORED.inc(len(result.events))
            if batch.read_at:
                metrics.LAG_SECONDS.set(max(0.0, time.time() - batch.read_at))
            return result

    async def _write_once(self, batch: ScoredBatch) -> StoreResult:
        now = datetime.now(UTC)
        async with get_db_context() as session:
            stored_offset = await session.scalar(
                select(IngestCheckpoint.byte_offset).where(
                    IngestCheckpoint.source == batch.source,
                    IngestCheckpoint.file_id == batch.file_id,
                )
            )
            if stored_offset is not None and stored_offset >= batch.end_offset:
                return StoreResult(skipped=True, events=[], decisions=[])
            events, decisions = await self._store_threats(session, batch, now)
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
            await self._add_counters(session, batch)
            await self._save_checkpoint(session, batch, now)
        return StoreResult(skipped=False, events=events, decisions=decisions)

    async def _store_threats(
        self, session: AsyncSession, batch: ScoredBatch, now: datetime
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        if not batch.threats:
            return [], []
        rows = {t.key: threat_row(t, batch.site, now) for t in batch.threats}
        # Keys stored before (an overlapping replay) must not count twice in incidents.
        keys = list(rows)
        seen: set[str] = set()
        for start in range(0, len(keys), 1000):
            seen.update(
                await session.scalars(
                    select(ThreatEvent.event_key).where(
                        ThreatEvent.event_key.in_(keys[start : start + 1000])
                    )
                )
            )
        fresh = [
            NewEvent(
                key=key,
                client_ip=row["client_ip"],
                observed_at=row["observed_at"],
                severity=row["severity"],
                score=row["score"],
                categories=row["categories"],
            )
            for key, row in rows.items()
            if key not in seen
        ]
        if not fresh:
            return [], []
        incident_of, incidents = await assign_incidents(session, batch.site, fresh, self.quiet)
        for event in fresh:
            rows[event.key]["incident_id"] = incident_of[event.key].id
        new_ids = await insert_returning_new(
            session, ThreatEvent, [rows[e.key] for e in fresh], ["event_key"], ThreatEvent.event_key
        )
        decisions = await apply_policy(session, batch.site, incidents, self.policy, now)
        events = [
            event_message(rows[key], event_id, rows[key]["incident_id"])
            for key, event_id in new_ids.items()
        ]
        return events, [decision_dict(d) for d in decisions]

    async def _add_counters(self, session: AsyncSession, batch: ScoredBatch) -> None:
        if not batch.counters:
            return
        rows = [
            {
                "site": batch.site,
                "bucket": bucket,
                "requests": counts.get("requests", 0),
                "low": counts.get("low", 0),
                "medium": counts.get("medium", 0),
                "high": counts.get("high", 0),
                "malformed": counts.get("malformed", 0),
                "dead_letters": counts.get("dead_letters", 0),
            }
            for bucket, counts in batch.counters.items()
        ]
        await increment(
            session,
            TrafficCounter,
            rows,
            ["site", "bucket"],
            ["requests", "low", "medium", "high", "malformed", "dead_letters"],
        )

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
