"""The behaviour windows in a second process, beside rule detection in the first.

Behaviour windows are the one stage whose state spans batches, and they do not read the rules'
verdicts. So on a machine with a spare core `vigil scan` runs them in a child process: each raw
batch goes to the child as soon as it is read; the main process parses and detects the batch
meanwhile and collects the child's behaviour events when it scores the batch. Both processes
parse the same lines with the same parser, so record i is the same request on both sides (the
record counts are compared). Raw lines cross the process boundary rather than parsed records
because parsing a line again costs less than pickling and unpickling its record.

Order matters: the child sees batches in the order they are submitted, and they must be
collected in that order. If the child dies or disagrees, the caller carries on with its own
in-process behaviour engine (see `Analyzer`), so no line goes unanalysed.
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
from vigil.ingest.records import LineBatch

if TYPE_CHECKING:
    from vigil.enrich import Enricher
    from vigil.ingest.parser import LogParser

log = logging.getLogger(__name__)

LARGE_INPUT_BYTES = 16 << 20
"""Inputs at least this large (or of unknown size) are worth the second process's start-up."""


@dataclass(frozen=True, slots=True)
class BehaviourResult:
    """What the child found in one batch: how many records it parsed, the events, its time."""

    records: int
    events: list[BehaviourEvent]
    seconds: float


def wanted(settings: Settings, input_bytes: int | None) -> bool:
    """Whether a scan of `input_bytes` (None: unknown, e.g. stdin) should use the process."""
    if not settings.behaviour_enabled:
        return False
    if settings.behaviour_process is not None:
        return settings.behaviour_process
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) >= 2 and (input_bytes is None or input_bytes >= LARGE_INPUT_BYTES)


class BehaviourProcess:
    """A child process holding a parser and a behaviour engine; batches in, events out."""

    def __init__(self, settings: Settings) -> None:
        # spawn, not fork: the parent may hold threads (progress display, model runtimes).
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=_start, initargs=(settings,)
        )
        # Start the child now, so that its start-up overlaps the parent's.
        self._pool.submit(_ready)

    def submit(self, batch: LineBatch, site: str) -> Future[BehaviourResult]:
        """Queue `batch` for the child; raises RuntimeError once the child is gone."""
        return self._pool.submit(_process, batch, site)

    def close(self) -> None:
        """Stop the child, discarding work not yet collected."""
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass(slots=True)
class _Child:
    parser: LogParser
    behaviour: BehaviourEngine
    enricher: Enricher


_child: _Child | None = None


def _start(settings: Settings) -> None:
    global _child
    from vigil.enrich import Enricher
    from vigil.ingest.parser import build_parser
    from vigil.pipeline.analyze import behaviour_from_settings
    from vigil.runtime import tune_gc

    _child = _Child(
        parser=build_parser(settings.log_format, trusted_proxies=settings.trusted_proxies),
        behaviour=behaviour_from_settings(settings),
        enricher=Enricher(settings.geoip_city_db, settings.geoip_asn_db),
    )
    tune_gc()


def _ready() -> bool:
    return _child is not None


def _process(batch: LineBatch, site: str) -> BehaviourResult:
    from vigil.pipeline.analyze import ClientFacts

    child = _child
    if child is None:  # pragma: no cover - the initializer runs before any task
        raise RuntimeError("behaviour process not started")
    started = time.perf_counter()
    records = child.parser.parse_batch(batch).records
    events = child.behaviour.process_batch(
        records, site=site, enrichment=ClientFacts(child.enricher)
    )
    return BehaviourResult(len(records), events, time.perf_counter() - started)
