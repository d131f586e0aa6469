"""One partition of a cluster's line streams as a `Source`: what a worker's pipeline reads.

The partition's stream is read through the consumer group `workers` (`vigil.sources.streams`):
first, after a restart or a takeover, again from where the last snapshot ended (or from the
first entry no group has acknowledged), then the entries not yet delivered to the group. Each
read becomes batches whose origin is the line's own (agent, file identity with the partition,
byte offset), so the store writes that origin's checkpoint — the stream position — in the
transaction of the events, and a replayed entry is skipped: exactly once in the database.

The reader knows nothing of acknowledgements: before yielding a batch it tells its `on_read`
callback which entries the batch holds (and, on the last batch of a read, the read's last id),
so the worker can acknowledge them once the store has committed the batch. The pipeline pulls
`batches()` like any source, so a full pipeline stops the reading (backpressure). The reader
ends by itself soon after `stop` is set (the partition is being handed back).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from vigil.batch import LineBatch
from vigil.sources.agent import redis_errors
from vigil.sources.streams import GROUP, StreamKeys, decode_entries, id_tuple, merge_by_origin

__all__ = ["PartitionSource", "ack_floor", "retrying"]

log = logging.getLogger(__name__)

READ_COUNT = 256
READ_BLOCK_MS = 500
GATHER_LINES = 2048
GATHER_SECONDS = 1.0
GATHER_POLL_SECONDS = 0.25
"""A read of fewer than GATHER_LINES lines waits up to GATHER_SECONDS for more (one batch),
looking for them every GATHER_POLL_SECONDS."""
RETRY_MAX_SECONDS = 1.0
"""Longest wait between attempts while Redis is away: once it is back, reading and
acknowledging resume within a second (a retry costs a failed connect, nothing more)."""

OnRead = Callable[[LineBatch, list[bytes], bytes | None], None]
"""Told of each batch before it is yielded: the batch, its entry ids, and on the last batch of
a read that read's last id (None on the others)."""


async def ack_floor(redis: Any, stream: str) -> bytes | None:
    """The smallest id some consumer group of `stream` has not acknowledged (or the last
    delivered one, when all is acknowledged); None when there is no group."""
    floor: tuple[int, int] | None = None
    for group in await redis.xinfo_groups(stream):
        name = group["name"]
        candidate = group["last-delivered-id"]
        if group["pending"]:
            # Acknowledged since XINFO was read, when the summary has no smallest id.
            summary = await redis.xpending(stream, name)
            candidate = summary["min"] or candidate
        value = id_tuple(candidate)
        if floor is None or value < floor:
            floor = value
    return None if floor is None else f"{floor[0]}-{floor[1]}".encode()


