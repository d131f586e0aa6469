"""The async pipeline: bounded queues of batches between sources, analysis and the sinks.

sources ──► [raw queue] ──► analyze (parse, detect, behaviour, score) ──► [scored queue] ──►
sinks in order: store (one transaction per batch) ──► publish (broker) ──► webhooks ──► …

Queues are bounded: when the store falls behind (or the database is down) the scored queue
fills, analysis waits, the raw queue fills and sources wait. Every source is pulled the same
way (`add_source`); HTTP ingest is a push source (`vigil.sources.http`), offered lines through
`try_submit` without waiting, which answers 429 instead when the raw queue is full. `stop()`
drains everything accepted.

Pipelines are built by `vigil.pipeline.assembly.open_pipeline`. Exclusion and allowlist updates
take effect in queue order: each batch is analysed with the exclusions in force when it was
accepted, in this process and in the helper process alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vigil import metrics
from vigil.batch import DeadLetter, LineBatch, ScoredBatch, merge_scored
from vigil.config import RunnerSection
from vigil.detect.exclusions import ExclusionSet
from vigil.pipeline.analyze import Analyzer
from vigil.pipeline.controls import RuntimeControls, SiteControls
from vigil.pipeline.snapshots import SnapshotKeeper
from vigil.sinks.base import Sink
from vigil.sources.base import PushSource, Source

if TYPE_CHECKING:
    from vigil.pipeline.helper_process import Prefetched

log = logging.getLogger(__name__)

_STOP = object()
STORE_MERGE_LINES = 8192
"""Lines of waiting batches of one file the store may write in one transaction, by default.
`vigil scan` allows more: it is after throughput, and a bigger transaction spreads the fixed
cost of one (checkpoint, incident lookups, round trips) over more lines."""


@dataclass(slots=True)
class StageCounters:
    """Per-stage numbers for /health and /metrics."""

    batches_in: int = 0
    batches_out: int = 0
    lines_in: int = 0
    lines_out: int = 0
    errors: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "batches_in": self.batches_in,
            "batches_out": self.batches_out,
            "lines_in": self.lines_in,
            "lines_out": self.lines_out,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
        }


@dataclass(slots=True)
class _Queued:
    batch: LineBatch
    site: str | None
    read_at: float
    exclusions: ExclusionSet
    prefetched: Prefetched | None = None


@dataclass
class PipelineTotals:
    lines: int = 0
    records: int = 0
    malformed: int = 0
    dead_letters: int = 0
    threats: int = 0
    stored: int = 0
    severities: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "records": self.records,
            "malformed": self.malformed,
            "dead_letters": self.dead_letters,
            "threats": self.threats,
            "stored": self.stored,
            "by_severity": dict(self.severities),
        }


class Pipeline:
    """Runs analysis and the sinks as tasks; sources feed it with `submit` or `try_submit`."""

    def __init__(
        self,
        section: RunnerSection,
        *,
        analyzer: Analyzer,
        sinks: Sequence[Sink] = (),
        on_scored: Callable[[ScoredBatch], None] | None = None,
        snapshots: SnapshotKeeper | None = None,
        store_merge_lines: int = STORE_MERGE_LINES,
        source_labels: Sequence[str] = (),
    ) -> None:
        self.section = section
        self.source_labels = tuple(source_labels)
        """The configured log paths, the only file sources named in metric labels."""
        self.analyzer = analyzer
        self.sinks = list(sinks)
        self.on_scored = on_scored
        self._raw: asyncio.Queue[Any] = asyncio.Queue(section.queue_size)
        self._scored: asyncio.Queue[Any] = asyncio.Queue(section.queue_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._sources: list[asyncio.Task[None]] = []
        """The pumps of pull sources (files, tailers, streams): cancelled when stopping."""
        self._pushed: list[tuple[PushSource, asyncio.Task[None]]] = []
        """Push sources and their pumps: closed when stopping, and drained."""
        self.ingest: PushSource | None = None
        """The push source `try_submit` offers to (HTTP ingest), when one was added."""
        self._stopping = False
        self._stopped = False
        self.counters = {"analyze": StageCounters()}
        self.counters.update((sink.name, StageCounters()) for sink in self.sinks)
        self.totals = PipelineTotals()
        self.site_totals: dict[str, PipelineTotals] = {}
        self.started_at = time.time()
        self.snapshots = snapshots
        self.store_merge_lines = store_merge_lines
        # The exclusions batches accepted from now on are analysed with (see the docstring).
        self.controls = RuntimeControls(self.analyzer.detection.exclusions)

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        if self._tasks:
            return
        if self.snapshots is not None:
            self.snapshots.restore()
        for sink in self.sinks:
            await sink.start(self._is_stopping)
        self._tasks = [
            asyncio.create_task(self._analyze_loop(), name="pipeline-analyze"),
            asyncio.create_task(self._store_loop(), name="pipeline-store"),
        ]

    def add_source(self, source: Source, site: str | None = None) -> asyncio.Task[None]:
        """Feed the pipeline from `source`, pulled as fast as the pipeline takes its batches;
        a batch without a site of its own is analysed for `site`. The first push source added
        is the one `try_submit` offers to. The task pulling the source is returned."""
        batches = source.batches()

        async def pump() -> None:
            async for batch in batches:
                await self.submit(batch, batch.site if batch.site is not None else site)

        task = asyncio.create_task(pump(), name="pipeline-source")
        if isinstance(source, PushSource):
            self._pushed.append((source, task))
            if self.ingest is None:
                self.ingest = source
        else:
            self._sources.append(task)
        return task

    async def wait_sources(self) -> None:
        """Wait until every pull source is exhausted (one-shot readers); push sources end when
        the pipeline stops."""
        if self._sources:
            await asyncio.gather(*self._sources)

    def _is_stopping(self) -> bool:
        return self._stopping

    @property
    def db_healthy(self) -> bool:
        """False while a sink (the store) cannot write."""
        return all(sink.healthy for sink in self.sinks)

    async def stop(self, drain: bool = True, timeout: float | None = None) -> bool:
        """Stop sources, then let every accepted batch through the sinks before returning.

        With `timeout`, the drain gets that many seconds: what is not stored by then is
        abandoned (the store's transaction in progress rolls back), which loses nothing, since
        a source's checkpoint only moves with the batch stored and the next start reads the
        rest again. Only the first call does anything; sinks are closed and (after a complete
        drain) the behaviour windows snapshotted. True when every accepted batch was stored.
        """
        if self._stopped:
            return True
        self._stopped = True
        self._stopping = True
        for task in self._sources:
            task.cancel()
        # A source that failed is reported, and what it had read is still drained (a worker's
        # stream reader that failed: the batches it handed over are stored and acknowledged).
        for result in await asyncio.gather(*self._sources, return_exceptions=True):
            if isinstance(result, Exception):
                log.error("event=source_failed error=%r", result)
        self._sources = []
        started = time.monotonic()
        drained = drain
        # What a push source accepted is queued before the drain (its producer was told it
        # was taken); it cannot be read again, unlike a file.
        pushed = [task for _source, task in self._pushed]
        for source, _task in self._pushed:
            source.close()
        self._pushed = []
        if pushed and drain and self._tasks:
            _done, pending = await asyncio.wait(pushed, timeout=timeout)
            drained = not pending
        for task in pushed:
            task.cancel()
        await asyncio.gather(*pushed, return_exceptions=True)
        if self._tasks:
            if drained:
                left = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
                drained = await self._drain(left)
            if not drained:
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        for sink in self.sinks:
            try:
                await sink.close()
            except Exception:
                log.exception("event=sink_close_failed sink=%s", sink.name)
        if drained and self.snapshots is not None:
            self.snapshots.maybe_save(force=True)
        return drained

    async def _drain(self, timeout: float | None) -> bool:
        """Lets analysis and the sinks finish every queued batch; False if `timeout` ran out."""
        ending = asyncio.create_task(self._raw.put(_STOP))
        _done, pending = await asyncio.wait([ending, *self._tasks], timeout=timeout)
        if not pending:
            return True
        ending.cancel()
        log.warning(
            "event=drain_timeout seconds=%s waiting_batches=%d; not stored, read again at the "
            "next start",
            timeout,
            self._raw.qsize() + self._scored.qsize(),
        )
        return False

    def discard_unanalysed(self) -> int:
        """Drop the batches accepted but not analysed yet, for a driver whose input is read
        again elsewhere from the last analysed position (a worker handing a partition over:
        the next owner reads them again, and need not wait for this pipeline to analyse and
        store them first); the lines dropped. With a helper process nothing is dropped: it has
        been handed them already, and its behaviour windows hold them."""
        if self.analyzer.helper is not None:
            return 0
        dropped = 0
        while not self._raw.empty():
            item = self._raw.get_nowait()
            if item is _STOP:  # stopping already: the stages end after what is left
                self._raw.put_nowait(item)
                break
            dropped += len(item.batch.lines)
        metrics.QUEUE_DEPTH.labels("analyze").set(self._raw.qsize())
        return dropped

    def abandon(self) -> None:
        """Cancel the stages without draining: what they hold is dropped (for a driver whose
        input is read again elsewhere, e.g. a stream a worker could not drain in time)."""
        self._stopping = True
        for task in [*self._sources, *(task for _source, task in self._pushed), *self._tasks]:
            task.cancel()

    # ------------------------------------------------------------------- intake
    def _source_label(self, source: str) -> str:
        return metrics.source_label(source, self.source_labels)

    async def submit(self, batch: LineBatch, site: str | None = None) -> None:
        """Queue a batch, waiting while the pipeline is full (backpressure, never a drop)."""
        metrics.LINES_IN.labels(self._source_label(batch.source)).inc(len(batch.lines))
        queued = _Queued(batch, site, time.time(), self.controls.current)
        await self._raw.put(queued)
        # Handed to the helper process (if any) in queue order, the order of analysis.
        queued.prefetched = self.analyzer.prefetch(batch, site)
        metrics.QUEUE_DEPTH.labels("analyze").set(self._raw.qsize())

    def try_submit(self, source: str, lines: list[bytes], site: str | None = None) -> bool:
        """Offer lines to the HTTP ingest source if the pipeline has room now; False means
        'retry later' (and uses no positions of the ingest stream)."""
        ingest = self.ingest
        if ingest is None or self._stopping or self._raw.full():
            return False
        return ingest.offer(source, lines, site)

    # ------------------------------------------------------------------- stages
    async def _analyze_loop(self) -> None:
        counters = self.counters["analyze"]
        while True:
            item = await self._raw.get()
            if item is _STOP:
                await self._scored.put(_STOP)
                return
            counters.batches_in += 1
            counters.lines_in += len(item.batch.lines)
            elapsed = 0.0
            try:
                self.analyzer.set_exclusions(item.exclusions)
                steps = self.analyzer.analyze_steps(item.batch, item.site, item.prefetched)
                while True:
                    started = time.perf_counter()
                    try:
                        next(steps)
                    except StopIteration as done:
                        scored = done.value
                        break
                    finally:
                        elapsed += time.perf_counter() - started
                    # Between stages the store gets its turn: a statement the database has
                    # answered is followed by the next one now, not after the whole batch's
                    # analysis (the database would idle meanwhile).
                    await asyncio.sleep(0)
            except Exception:
                # A bug in a detector must not stop ingestion: the batch is retried line by
                # line into dead letters so nothing accepted is lost.
                counters.errors += 1
                metrics.STAGE_ERRORS.labels("analyze").inc()
                log.exception("event=analyze_failed source=%s", item.batch.source)
                scored = self._as_dead_letters(item.batch, item.site)
            counters.seconds += elapsed
            metrics.BATCH_SECONDS.labels("analyze").observe(elapsed)
            scored.read_at = item.read_at
            self._count(scored)
            counters.batches_out += 1
            counters.lines_out += scored.lines
            if self.on_scored is not None:
                self.on_scored(scored)
            await self._scored.put(scored)
            metrics.QUEUE_DEPTH.labels("store").set(self._scored.qsize())
            await asyncio.sleep(0)

    def _as_dead_letters(self, batch: LineBatch, site: str | None) -> ScoredBatch:
        return ScoredBatch(
            source=batch.source,
            file_id=batch.file_id,
            end_offset=batch.end_offset,
            site=site or self.analyzer.site,
            lines=len(batch.lines),
            records=0,
            malformed=0,
            threats=[],
            dead_letters=[
                DeadLetter(batch.source, batch.file_id, off, line, "analysis failed")
                for line, off in zip(batch.lines, batch.offsets, strict=True)
            ],
            counters={},
        )

    def _count(self, scored: ScoredBatch) -> None:
        site_totals = self.site_totals.get(scored.site)
        if site_totals is None:
            site_totals = self.site_totals[scored.site] = PipelineTotals()
        for totals in (self.totals, site_totals):
            totals.lines += scored.lines
            totals.records += scored.records
            totals.malformed += scored.malformed
            totals.dead_letters += len(scored.dead_letters)
            totals.threats += len(scored.threats)
        metrics.LINES_PARSED.inc(scored.records)
        metrics.MALFORMED.inc(scored.malformed)
        metrics.DEAD_LETTERS.inc(len(scored.dead_letters))
        for counts in scored.counters.values():
            for severity in ("low", "medium", "high"):
                if counts.get(severity):
                    self.totals.severities[severity.upper()] += counts[severity]
                    site_totals.severities[severity.upper()] += counts[severity]
                    metrics.EVENTS.labels(severity.upper()).inc(counts[severity])

    async def _store_loop(self) -> None:
        held: Any = None
        while True:
            scored = held if held is not None else await self._scored.get()
            held = None
            if scored is _STOP:
                return
            # When the store has fallen behind, the batches waiting for it from the same file
            # go into one transaction: the fixed cost of a transaction (checkpoint, incident
            # lookups, round trips) is then paid once for all of them.
            group = [scored]
            lines = scored.lines
            while lines < self.store_merge_lines and not self._scored.empty():
                following = self._scored.get_nowait()
                if following is _STOP or following.origin != scored.origin:
                    held = following
                    break
                group.append(following)
                lines += following.lines
            scored = merge_scored(group)
            for sink in self.sinks:
                await self._write(sink, scored, len(group))
            if scored.stored is not None:
                self.totals.stored += scored.stored.stored
                if scored.site in self.site_totals:
                    self.site_totals[scored.site].stored += scored.stored.stored
            if self.snapshots is not None:
                self.snapshots.maybe_save()

    async def _write(self, sink: Sink, scored: ScoredBatch, batches: int) -> None:
        """Hand a batch to one sink, counting it; a failure of a sink that is not durable is
        counted and logged, and the batch goes on to the next sink."""
        counters = self.counters[sink.name]
        counters.batches_in += batches
        counters.lines_in += scored.lines
        started = time.perf_counter()
        try:
            await sink.write(scored)
        except Exception:
            if sink.durable:
                raise
            counters.errors += 1
            metrics.STAGE_ERRORS.labels(sink.name).inc()
            log.warning("event=sink_failed sink=%s source=%s", sink.name, scored.source)
            return
        finally:
            elapsed = time.perf_counter() - started
            counters.seconds += elapsed
            metrics.BATCH_SECONDS.labels(sink.name).observe(elapsed)
        counters.batches_out += batches
        counters.lines_out += scored.lines

    # -------------------------------------------------------------------- views
    def stats(self) -> dict[str, Any]:
        return {
            "uptime_seconds": round(time.time() - self.started_at, 1),
            "queues": {"analyze": self._raw.qsize(), "store": self._scored.qsize()},
            "queue_capacity": self.section.queue_size,
            "stages": {name: c.as_dict() for name, c in self.counters.items()},
            "totals": self.totals.as_dict(),
            "sites": {site: totals.as_dict() for site, totals in sorted(self.site_totals.items())},
            "database_healthy": self.db_healthy,
            "detection_mode": self.analyzer.detection_mode,
        }

    def teach_profile(self, site: str, method: str, path: str, query: str, client: str) -> bool:
        """An analyst reviewed this request as a false positive: the site's profile learns it
        (saved with the next profile save). False when this pipeline keeps no profiles."""
        profiles = self.analyzer.profiles
        if profiles is None:
            return False
        profiles.teach(site, method, path, query, [client])
        return True

    def set_exclusions(
        self, site: str | None, exclusions: list[dict[str, Any]], allowlist: list[dict[str, Any]]
    ) -> None:
        """Apply one site's exclusions and allowlist to the running detectors, atomically.

        The detection engine holds one exclusion set; it is rebuilt from the settings' file
        plus every site's entries received so far and swapped in between batches. Each entry
        stays with its site: an exclusion or allowlist entry of one site never touches the
        detection of another (site None: entries for every site).
        """
        combined = self.controls.update(site, exclusions, allowlist)
        # Batches already accepted keep the exclusions they were accepted with; the helper hears
        # of the new ones ahead of the batches that follow, and this process when it reaches them.
        self.analyzer.announce_exclusions(combined)

    def replace_controls(self, controls: Iterable[SiteControls]) -> None:
        """Put every site's stored exclusions and allowlist in force at once (sites not named
        lose theirs), like `set_exclusions` for each."""
        self.analyzer.announce_exclusions(self.controls.replace(controls))
