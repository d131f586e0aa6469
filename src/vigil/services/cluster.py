"""What the cluster looks like from Redis: partitions, their owners and lag, workers, agents.

Lag of a partition: the entries not yet acknowledged by the workers' consumer group (pending
plus not yet delivered), and the age of the oldest of them in seconds (from its stream id,
which is the time Redis received it). `vigil cluster status` prints it; the API node of a
cluster (`vigil serve --cluster`) exports it on `/metrics` per partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from vigil import metrics
from vigil.config import Settings
from vigil.sources.agent import StreamWriter, connect_cluster, redis_errors
from vigil.sources.clientsplit import ClientSplitter
from vigil.sources.http import HttpIngest
from vigil.sources.streams import GROUP, StreamKeys, id_ms, id_tuple

__all__ = [
    "ClusterIngest",
    "ClusterStatus",
    "PartitionStatus",
    "cluster_status",
    "notify_controls_changed",
]

log = logging.getLogger(__name__)

LAG_COUNT_LIMIT = 1000
"""Undelivered entries counted one by one where Redis does not know the lag (after trimming);
a larger lag shows as this many."""


@dataclass(slots=True)
class PartitionStatus:
    partition: int
    owner: str | None
    length: int
    lag_entries: int
    lag_seconds: float
    snapshot_position: str | None


@dataclass(slots=True)
class ClusterStatus:
    prefix: str
    partitions: list[PartitionStatus]
    workers: dict[str, float]
    """Live and recently seen workers: seconds since their last beat."""
    agents: dict[str, float]
    """Agents: seconds since their last contact."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def lag_entries(self) -> int:
        return sum(p.lag_entries for p in self.partitions)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _partition(redis: Any, keys: StreamKeys, partition: int, now_ms: int) -> PartitionStatus:
    stream = keys.lines(partition)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(keys.lease(partition))
        pipe.xlen(stream)
        pipe.hget(keys.snapshot(partition), "pos")
        pipe.xrevrange(stream, count=1)
        owner, length, snapshot, newest = await pipe.execute()
    lag = 0
    oldest: int | None = None
    groups = await redis.xinfo_groups(stream) if length else []
    for group in groups:
        if _text(group["name"]) != GROUP:
            continue
        pending = int(group["pending"])
        undelivered = group.get("lag")
        last = group["last-delivered-id"]
        if newest and id_tuple(last) >= id_tuple(newest[0][0]):
            # Everything was delivered. Redis's own lag can say otherwise after it restarts from
            # its append-only file (the group's read counter is restored older than its last
            # delivered id), and a cluster would then never show lag 0 again.
            undelivered = 0
        elif undelivered is None:
            # Redis cannot tell after trimming; count what follows the last delivered entry,
            # up to a bound (a status read must stay cheap however far behind the workers are).
            undelivered = len(
                await redis.xrange(stream, min=b"(" + last, max="+", count=LAG_COUNT_LIMIT)
            )
        lag = pending + int(undelivered)
        smallest = (await redis.xpending(stream, GROUP))["min"] if pending else None
        if smallest is not None:
            oldest = id_ms(smallest)
        elif undelivered:
            after = await redis.xrange(stream, min=b"(" + last, max="+", count=1)
            if after:
                oldest = id_ms(after[0][0])
    return PartitionStatus(
        partition=partition,
        owner=_text(owner) if owner is not None else None,
        length=int(length),
        lag_entries=lag,
        lag_seconds=round(max(0.0, (now_ms - oldest) / 1000), 3) if oldest else 0.0,
        snapshot_position=_text(snapshot) if snapshot is not None else None,
    )


async def cluster_status(redis: Any, prefix: str) -> ClusterStatus:
    """The status of the cluster under `prefix` (no partitions when none was created)."""
    keys = StreamKeys(prefix)
    now_ms = int(time.time() * 1000)
    stored = await redis.hget(keys.cluster, "partitions")
    count = int(stored) if stored is not None else 0
    partitions = [await _partition(redis, keys, p, now_ms) for p in range(count)]
    workers = {
        _text(name): round((now_ms - score) / 1000, 1)
        for name, score in await redis.zrange(keys.workers, 0, -1, withscores=True)
    }
    agents = {
        _text(name): round((now_ms - int(seen)) / 1000, 1)
        for name, seen in (await redis.hgetall(keys.agents)).items()
    }
    return ClusterStatus(prefix, partitions, workers, agents)


