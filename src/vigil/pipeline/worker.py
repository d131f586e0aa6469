"""`vigil worker`: analyse the partitions this worker holds a lease on, one pipeline each.

Each held partition runs the whole pipeline (`open_pipeline`: rules, models, behaviour windows,
store, alerts, webhooks) fed by its stream through the consumer group `workers`, read by the
partition's source (`vigil.sources.partition.PartitionSource`). Its entries become batches
whose origin is the line's own (agent, file identity with the partition, byte
offset), so the store's checkpoint of that origin is written in the same transaction as the
events — the partition's stream position, in the database — and a replayed entry is skipped
or has its keys checked: exactly once in the database. After the store has committed a batch
its entries are `XACK`ed.

Every `VIGIL_BEHAVIOUR_SNAPSHOT_SECONDS` the partition's behaviour windows are snapshotted with
the stream id of the last entry they include, and written to Redis (`{prefix}:snapshot:{p}`) as
soon as everything up to that id is stored and acknowledged, and only while the lease is still
held. A worker that takes a partition over restores that snapshot and reads the stream again
from the id after it: entries already stored rebuild the windows and are skipped by the store,
the rest are stored. A partition handed back (rebalancing) is first read to an end, drained,
snapshotted, and only then released. Streams are trimmed below what every consumer group has
acknowledged and the snapshot still needs.

Allowlists and exclusions stored through the API reach running pipelines without a restart: at
every lease round the worker reads the cluster's controls counter (`{prefix}:controls`, raised
by an API node on each change) and, when it moved, when a partition's pipeline has started
since, or every `VIGIL_CLUSTER_CONTROLS_SECONDS` in any case (a change made while Redis was
away, an allowlist entry that expired), reads them from the database and puts them in force in
every pipeline it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vigil.batch import LineBatch, ScoredBatch
from vigil.config import Settings
from vigil.pipeline.assembly import StoredControls, configured_sinks, open_pipeline
from vigil.pipeline.leases import LeaseKeeper, Leases
from vigil.pipeline.runner import Pipeline
from vigil.sinks.broker import Broker
from vigil.sources.agent import connect_cluster, redis_errors
from vigil.sources.partition import RETRY_MAX_SECONDS, PartitionSource, ack_floor, retrying
from vigil.sources.streams import GROUP, StreamKeys, id_tuple

__all__ = ["BoundedBroker", "PartitionRunner", "Worker", "ack_floor", "run_worker"]

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 10.0
DRAIN_SECONDS = 60.0
"""Longest wait for a partition's pipeline to store what it read before handing it back."""
PUBLISH_SECONDS = 5.0
STOP_SECONDS = 5.0
"""Longest wait for a stopping partition's reader and snapshot tasks to end."""


@dataclass(slots=True)
class _Sent:
    origin: tuple[str, str, int]
    ids: list[bytes]
    read_end: bytes | None = None
    """On the last batch of a read: the read's last id (everything up to it is in this batch
    or an earlier one)."""


@dataclass
class _Track:
    """Entries handed to the pipeline, in order: for the analysis position and for XACK."""

    to_analyze: deque[_Sent] = field(default_factory=deque)
    to_ack: deque[_Sent] = field(default_factory=deque)
    analyzed: bytes | None = None
    acked: bytes | None = None


class AckSink:
    """The last sink of a partition's pipeline: acknowledges the entries of stored batches."""

    name = "ack"
    durable = True
    healthy = True

    def __init__(self, redis: Any, stream: str, track: _Track) -> None:
        self.redis = redis
        self.stream = stream
        self.track = track
        self._stopping: Callable[[], bool] = lambda: False
        self._errors = redis_errors()

    async def start(self, stopping: Callable[[], bool]) -> None:
        self._stopping = stopping

    async def close(self) -> None:
        return None

    async def write(self, batch: ScoredBatch) -> None:
        origin = (batch.source, batch.file_id, batch.end_offset)
        ids: list[bytes] = []
        read_end: bytes | None = None
        queue = self.track.to_ack
        while queue:
            sent = queue.popleft()
            ids.extend(sent.ids)
            read_end = sent.read_end or read_end
            if sent.origin == origin:
                break
        if not ids:
            return
        delay = 0.1
        while True:
            try:
                await self.redis.xack(self.stream, GROUP, *ids)
                break
            except self._errors as exc:
                # Unacknowledged entries are read again by the next owner and skipped by the
                # store, so giving up at shutdown loses nothing.
                if self.healthy:
                    log.warning("event=ack_retry stream=%s error=%s", self.stream, exc)
                self.healthy = False
                if self._stopping() and delay >= 2:
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
        self.healthy = True
        if read_end is not None:
            self.track.acked = read_end