async def retrying(
    stop: asyncio.Event, partition: int, call: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    """`call` retried while Redis is away, until it answers; once `stop` is set, a failure
    ends the caller instead (the partition is being handed back, not read any further)."""
    errors = redis_errors()
    delay = 0.1
    while True:
        try:
            return await call(*args, **kwargs)
        except errors as exc:
            if stop.is_set():
                raise asyncio.CancelledError from exc
            log.warning(
                "event=worker_redis_unavailable partition=%d error=%s",
                partition,
                type(exc).__name__,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)


def _lines_in(entries: list[tuple[bytes, Any]]) -> int:
    """Lines held by stream entries (an agent's entry: 8 bytes of offset per line)."""
    total = 0
    for _id, fields in entries:
        offsets = fields.get(b"o")
        total += len(offsets) // 8 if offsets is not None else 1
    return total


def _ignore(batch: LineBatch, ids: list[bytes], read_end: bytes | None) -> None:
    return None


class PartitionSource:
    """The batches of one partition's stream, for the partition's pipeline (see the module
    docstring). `start` is the id the windows' snapshot includes (None: no snapshot)."""

    def __init__(
        self,
        redis: Any,
        keys: StreamKeys,
        partition: int,
        *,
        start: bytes | None = None,
        stop: asyncio.Event | None = None,
        on_read: OnRead = _ignore,
    ) -> None:
        self.redis = redis
        self.partition = partition
        self.stream = keys.lines(partition)
        self.consumer = f"p{partition}"
        self.start = start
        self.stop = stop if stop is not None else asyncio.Event()
        self.on_read = on_read
        self._last_id: bytes | None = None
        """The last entry read (handed on, or held for the batch being gathered)."""
        self._recheck = False
        """A read failed: look for entries it delivered before reading new ones."""
        self._errors = redis_errors()

    async def _retrying(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await retrying(self.stop, self.partition, call, *args, **kwargs)

    async def batches(self) -> AsyncIterator[LineBatch]:
        begin, inclusive = await self._replay_start(self.start)
        if begin is not None:
            groups = await self._retrying(self.redis.xinfo_groups, self.stream)
            last = next(
                (g["last-delivered-id"] for g in groups if g["name"].decode() == GROUP), b"0-0"
            )
            low = begin if inclusive else b"(" + begin
            while id_tuple(begin) <= id_tuple(last) and not self.stop.is_set():
                entries = await self._retrying(
                    self.redis.xrange, self.stream, min=low, max=last, count=READ_COUNT
                )
                if not entries:
                    break
                for batch in self._batches(entries):
                    yield batch
                begin = entries[-1][0]
                low = b"(" + begin
            if self._last_id is None or id_tuple(self._last_id) < id_tuple(last):
                # Pending entries up to here were read again above, or acknowledged before
                # the snapshot: none is looked for after a failed read.
                self._last_id = last
        while not self.stop.is_set():
            entries = await self._read_new(READ_COUNT, READ_BLOCK_MS)
            if entries and _lines_in(entries) < GATHER_LINES:
                # A few lines: wait a moment for more before handing them on. Each batch costs
                # a store transaction and an acknowledgement whatever its size, and a partition
                # gets an agent's entry every VIGIL_AGENT_BATCH_MS per file: read one by one,
                # most of a worker's time would go to the batches rather than the lines. The
                # wait is a sleep, and what arrived meanwhile is taken in one read: a blocking
                # read would return (a round trip) at every entry.
                deadline = time.monotonic() + GATHER_SECONDS
                while len(entries) < READ_COUNT and _lines_in(entries) < GATHER_LINES:
                    wait = deadline - time.monotonic()
                    if wait <= 0 or self.stop.is_set():
                        break
                    await asyncio.sleep(min(wait, GATHER_POLL_SECONDS))
                    entries += await self._read_new(READ_COUNT - len(entries), None)
            for batch in self._batches(entries):
                yield batch

    def _batches(self, entries: list[tuple[bytes, Any]]) -> Iterator[LineBatch]:
        """The batches of one read, each announced to `on_read` just before it is yielded."""
        if not entries:
            return
        self._last_id = entries[-1][0]
        chunks = merge_by_origin(decode_entries(self.partition, entries))
        for n, chunk in enumerate(chunks):
            batch = chunk.batch
            batch.site = chunk.site
            read_end = entries[-1][0] if n == len(chunks) - 1 else None
            self.on_read(batch, chunk.ids, read_end)
            yield batch

    async def _replay_start(self, start: bytes | None) -> tuple[bytes | None, bool]:
        """Where reading again begins: after the snapshot's id, or at the first entry no group
        has acknowledged; True when that bound is inclusive."""
        if start is not None:
            return start, False
        floor = await self._retrying(ack_floor, self.redis, self.stream)
        groups = await self._retrying(self.redis.xinfo_groups, self.stream)
        for group in groups:
            if group["name"].decode() == GROUP and group["pending"]:
                return floor, True
        return None, False

    async def _read_new(self, count: int, block_ms: int | None) -> list[tuple[bytes, Any]]:
        """Entries not yet delivered to the group, waiting up to `block_ms` for the first
        (None: not waiting).

        A read that failed may have been carried out by Redis all the same (the connection
        dropped before its reply arrived, Redis stopped after writing it to its append-only
        file): its entries are then pending for this partition's consumer and no later `>`
        read returns them. So after a failed read, the consumer's pending entries after the
        last one read are read first."""
        delay = 0.1
        while True:
            try:
                if self._recheck:
                    after = self._last_id or b"0"
                    reply = await self.redis.xreadgroup(
                        GROUP, self.consumer, {self.stream: after}, count=count
                    )
                    # Entries trimmed since their delivery come back without fields.
                    lost = [e for _s, entries in reply or () for e in entries if e[1]]
                    if lost:
                        self._last_id = lost[-1][0]
                        log.warning(
                            "event=partition_reply_recovered partition=%d entries=%d",
                            self.partition,
                            len(lost),
                        )
                        return lost
                    self._recheck = False
                reply = await self.redis.xreadgroup(
                    GROUP, self.consumer, {self.stream: ">"}, count=count, block=block_ms
                )
                read = [entry for _stream, entries in reply or () for entry in entries]
                if read:
                    # Held for the batch being gathered, then handed on: a failed read that
                    # follows must not bring them back a second time.
                    self._last_id = read[-1][0]
                return read
            except self._errors as exc:
                self._recheck = True
                if self.stop.is_set():
                    raise asyncio.CancelledError from exc
                log.warning(
                    "event=worker_redis_unavailable partition=%d error=%s",
                    self.partition,
                    type(exc).__name__,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
