"""Who owns which partition: leases in Redis, renewed by their owner, taken over when they
expire, and a share of the partitions for every live worker.

A lease is the key `{prefix}:lease:{p}` holding the owner's id, set with `NX` and an expiry of
`VIGIL_CLUSTER_LEASE_SECONDS`. Live workers keep a heartbeat in the sorted set
`{prefix}:workers` (score: last beat, ms); a worker whose beat is older than a lease is gone.
With n live workers each aims at ceil(P / n) partitions: above it a worker hands partitions
back (after storing what it read and snapshotting their windows), below it a worker takes free
ones. Leases move only when the set of workers changes, and only as many as needed.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from vigil.sources.streams import StreamKeys

__all__ = ["LeaseKeeper", "Leases"]

_RENEW = """
local owner = redis.call('get', KEYS[1])
if owner == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
elseif not owner then
  redis.call('set', KEYS[1], ARGV[1], 'px', ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""

_SNAPSHOT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('hset', KEYS[2], 'pos', ARGV[2], 'behaviour', ARGV[3], 'served', ARGV[4],
             'worker', ARGV[1], 'at', ARGV[5])
  return 1
end
return 0
"""


class Leases:
    """One worker's view of the partition leases (see the module docstring)."""

    def __init__(self, redis: Any, keys: StreamKeys, worker: str, ttl_seconds: float) -> None:
        self.redis = redis
        self.keys = keys
        self.worker = worker
        self.ttl_ms = int(ttl_seconds * 1000)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._snapshot = redis.register_script(_SNAPSHOT)

    async def beat(self) -> list[str]:
        """Record this worker as alive; the live workers, sorted."""
        now = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self.keys.workers, {self.worker: now})
            pipe.zremrangebyscore(self.keys.workers, "-inf", now - self.ttl_ms)
            pipe.zrange(self.keys.workers, 0, -1)
            *_, members = await pipe.execute()
        return sorted(m.decode() for m in members)

    async def leave(self) -> None:
        await self.redis.zrem(self.keys.workers, self.worker)

    @staticmethod
    def share(partitions: int, workers: int) -> int:
        """The most partitions one of `workers` live workers should hold."""
        return math.ceil(partitions / max(1, workers))

    async def acquire(self, partition: int) -> bool:
        return bool(
            await self.redis.set(self.keys.lease(partition), self.worker, nx=True, px=self.ttl_ms)
        )

    async def renew(self, partition: int) -> bool:
        """Extend a held lease (or take it again if it expired unclaimed); False: lost."""
        return bool(
            await self._renew(keys=[self.keys.lease(partition)], args=[self.worker, self.ttl_ms])
        )

    async def release(self, partition: int) -> None:
        await self._release(keys=[self.keys.lease(partition)], args=[self.worker])

    async def save_snapshot(
        self, partition: int, position: str, behaviour: bytes, served: bytes
    ) -> bool:
        """Store a partition's windows as of `position`, only while holding its lease."""
        return bool(
            await self._snapshot(
                keys=[self.keys.lease(partition), self.keys.snapshot(partition)],
                args=[self.worker, position, behaviour, served, int(time.time() * 1000)],
            )
        )


class LeaseKeeper(threading.Thread):
    """Renews the held leases and the worker's heartbeat from a thread of its own.

    A worker's event loop can be busy for seconds (analysing a batch, building a partition's
    pipeline); renewals from a thread still run then, so a busy worker does not lose its
    partitions to a lease that expired only because it was busy. Leases found taken by another
    worker are put in `lost` for the worker to stop those partitions.
    """

    def __init__(self, url: str, keys: StreamKeys, worker: str, ttl_seconds: float) -> None:
        super().__init__(name="lease-keeper", daemon=True)
        from redis import Redis

        self.redis = Redis.from_url(url, socket_timeout=ttl_seconds / 2, socket_connect_timeout=1)
        self.keys = keys
        self.worker = worker
        self.ttl_ms = int(ttl_seconds * 1000)
        self.interval = ttl_seconds / 4
        self._renew = self.redis.register_script(_RENEW)
        self._lock = threading.Lock()
        self._held: set[int] = set()
        self._lost: set[int] = set()
        self._stopping = threading.Event()

    def hold(self, partition: int) -> None:
        with self._lock:
            self._held.add(partition)

    def drop(self, partition: int) -> None:
        with self._lock:
            self._held.discard(partition)

    def take_lost(self) -> set[int]:
        with self._lock:
            lost, self._lost = self._lost, set()
            return lost

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        from redis.exceptions import RedisError

        while not self._stopping.wait(self.interval):
            try:
                with self._lock:
                    held = sorted(self._held)
                # The heartbeat and every renewal in one round trip.
                with self.redis.pipeline(transaction=False) as pipe:
                    pipe.zadd(self.keys.workers, {self.worker: int(time.time() * 1000)})
                    for partition in held:
                        self._renew(
                            keys=[self.keys.lease(partition)],
                            args=[self.worker, self.ttl_ms],
                            client=pipe,
                        )
                    _beat, *renewed = pipe.execute()
                for partition, kept in zip(held, renewed, strict=True):
                    if not kept:
                        with self._lock:
                            if partition in self._held:
                                self._held.discard(partition)
                                self._lost.add(partition)
            except (RedisError, OSError):
                continue  # Redis is away: the next round tries again
        self.redis.close()