class PartitionRunner:
    """One partition's pipeline, from its stream to the store (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        redis: Any,
        keys: StreamKeys,
        leases: Leases,
        partition: int,
        broker: Broker | None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = keys
        self.leases = leases
        self.partition = partition
        self.broker = broker
        self.stream = keys.lines(partition)
        self.consumer = f"p{partition}"
        self.track = _Track()
        self.stop_event = asyncio.Event()
        self.lost = False
        self.lines = 0
        self.pipeline: Pipeline | None = None
        """The running pipeline (None while it starts or after it stopped)."""
        self.on_ready: Callable[[], None] = lambda: None
        self._snapshot_pos: bytes | None = None
        self._errors = redis_errors()

    def _scored(self, scored: ScoredBatch) -> None:
        queue = self.track.to_analyze
        while queue:
            sent = queue.popleft()
            if sent.origin == (scored.source, scored.file_id, scored.end_offset):
                if sent.read_end is not None:
                    self.track.analyzed = sent.read_end
                return

    async def run(self) -> None:
        """Run until `stop_event` is set, then drain, snapshot and return."""
        saved = await retrying(
            self.stop_event, self.partition, self.redis.hgetall, self.keys.snapshot(self.partition)
        )
        sinks = [
            *configured_sinks(self.settings, store=True, broker=self.broker, publish_locally=False),
            AckSink(self.redis, self.stream, self.track),
        ]
        async with open_pipeline(
            self.settings, sinks=sinks, open_database=False, on_scored=self._scored
        ) as pipeline:
            self.pipeline = pipeline
            self.on_ready()
            source = PartitionSource(
                self.redis,
                self.keys,
                self.partition,
                start=self._restore(pipeline, saved),
                stop=self.stop_event,
                on_read=self._read,
            )
            reader = pipeline.add_source(source)
            snapshots = asyncio.create_task(self._snapshots(pipeline), name="snapshots")
            stop = asyncio.create_task(self.stop_event.wait())
            try:
                await asyncio.wait({reader, stop}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self.stop_event.set()
                tasks = {reader, snapshots, stop}
                for task in tasks:
                    task.cancel()
                # Bounded: a cancellation swallowed inside a Redis call (seen as a timeout and
                # retried) must not keep the partition from draining and being handed back;
                # the reader also stops by itself once `stop_event` is set.
                _done, stuck = await asyncio.wait(tasks, timeout=STOP_SECONDS)
                for task in stuck:
                    log.error(
                        "event=partition_task_not_stopped partition=%d task=%s",
                        self.partition,
                        task.get_name(),
                    )
            if reader.done() and not reader.cancelled() and reader.exception() is not None:
                log.error(
                    "event=partition_reader_failed partition=%d error=%r",
                    self.partition,
                    reader.exception(),
                )
            dropped = 0
            if not self.lost:
                # Handed back or shutting down: what was read and not analysed yet is read
                # again by the next owner, after this partition's final snapshot. A drain of
                # a full pipeline took tens of seconds under load, all that time unread.
                dropped = pipeline.discard_unanalysed()
            log.info(
                "event=partition_draining partition=%d dropped_lines=%d", self.partition, dropped
            )
            try:
                await asyncio.wait_for(pipeline.stop(drain=True), DRAIN_SECONDS)
            except TimeoutError:
                # Unacknowledged entries are read again by the next owner and skipped by the
                # store where stored: giving up on a stuck drain loses nothing.
                log.error(
                    "event=partition_drain_timeout partition=%d stats=%s",
                    self.partition,
                    pipeline.stats(),
                )
                pipeline.abandon()
                self.lost = True
            if not self.lost:
                await self._save_snapshot(pipeline, final=True)
            self.pipeline = None
            log.info("event=partition_stopped partition=%d", self.partition)

    def _restore(self, pipeline: Pipeline, saved: dict[bytes, bytes]) -> bytes | None:
        """Restore the snapshot's windows; the id the stream is read again after."""
        if not saved.get(b"pos"):
            return None
        try:
            clients = pipeline.analyzer.restore_behaviour(saved[b"behaviour"])
            if saved.get(b"served"):
                pipeline.analyzer.served.served.restore(saved[b"served"])
        except Exception as exc:  # a bad snapshot costs the windows, never the lines
            log.warning(
                "event=partition_snapshot_unusable partition=%d error=%s",
                self.partition,
                type(exc).__name__,
            )
            return None
        self._snapshot_pos = saved[b"pos"]
        log.info(
            "event=partition_restored partition=%d clients=%d position=%s",
            self.partition,
            clients,
            saved[b"pos"].decode(),
        )
        return saved[b"pos"]

    def _read(self, batch: LineBatch, ids: list[bytes], read_end: bytes | None) -> None:
        """A batch the partition's source is about to hand the pipeline: tracked for the
        analysis position and for XACK (in the order the pipeline takes them)."""
        sent = _Sent((batch.source, batch.file_id, batch.end_offset), ids, read_end)
        self.track.to_analyze.append(sent)
        self.track.to_ack.append(sent)
        self.lines += len(batch.lines)

    async def _snapshots(self, pipeline: Pipeline) -> None:
        every = self.settings.behaviour.snapshot_seconds
        while True:
            await asyncio.sleep(every)
            try:
                await self._save_snapshot(pipeline, final=False)
            except Exception:  # the next round tries again; reading and storing go on
                log.exception("event=snapshot_failed partition=%d", self.partition)

    async def _save_snapshot(self, pipeline: Pipeline, *, final: bool) -> None:
        """Snapshot the windows as of the last analysed entry; write them once that entry is
        stored and acknowledged (so a new owner never skips an unstored line), then trim."""
        position = self.track.analyzed
        if position is None or position == self._snapshot_pos:
            return
        behaviour = pipeline.analyzer.behaviour_snapshot()
        served = pipeline.analyzer.served.served.snapshot()
        target = id_tuple(position)
        while self.track.acked is None or id_tuple(self.track.acked) < target:
            if final:
                # The drain did not store it: the next owner reads it again, from the last
                # snapshot written (a longer replay).
                log.warning(
                    "event=snapshot_not_saved partition=%d analysed=%s acknowledged=%s",
                    self.partition,
                    position.decode(),
                    (self.track.acked or b"-").decode(),
                )
                return
            await asyncio.sleep(0.1)
        try:
            saved = await self.leases.save_snapshot(
                self.partition, position.decode(), behaviour, served
            )
            if not saved:
                log.warning("event=snapshot_not_saved partition=%d lease=lost", self.partition)
                return
            self._snapshot_pos = position
            if final:
                log.info(
                    "event=snapshot_saved partition=%d position=%s",
                    self.partition,
                    position.decode(),
                )
            floor = await ack_floor(self.redis, self.stream)
            if floor is not None:
                minid = min(id_tuple(floor), target)
                await self.redis.xtrim(
                    self.stream, minid=f"{minid[0]}-{minid[1]}", approximate=True
                )
        except self._errors as exc:
            log.warning(
                "event=snapshot_not_saved partition=%d error=%s",
                self.partition,
                type(exc).__name__,
            )


