"""`vigil agent`: tail the web server's logs and append their lines to the cluster's streams.

The files are followed exactly as `vigil serve` follows them (`FileTailer`: formats, rotation,
copytruncate, rotated generations found again after a stop); only the checkpoints live in Redis
(`{prefix}:agent:{name}:checkpoints`) instead of the database. Each batch the tailer hands out
is split by client address (`ClientSplitter`) into one entry per partition, and all of them go
to Redis in one `MULTI`/`EXEC` together with the file's new checkpoint. So the checkpoint moves
exactly when the lines are in the streams: a killed agent resends nothing and skips nothing.

While Redis is unreachable the agent holds the batch and retries (back-off up to
`MAX_RETRY_SECONDS`), and the tailer reads no further: the log file is the buffer, nothing is
dropped. When a reply was lost (the connection broke during `EXEC`), the stored checkpoint says
whether the transaction happened, so a retry never writes the lines twice. When the workers
fall behind so far that a partition holds more than `VIGIL_CLUSTER_MAX_BACKLOG` entries, the
agent waits for them in the same way; streams are trimmed only by the workers, only below what
every consumer group has acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from vigil.batch import LineBatch
from vigil.config import BrokerSection, ClusterSection, Settings
from vigil.errors import ConfigError
from vigil.sources.clientsplit import ClientSplitter
from vigil.sources.streams import StreamKeys, encode_chunk, ensure_partitions, partition_of

__all__ = ["RedisCheckpoints", "StreamWriter", "run_agent"]

log = logging.getLogger(__name__)

MAX_RETRY_SECONDS = 1.0
HEARTBEAT_SECONDS = 5.0
BACKLOG_CHECK_SECONDS = 1.0


def redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError, OSError)


class RedisCheckpoints:
    """The tailer's checkpoints of one agent, kept in a Redis hash (file id → offset)."""

    def __init__(self, redis: Any, keys: StreamKeys, agent: str) -> None:
        self.redis = redis
        self.key = keys.agent_checkpoints(agent)

    async def load_all(self, source: str) -> dict[str, int]:
        stored = await self.redis.hgetall(self.key)
        return {k.decode(): int(v) for k, v in stored.items()}