class ClusterIngest:
    """The API node's pipeline handle in a cluster (`vigil serve --cluster`): lines posted to
    `/ingest/batch` go to the partition streams like an agent's, numbered by this process's
    ingest stream (`vigil.sources.http`); `/metrics` gets each partition's lag.

    `try_submit` offers the lines to the HTTP ingest source without waiting (full: the route
    answers 429); one task pulls its batches and sends them in order, holding a batch while
    Redis is away. Allowlist and exclusion changes are
    stored by the API; `set_exclusions` then raises the cluster's controls counter, on which
    every worker re-reads them from the database at its next lease round (and workers re-read
    them every `VIGIL_CLUSTER_CONTROLS_SECONDS` anyway, so a change is not lost while Redis is
    away).
    """

    LAG_EVERY_SECONDS = 5.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._tasks: list[asyncio.Task[None]] = []
        self._ingest = HttpIngest(settings.queue_size)
        self._redis: Any = None
        self._keys: StreamKeys | None = None
        self._notices: set[asyncio.Task[None]] = set()
        self.writer: StreamWriter | None = None
        self.sent = 0

    async def start(self) -> None:
        settings = self.settings
        self._redis, keys, partitions = await connect_cluster(settings.broker, settings.cluster)
        self._keys = keys
        self.writer = StreamWriter(
            self._redis,
            keys,
            partitions,
            ClientSplitter.from_section(settings.parser),
            agent=f"api-{settings.agent.name}",
            site=settings.site,
            max_backlog=settings.cluster.max_backlog,
        )
        self._tasks = [
            asyncio.create_task(self._send(), name="cluster-ingest"),
            asyncio.create_task(self._lag(), name="cluster-lag"),
        ]

    async def stop(self) -> None:
        # What was accepted goes out first (bounded: a Redis that stays away is not waited for).
        self._ingest.close()
        if self._tasks:
            await asyncio.wait(self._tasks[:1], timeout=10)
        for task in [*self._tasks, *self._notices]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._notices, return_exceptions=True)
        if self._redis is not None:
            await self._redis.aclose()

    def try_submit(self, source: str, lines: list[bytes], site: str) -> bool:
        if self.writer is None:
            return False
        return self._ingest.offer(source, lines, site)

    async def _send(self) -> None:
        assert self.writer is not None
        async for batch in self._ingest.batches():
            await self.writer.send(batch, source=batch.source, site=batch.site)
            self.sent += len(batch.lines)

    async def _lag(self) -> None:
        errors = redis_errors()
        while True:
            with contextlib.suppress(*errors):
                status = await cluster_status(self._redis, self.settings.broker.prefix)
                for part in status.partitions:
                    label = str(part.partition)
                    metrics.CLUSTER_LAG_ENTRIES.labels(label).set(part.lag_entries)
                    metrics.CLUSTER_LAG_SECONDS.labels(label).set(part.lag_seconds)
            await asyncio.sleep(self.LAG_EVERY_SECONDS)

    def stats(self) -> dict[str, Any]:
        return {
            "cluster": True,
            "queues": {"ingest": self._ingest.pending},
            "queue_capacity": self.settings.runner.queue_size,
            "totals": {"lines": self.sent},
            "database_healthy": True,
        }

    def set_exclusions(
        self, site: str | None, exclusions: list[dict[str, Any]], allowlist: list[dict[str, Any]]
    ) -> None:
        """The entries are stored: tell the workers to re-read them."""
        if self._redis is None or self._keys is None:
            return
        task = asyncio.create_task(notify_controls_changed(self._redis, self._keys))
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)


async def notify_controls_changed(redis: Any, keys: StreamKeys) -> None:
    """Raise the controls counter the workers watch (a failure is logged: the workers' periodic
    re-read still finds the change)."""
    try:
        await redis.incr(keys.controls)
    except redis_errors() as exc:
        log.warning("event=controls_notice_failed error=%s", type(exc).__name__)