class BoundedBroker:
    """The worker's broker: a publish that takes longer than `timeout` fails. Alerts are a
    view (the events are stored), and the publish sink is not durable, so a Redis connection
    lost in the middle of a publish costs those alerts instead of stalling the partition."""

    def __init__(self, inner: Broker, timeout: float) -> None:
        self.inner = inner
        self.timeout = timeout
        self.name = inner.name
        self.alerts_channel = inner.alerts_channel

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        await self.inner.close()

    async def ping(self) -> bool:
        return await self.inner.ping()

    async def publish(self, message: dict[str, Any], channel: str | None = None) -> None:
        await self.publish_many([message], channel)

    async def publish_many(
        self, messages: list[dict[str, Any]], channel: str | None = None
    ) -> None:
        async with asyncio.timeout(self.timeout):
            await self.inner.publish_many(messages, channel)

    def subscribe(self, channel: str | None = None) -> Any:
        return self.inner.subscribe(channel)


@dataclass
class _Held:
    runner: PartitionRunner
    task: asyncio.Task[None]
    releasing: bool = False


class Worker:
    """Holds leases and runs a `PartitionRunner` for each (see vigil.pipeline.leases)."""

    def __init__(self, settings: Settings, redis: Any, keys: StreamKeys, partitions: int) -> None:
        self.settings = settings
        """Whole: each partition's pipeline is built from it (`open_pipeline`)."""
        self.cluster = settings.cluster
        self.redis = redis
        self.keys = keys
        self.partitions = partitions
        host = socket.gethostname() or "worker"
        self.id = f"{host}-{os.getpid()}-{secrets.token_hex(2)}"
        lease = self.cluster.lease_seconds
        self.leases = Leases(redis, keys, self.id, lease)
        self.keeper = LeaseKeeper(settings.broker.redis_url or "", keys, self.id, lease)
        self.held: dict[int, _Held] = {}
        self.broker: Broker | None = None
        self.finished_lines = 0
        """Lines read by partitions this worker no longer holds."""
        self._errors = redis_errors()
        self._controls: StoredControls | None = None
        self._controls_version: bytes | None = None
        self._controls_due = 0.0
        self._controls_stale = False
        """A partition's pipeline started since the controls were last read."""

    async def run(self) -> None:
        from vigil.sinks.broker import make_broker

        self.broker = BoundedBroker(make_broker(self.settings.broker), PUBLISH_SECONDS)
        delay = 0.2
        while True:  # Redis may be away while the worker starts: wait for it, as agents do
            try:
                await self.broker.connect()
                break
            except self._errors as exc:
                log.warning("event=worker_redis_unavailable error=%s", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
        interval = self.cluster.lease_seconds / 4
        log.info("event=worker_started worker=%s partitions=%d", self.id, self.partitions)
        self.keeper.start()
        # Workers started together see each other before taking partitions: taking all of
        # them and handing most back would build and drain pipelines for nothing.
        settle_until = time.monotonic() + self.cluster.lease_seconds / 2
        next_progress = time.monotonic() + PROGRESS_SECONDS
        try:
            while True:
                try:
                    await self._round(time.monotonic() < settle_until)
                except self._errors as exc:
                    log.warning("event=worker_redis_unavailable error=%s", type(exc).__name__)
                    # Leases expired while Redis was away and every worker's heartbeat looks
                    # old when it is back: settle again, so that each worker's keeper takes its
                    # own partitions back before anyone takes or hands back more (taking them
                    # all and handing most back would rebuild pipelines and replay their
                    # windows in the middle of the catch-up).
                    settle_until = time.monotonic() + self.cluster.lease_seconds / 2
                await self.refresh_controls()
                if time.monotonic() >= next_progress:
                    next_progress += PROGRESS_SECONDS
                    log.info(
                        "event=worker_progress worker=%s lines=%d partitions=%s",
                        self.id,
                        self.lines,
                        ",".join(map(str, sorted(self.held))) or "-",
                    )
                await asyncio.sleep(interval)
        finally:
            await self.shutdown()

    async def _round(self, settling: bool) -> None:
        live = await self.leases.beat()
        for partition in self.keeper.take_lost():
            held = self.held.get(partition)
            if held is not None and not held.runner.lost:
                log.warning("event=lease_lost partition=%d", partition)
                held.runner.lost = True
                held.runner.stop_event.set()
        for partition, held in list(self.held.items()):
            if held.task.done():
                del self.held[partition]
                self.keeper.drop(partition)
                self.finished_lines += held.runner.lines
                if held.releasing or not held.runner.lost:
                    await self.leases.release(partition)
                if not held.task.cancelled() and held.task.exception() is not None:
                    log.error(
                        "event=partition_failed partition=%d error=%r",
                        partition,
                        held.task.exception(),
                    )
                continue
        if settling:
            return
        share = self.leases.share(self.partitions, len(live))
        active = [p for p, h in self.held.items() if not h.releasing]
        for partition in sorted(active, reverse=True)[: max(0, len(active) - share)]:
            log.info("event=partition_handing_back partition=%d share=%d", partition, share)
            self.held[partition].releasing = True
            self.held[partition].runner.stop_event.set()
        if len(self.held) >= share:
            return
        for partition in range(self.partitions):
            if len(self.held) >= share:
                break
            if partition in self.held or not await self.leases.acquire(partition):
                continue
            self._start(partition)

    async def refresh_controls(self) -> None:
        """Read the stored allowlists and exclusions again when they may have changed, and put
        them in force in every running pipeline (see the module docstring)."""
        from vigil.db.session import get_db_context
        from vigil.services.allowlist import stored_controls

        version = self._controls_version
        # Redis away: the version stays, and the periodic read still finds a change.
        with contextlib.suppress(*self._errors):
            version = await self.redis.get(self.keys.controls)
        now = time.monotonic()
        if (
            version == self._controls_version
            and now < self._controls_due
            and not self._controls_stale
        ):
            return
        stale, self._controls_stale = self._controls_stale, False
        try:
            async with get_db_context() as session:
                controls = await stored_controls(session)
        except Exception as exc:  # the database is away: the next round tries again
            self._controls_stale = self._controls_stale or stale
            log.warning("event=controls_unavailable error=%s", type(exc).__name__)
            return
        self._controls_due = now + self.cluster.controls_seconds
        noticed = version != self._controls_version
        self._controls_version = version
        changed = controls != self._controls
        applied = 0
        if changed or stale:
            self._controls = controls
            for held in self.held.values():
                pipeline = held.runner.pipeline
                if pipeline is not None:
                    pipeline.replace_controls(controls)
                    applied += 1
        if changed or noticed:
            log.info(
                "event=controls_read sites=%d changed=%s partitions=%d version=%s",
                len(controls),
                "yes" if changed else "no",
                applied,
                version.decode() if version else "-",
            )

    def _pipeline_started(self) -> None:
        self._controls_stale = True

    def _start(self, partition: int) -> None:
        runner = PartitionRunner(
            self.settings, self.redis, self.keys, self.leases, partition, self.broker
        )
        runner.on_ready = self._pipeline_started
        task = asyncio.create_task(runner.run(), name=f"partition-{partition}")
        self.held[partition] = _Held(runner, task)
        self.keeper.hold(partition)
        log.info("event=partition_acquired partition=%d worker=%s", partition, self.id)

    async def shutdown(self) -> None:
        """Hand every partition back: drain, snapshot, release."""
        for held in self.held.values():
            held.releasing = True
            held.runner.stop_event.set()
        tasks = {held.task for held in self.held.values()}
        if tasks:
            # Each partition bounds its own drain; this bounds the rest (a partition that does
            # not stop is left to its lease: the next owner reads its entries again).
            _done, stuck = await asyncio.wait(tasks, timeout=DRAIN_SECONDS + 10)
            for partition, held in self.held.items():
                if held.task in stuck:
                    log.error("event=partition_not_stopped partition=%d", partition)
                    held.task.cancel()
        for partition in list(self.held):
            # Released either way: what a stuck partition read and did not store is read
            # again by the next owner, which need not wait for the lease to expire.
            with contextlib.suppress(*self._errors):
                await self.leases.release(partition)
        self.held.clear()
        self.keeper.stop()
        with contextlib.suppress(*self._errors):
            await self.leases.leave()
        if self.broker is not None:
            await self.broker.close()

    @property
    def lines(self) -> int:
        """Lines this worker has read from the streams."""
        return self.finished_lines + sum(h.runner.lines for h in self.held.values())


async def run_worker(settings: Settings) -> None:
    """Open the database once and work on the cluster's partitions until cancelled."""
    from vigil.db.session import open_database
    from vigil.pipeline.assembly import ensure_schema

    redis, keys, partitions = await connect_cluster(settings.broker, settings.cluster)
    try:
        async with open_database(settings, prepare=ensure_schema):
            await Worker(settings, redis, keys, partitions).run()
    finally:
        await redis.aclose()
