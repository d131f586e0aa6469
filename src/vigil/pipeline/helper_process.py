"""A second analysis process for `vigil scan`: it keeps the behaviour windows and detects some
batches, so that a machine's second core works too.

Behaviour windows are the one stage whose state spans batches, and they do not read the rules'
verdicts, so they can live in another process whole. Each raw batch goes to the helper as soon
as it is read. The main process parses it meanwhile, detects it (unless the helper was asked to),
scores it, and collects the helper's behaviour events (and verdicts) when it gets there. The
helper is asked to detect a batch only while it is keeping up, so the work balances itself
between the two processes; the verdicts are the same wherever a batch is detected.

Both processes parse the same lines with the same parser, so record i is the same request on
both sides (the record counts are compared). Raw lines cross the process boundary rather than
parsed records because parsing a line again costs less than pickling and unpickling its record.

Order matters: the helper sees batches in the order they are submitted, and they must be
collected in that order. If the helper dies or disagrees, the main process carries on alone with
its own behaviour windows (see `Analyzer`), so no line goes unanalysed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vigil.config import Settings
from vigil.detect.behaviour import BehaviourEngine, BehaviourEvent
from vigil.detect.result import encode_detections
from vigil.ingest.records import LineBatch

if TYPE_CHECKING:
    from vigil.detect.engine import DetectionEngine
    from vigil.enrich import Enricher
    from vigil.ingest.parser import LogParser

log = logging.getLogger(__name__)

LARGE_INPUT_BYTES = 16 << 20
"""Inputs at least this large (or of unknown size) are worth the helper's start-up."""
DETECT_WHILE_BACKLOG_BELOW = 2
"""The helper is asked to detect a batch only while fewer of its batches are unfinished."""


@dataclass(frozen=True, slots=True)
class HelperResult:
    """What the helper made of one batch: its record count, behaviour events, verdicts if asked
    (encoded, see `decode_detections`) and its time per stage."""

    records: int
    events: list[BehaviourEvent]
    detections: bytes | None
    timings: dict[str, float]


@dataclass(frozen=True, slots=True)
class Prefetched:
    """A batch handed to the helper: its future result, and whether the helper detects it."""

    result: Future[HelperResult]
    detects: bool


def wanted(settings: Settings, input_bytes: int | None) -> bool:
    """Whether a scan of `input_bytes` (None: unknown, e.g. stdin) should use a helper."""
    if settings.helper_process is not None:
        return settings.helper_process
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) >= 2 and (input_bytes is None or input_bytes >= LARGE_INPUT_BYTES)


class HelperProcess:
    """The helper: a child process with a parser, a behaviour engine and a detection engine."""

    def __init__(self, settings: Settings) -> None:
        # spawn, not fork: the parent may hold threads (progress display, model runtimes).
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=_start, initargs=(settings,)
        )
        self._unfinished: list[Future[HelperResult]] = []
        self.detect_while_backlog_below = int(os.environ.get("XB", DETECT_WHILE_BACKLOG_BELOW))
        # Start the child now, so that its start-up overlaps the parent's.
        self._pool.submit(_ready)

    def submit(self, batch: LineBatch, site: str) -> Prefetched:
        """Queue `batch`; raises RuntimeError once the helper is gone."""
        self._unfinished = [f for f in self._unfinished if not f.done()]
        detects = len(self._unfinished) < self.detect_while_backlog_below
        future = self._pool.submit(_process, batch, site, detects)
        self._unfinished.append(future)
        return Prefetched(future, detects)

    def close(self) -> None:
        """Stop the helper, discarding work not yet collected."""
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass(slots=True)
class _Helper:
    parser: LogParser
    behaviour: BehaviourEngine | None
    detection: DetectionEngine
    enricher: Enricher


_helper: _Helper | None = None


def _start(settings: Settings) -> None:
    global _helper
    from vigil.detect.engine import DetectionEngine
    from vigil.enrich import Enricher
    from vigil.ingest.parser import build_parser
    from vigil.pipeline.analyze import behaviour_from_settings
    from vigil.runtime import tune_gc

    _helper = _Helper(
        parser=build_parser(settings.log_format, trusted_proxies=settings.trusted_proxies),
        behaviour=behaviour_from_settings(settings) if settings.behaviour_enabled else None,
        detection=DetectionEngine.from_settings(settings),
        enricher=Enricher(settings.geoip_city_db, settings.geoip_asn_db),
    )
    tune_gc()


def _ready() -> bool:
    return _helper is not None


def _process(batch: LineBatch, site: str, detect: bool) -> HelperResult:
    from vigil.pipeline.analyze import ClientFacts

    helper = _helper
    if helper is None:  # pragma: no cover - the initializer runs before any task
        raise RuntimeError("helper process not started")
    clock = time.perf_counter
    t0 = clock()
    records = helper.parser.parse_batch(batch).records
    t1 = clock()
    events: list[BehaviourEvent] = []
    if helper.behaviour is not None:
        events = helper.behaviour.process_batch(
            records, site=site, enrichment=ClientFacts(helper.enricher)
        )
    t2 = clock()
    timings = {"helper_parse": t1 - t0, "helper_behaviour": t2 - t1}
    detections = None
    if detect:
        detections = encode_detections(helper.detection.detect_batch(records, site))
        timings["helper_detect"] = clock() - t2
    return HelperResult(len(records), events, detections, timings)