class StreamWriter:
    """Writes tailer batches to the partition streams (see the module docstring)."""

    def __init__(
        self,
        redis: Any,
        keys: StreamKeys,
        partitions: int,
        splitter: ClientSplitter,
        *,
        agent: str,
        site: str | None,
        max_backlog: int,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.partitions = partitions
        self.splitter = splitter
        self.agent = agent
        self.site = site
        self.max_backlog = max_backlog
        self.checkpoints_key = keys.agent_checkpoints(agent)
        self.lines_sent = 0
        self.entries_sent = 0
        self.retries = 0
        self._backlog_checked = 0.0
        self._errors = redis_errors()

    def chunks(
        self, batch: LineBatch, source: str | None = None, site: str | None = None
    ) -> dict[int, dict[str, bytes | str]]:
        """One entry per partition that has lines of `batch` (of this agent's source and
        site unless given)."""
        clients = self.splitter.clients(batch)
        parts: dict[int, list[int]] = {}
        for index, client in enumerate(clients):
            partition = partition_of(client, self.partitions) if client else 0
            parts.setdefault(partition, []).append(index)
        count = len(batch.lines)
        entries: dict[int, dict[str, bytes | str]] = {}
        for partition, indexes in parts.items():
            last = indexes[-1]
            end = batch.offsets[last + 1] if last + 1 < count else batch.end_offset
            entries[partition] = encode_chunk(
                source or self.agent,
                batch.file_id,
                site or self.site,
                [batch.lines[i] for i in indexes],
                [batch.offsets[i] for i in indexes],
                end,
                [n for n, i in enumerate(indexes) if i in batch.oversized],
            )
        return entries

    async def send(
        self, batch: LineBatch, source: str | None = None, site: str | None = None
    ) -> None:
        """Append `batch` and move its file's checkpoint, retrying until both are in Redis."""
        if not batch.lines:
            return
        entries = self.chunks(batch, source, site)
        delay = 0.1
        outage_since: float | None = None
        uncertain = False
        while True:
            try:
                if uncertain and await self._already_sent(batch):
                    break
                await self._wait_for_room(entries)
                uncertain = True
                async with self.redis.pipeline(transaction=True) as pipe:
                    for partition, fields in entries.items():
                        pipe.xadd(self.keys.lines(partition), fields)
                    pipe.hset(self.checkpoints_key, batch.file_id, batch.end_offset)
                    pipe.hset(self.keys.agents, self.agent, int(time.time() * 1000))
                    await pipe.execute()
                break
            except self._errors as exc:
                self.retries += 1
                if outage_since is None:
                    outage_since = time.monotonic()
                    log.warning(
                        "event=agent_redis_unavailable error=%s; holding the batch, the log waits",
                        type(exc).__name__,
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)
        if outage_since is not None:
            log.info("event=agent_redis_back held_seconds=%.1f", time.monotonic() - outage_since)
        self.lines_sent += len(batch.lines)
        self.entries_sent += len(entries)

    async def _already_sent(self, batch: LineBatch) -> bool:
        """Whether a transaction whose reply was lost happened (its checkpoint is stored)."""
        stored = await self.redis.hget(self.checkpoints_key, batch.file_id)
        return stored is not None and int(stored) >= batch.end_offset

    async def _wait_for_room(self, entries: dict[int, dict[str, bytes | str]]) -> None:
        """Wait while a partition of `entries` holds more than `max_backlog` entries."""
        now = time.monotonic()
        if now - self._backlog_checked < BACKLOG_CHECK_SECONDS:
            return
        waited = False
        while True:
            async with self.redis.pipeline(transaction=False) as pipe:
                for partition in entries:
                    pipe.xlen(self.keys.lines(partition))
                lengths = await pipe.execute()
            if max(lengths) <= self.max_backlog:
                break
            if not waited:
                log.warning(
                    "event=agent_backlog_full entries=%d limit=%d; waiting for the workers",
                    max(lengths),
                    self.max_backlog,
                )
                waited = True
            await asyncio.sleep(0.5)
        self._backlog_checked = time.monotonic()


async def _heartbeat(redis: Any, keys: StreamKeys, agent: str) -> None:
    """Tell `vigil cluster status` this agent is alive while its logs are quiet."""
    errors = redis_errors()
    while True:
        with contextlib.suppress(*errors):
            await redis.hset(keys.agents, agent, int(time.time() * 1000))
        await asyncio.sleep(HEARTBEAT_SECONDS)


async def connect_cluster(
    broker: BrokerSection, cluster: ClusterSection
) -> tuple[Any, StreamKeys, int]:
    """A Redis client, the cluster's keys and its partition count, waiting for Redis (the
    cluster's Redis and prefix are the broker section's)."""
    if not broker.redis_url:
        raise ConfigError("VIGIL_REDIS_URL must be set for the cluster (agents and workers)")
    from redis.asyncio import Redis

    # A generous read timeout: a worker's loop may be busy for seconds between reads.
    redis = Redis.from_url(broker.redis_url, socket_timeout=30, socket_connect_timeout=3)
    keys = StreamKeys(broker.prefix)
    delay = 0.2
    errors = redis_errors()
    while True:
        try:
            partitions = await ensure_partitions(redis, keys, cluster.partitions)
            return redis, keys, partitions
        except errors as exc:
            log.warning("event=cluster_redis_unavailable error=%s", type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)


async def run_agent(settings: Settings, paths: Sequence[str] | None = None) -> None:
    """Tail `paths` (default VIGIL_LOG_PATHS) into the cluster until cancelled; each part is
    built from its section of `settings` (agent, cluster, broker, parser, file source)."""
    from vigil.sources.tailer import FileTailer

    agent, cluster = settings.agent, settings.cluster
    name = agent.name
    redis, keys, partitions = await connect_cluster(settings.broker, cluster)
    writer = StreamWriter(
        redis,
        keys,
        partitions,
        ClientSplitter.from_section(settings.parser),
        agent=name,
        site=settings.site,
        max_backlog=cluster.max_backlog,
    )
    # Each batch becomes an entry per partition and, on the worker, a transaction: a longer
    # batch time makes them fewer and larger.
    files = settings.file_source
    tailer = FileTailer.from_section(
        files.model_copy(update={"batch_time_ms": agent.batch_ms}),
        paths,
        source=name,
        checkpoints=RedisCheckpoints(redis, keys, name),
    )
    log.info(
        "event=agent_started agent=%s partitions=%d paths=%s",
        name,
        partitions,
        ",".join(paths or files.paths),
    )
    beat = asyncio.create_task(_heartbeat(redis, keys, name))
    try:
        async for batch in tailer.batches():
            await writer.send(batch)
    finally:
        beat.cancel()
        await redis.aclose()
