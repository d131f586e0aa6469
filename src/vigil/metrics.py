"""Prometheus metrics of the pipeline and the API, in one registry served at `/metrics`."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

LINES_IN = Counter(
    "vigil_lines_in_total",
    "Lines read from sources (by kind: files, stdin, http, a configured path, or other)",
    ["source"],
    registry=REGISTRY,
)
FIXED_SOURCES = frozenset({"files", "stdin"})


def source_label(source: str, configured: Iterable[str] = ()) -> str:
    """The `source` label of a batch's source. Label values come only from vigil itself and
    its configuration: a name a client chose (an ingest source) would let any writer add
    series without bound."""
    if source in FIXED_SOURCES:
        return source
    if source.startswith("http:"):
        return "http"
    for pattern in configured:
        if source == pattern or fnmatch.fnmatchcase(source, pattern):
            return pattern
    return "other"


LINES_PARSED = Counter("vigil_lines_parsed_total", "Lines parsed into records", registry=REGISTRY)
MALFORMED = Counter(
    "vigil_malformed_requests_total", "Records whose request line is not HTTP", registry=REGISTRY
)
DEAD_LETTERS = Counter(
    "vigil_dead_letters_total", "Lines that matched no log format", registry=REGISTRY
)
EVENTS = Counter(
    "vigil_events_total", "Scored requests by severity", ["severity"], registry=REGISTRY
)
EVENTS_STORED = Counter(
    "vigil_events_stored_total", "Threat events written to the database", registry=REGISTRY
)
QUEUE_DEPTH = Gauge(
    "vigil_queue_depth", "Batches waiting in front of a stage", ["stage"], registry=REGISTRY
)
LAG_SECONDS = Gauge(
    "vigil_lag_seconds", "Age of the newest stored line's batch at commit", registry=REGISTRY
)
BATCH_SECONDS = Histogram(
    "vigil_batch_seconds",
    "Time a stage spends on one batch",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
UNRECOVERABLE_RANGES = Counter(
    "vigil_unrecoverable_ranges_total",
    "Stretches of a log stream that no file held any more when vigil came to read them (what "
    "a writer added between copytruncate's copy and its truncate); each is logged with its "
    "file id and start offset",
    registry=REGISTRY,
)
STAGE_ERRORS = Counter(
    "vigil_stage_errors_total", "Errors a stage recovered from", ["stage"], registry=REGISTRY
)
AUTH_FAILURES = Counter(
    "vigil_auth_failures_total",
    "Requests refused for a missing or wrong API key",
    registry=REGISTRY,
)
CLUSTER_LAG_ENTRIES = Gauge(
    "vigil_cluster_lag_entries",
    "Entries of a partition stream the workers have not acknowledged yet",
    ["partition"],
    registry=REGISTRY,
)
CLUSTER_LAG_SECONDS = Gauge(
    "vigil_cluster_lag_seconds",
    "Age of the oldest entry of a partition the workers have not acknowledged",
    ["partition"],
    registry=REGISTRY,
)
