"""What the cluster looks like from Redis: partitions, their owners and lag, workers, agents.

Lag of a partition: the entries not yet acknowledged by the workers' consumer group (pending
plus not yet delivered), and the age of the oldest of them in seconds (from its stream id,
which is the time Redis received it). `vigil cluster status` prints it; the API node of a
cluster (`vigil serve --cluster`) exports it on `/metrics` per partition.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from vigil.sources.streams import GROUP, StreamKeys, id_ms

__all__ = ["ClusterStatus", "PartitionStatus", "cluster_status"]


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
        owner, length, snapshot = await pipe.execute()
    lag = 0
    oldest: int | None = None
    groups = await redis.xinfo_groups(stream) if length else []
    for group in groups:
        if _text(group["name"]) != GROUP:
            continue
        pending = int(group["pending"])
        undelivered = group.get("lag")
        last = group["last-delivered-id"]
        if undelivered is None:
            # Redis cannot tell after deletions; count what follows the last delivered entry.
            undelivered = len(await redis.xrange(stream, min=b"(" + last, max="+", count=100_000))
        lag = pending + int(undelivered)
        if pending:
            oldest = id_ms((await redis.xpending(stream, GROUP))["min"])
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
