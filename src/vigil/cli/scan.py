"""`vigil scan FILE… | -`: the whole pipeline over files or stdin, then a summary."""

from __future__ import annotations

import asyncio
import csv
import sys
import time
from collections import deque
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vigil.batch import LineBatch
from vigil.cli.console import err, out
from vigil.config import Settings, settings_with
from vigil.errors import InputError
from vigil.pipeline.summary import ScanSummary, most_common
from vigil.runtime import tune_gc

if TYPE_CHECKING:
    from vigil.batch import ScoredBatch
    from vigil.pipeline.analyze import Analyzer
    from vigil.pipeline.helper_process import Prefetched


PREFETCH_BATCHES = 4
"""Batches handed to the helper process ahead of the one being analysed."""


SCAN_STORE_MERGE_LINES = 32_768
"""Lines a scan may store in one transaction when the store is behind (see the pipeline)."""


class Output(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class FailOn(StrEnum):
    never = "never"
    medium = "medium"
    high = "high"


def _batches(paths: list[str], settings: Settings) -> Iterator[tuple[LineBatch, int]]:
    """Batches of every input in order, with the input bytes consumed so far (for progress)."""
    from vigil.sources.files import LineReader

    for path in paths:
        source = "stdin" if path == "-" else str(Path(path).resolve())
        with LineReader.from_settings(settings, path, source=source) as reader:
            for batch in reader:
                yield batch, reader.bytes_read


def _total_bytes(paths: list[str]) -> int | None:
    total = 0
    for path in paths:
        if path == "-":
            return None
        p = Path(path)
        if not p.exists():
            raise InputError(f"no such file: {path}")
        if p.is_dir():
            raise InputError(f"{path} is a directory; give log files or - for stdin")
        total += p.stat().st_size
    return total


def _emit_line_results(batch: ScoredBatch) -> None:
    if batch.results is None:
        return
    write = sys.stdout.write
    for result in batch.results:
        item: dict[str, Any] = {
            "line": result.line,
            "score": result.score,
            "severity": result.severity,
            "rules": result.rules,
            "categories": result.categories,
        }
        if result.dead_letter is not None:
            item["dead_letter"] = result.dead_letter
        write(orjson.dumps(item).decode() + "\n")


def _threat_dicts(batch: ScoredBatch) -> Iterator[dict[str, Any]]:
    for threat in batch.threats:
        record = threat.record
        yield {
            "observed_at": record.observed_at.isoformat() if record.observed_at else None,
            "client_ip": record.client_ip,
            "method": record.method,
            "path": record.path,
            "query": record.query,
            "status": record.status,
            "user_agent": record.user_agent,
            "score": threat.score,
            "severity": threat.severity,
            "categories": threat.categories,
            "rules": [m["rule_id"] for m in threat.matches],
            "source": record.source,
            "offset": record.offset,
        }


class _ThreatWriter:
    """Streams threats as JSON lines or CSV while the scan runs."""

    FIELDS = (
        "observed_at",
        "client_ip",
        "severity",
        "score",
        "categories",
        "rules",
        "method",
        "path",
        "query",
        "status",
        "user_agent",
        "source",
        "offset",
    )

    def __init__(self, output: Output) -> None:
        self.output = output
        self._csv = None
        if output is Output.csv:
            self._csv = csv.DictWriter(sys.stdout, fieldnames=self.FIELDS, extrasaction="ignore")
            self._csv.writeheader()

    def write(self, batch: ScoredBatch) -> None:
        if self.output is Output.jsonl:
            for item in _threat_dicts(batch):
                sys.stdout.write(orjson.dumps(item).decode() + "\n")
        elif self._csv is not None:
            for item in _threat_dicts(batch):
                item["categories"] = ";".join(item["categories"])
                item["rules"] = ";".join(item["rules"])
                self._csv.writerow(item)


def _print_summary(summary: ScanSummary, output: Output, stored: bool) -> None:
    if output is Output.json:
        sys.stdout.write(orjson.dumps(summary.as_dict(), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
        return
    console = out if output is Output.table else err
    console.print(f"[bold]vigil scan[/bold] — format: {summary.format}")
    console.print(
        f"lines {summary.lines:,}  parsed {summary.records:,}  malformed requests "
        f"{summary.malformed:,}  dead letters {summary.dead_letters:,}"
    )
    sev = summary.by_severity
    behaviour = sev["HIGH (behaviour)"] + sev["MEDIUM (behaviour)"]
    console.print(
        f"threats: [red]HIGH {sev['HIGH']:,}[/red]  [yellow]MEDIUM {sev['MEDIUM']:,}[/yellow]  "
        f"LOW {sev['LOW']:,}  behaviour events {behaviour:,}"
    )
    if summary.research_scanners:
        console.print(
            f"research scanners (LOW, counted, no alert): {summary.research_scanners:,} requests"
        )
    for title, counter in (
        ("category", summary.by_category),
        ("attacking IP", summary.top_ips),
        ("rule", summary.top_rules),
    ):
        if not counter:
            continue
        table = Table(title, "count", box=None, title_justify="left")
        for name, count in most_common(counter, 10):
            table.add_row(str(name), f"{count:,}")
        console.print(table)
    if summary.incidents is not None:
        console.print(f"incidents: {summary.incidents:,}  stored events: {summary.stored_events:,}")
    elif not stored:
        console.print(f"attacking clients: {len(summary.top_ips):,} (not stored: --no-store)")
    console.print(f"time {summary.seconds:.2f} s  —  {summary.lines_per_second:,.0f} lines/s")


def _progress(total: int | None) -> Progress:
    return Progress(
        TextColumn("scanning"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%" if total else "{task.completed:,} bytes"),
        TextColumn("{task.fields[lines]:,} lines"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


class _ProgressTracker:
    """Bytes done across several inputs, each reporting its own position."""

    def __init__(self, progress: Progress, total: int | None) -> None:
        self._progress = progress
        self._task = progress.add_task("scan", total=total, lines=0)
        self._done_before = 0
        self._last = 0
        self._source: str | None = None

    def update(self, source: str, consumed: int, lines: int) -> None:
        if source != self._source:
            self._done_before += self._last
            self._source = source
        self._last = consumed
        self._progress.update(self._task, completed=self._done_before + consumed, lines=lines)


def _report(
    scored: ScoredBatch, summary: ScanSummary, writer: _ThreatWriter, jsonl_all: bool
) -> None:
    """Count a scored batch into the summary and print what the output mode asks for."""
    summary.add(scored)
    if jsonl_all:
        _emit_line_results(scored)
    else:
        writer.write(scored)


def _scan_no_store(
    paths: list[str],
    analyzer: Analyzer,
    settings: Settings,
    summary: ScanSummary,
    writer: _ThreatWriter,
    jsonl_all: bool,
    total: int | None,
) -> None:
    # With a helper process, batches are handed to it a few ahead of their analysis here, so
    # that both processes stay busy.
    ahead = PREFETCH_BATCHES if analyzer.helper is not None else 0
    pending: deque[tuple[LineBatch, Prefetched | None]] = deque()

    def analyze_waiting(keep: int) -> None:
        while len(pending) > keep:
            batch, prefetched = pending.popleft()
            _report(analyzer.analyze(batch, prefetched=prefetched), summary, writer, jsonl_all)

    with _progress(total) as progress:
        tracker = _ProgressTracker(progress, total)
        for batch, consumed in _batches(paths, settings):
            pending.append((batch, analyzer.prefetch(batch)))
            analyze_waiting(ahead)
            tracker.update(batch.source, consumed, summary.lines)
        analyze_waiting(0)


async def _scan_store(
    paths: list[str],
    analyzer: Analyzer,
    settings: Settings,
    summary: ScanSummary,
    writer: _ThreatWriter,
    jsonl_all: bool,
    total: int | None,
) -> None:
    from vigil.db.session import close_db, configure_db, init_db
    from vigil.pipeline.runner import Pipeline
    from vigil.pipeline.setup import build_webhooks, ensure_schema
    from vigil.sinks.broker import make_broker
    from vigil.sinks.store import StoreSink

    await ensure_schema(settings)
    configure_db(settings)
    await init_db()
    broker = make_broker(settings.redis_url)
    await broker.connect()
    webhooks = build_webhooks(settings)
    incident_ids: set[int] = set()

    def scored_cb(batch: ScoredBatch) -> None:
        _report(batch, summary, writer, jsonl_all)

    async def stored_cb(batch: ScoredBatch, result: Any) -> None:
        summary.stored_events += len(result.events)
        incident_ids.update(e["incident_id"] for e in result.events if e["incident_id"])

    # Room for a full transaction's worth of batches between analysis and the store.
    queue_size = max(settings.queue_size, 2 * SCAN_STORE_MERGE_LINES // settings.batch_size)
    pipeline = Pipeline(
        settings.model_copy(update={"queue_size": queue_size}),
        analyzer=analyzer,
        store=StoreSink(settings),
        broker=broker,
        webhooks=webhooks,
        on_scored=scored_cb,
        on_stored=stored_cb,
        store_merge_lines=SCAN_STORE_MERGE_LINES,
    )
    await pipeline.start()
    try:
        with _progress(total) as progress:
            tracker = _ProgressTracker(progress, total)
            for batch, consumed in _batches(paths, settings):
                await pipeline.submit(batch)
                tracker.update(batch.source, consumed, summary.lines)
        await pipeline.stop(drain=True)
        summary.incidents = len(incident_ids)
    finally:
        await pipeline.stop(drain=False)
        await broker.close()
        await close_db()


def scan(
    paths: list[str] = typer.Argument(..., help="log files (plain or .gz), or - for stdin"),
    fmt: str = typer.Option(
        None,
        "--format",
        "-f",
        help="combined, common, apache-combined, json, auto (default: VIGIL_LOG_FORMAT)",
    ),
    log_format: str = typer.Option(
        None, "--log-format", help="an nginx log_format or Apache LogFormat string"
    ),
    site: str = typer.Option(None, "--site", help="site name for the events"),
    no_store: bool = typer.Option(False, "--no-store", help="analyse only; write nothing"),
    output: Output = typer.Option(Output.table, "--output", "-o", help="summary/threat output"),
    jsonl_all: bool = typer.Option(
        False, "--jsonl-all", help="print one JSON object per input line, in input order"
    ),
    fail_on: FailOn = typer.Option(
        FailOn.never, "--fail-on", help="exit 3 when a threat of this severity or higher is found"
    ),
    mode: str = typer.Option(
        None, "--mode", help="rules or hybrid (default: VIGIL_DETECTION_MODE)"
    ),
    paranoia: int = typer.Option(None, "--paranoia", min=1, max=4, help="rule paranoia level"),
) -> None:
    """Analyse log files or stdin with the whole pipeline and print a summary."""
    settings = settings_with(
        log_format=log_format or fmt, site=site, detection_mode=mode, paranoia_level=paranoia
    )
    from vigil.pipeline import helper_process
    from vigil.pipeline.setup import build_analyzer

    total = _total_bytes(paths)
    # The helper starts first: its start-up (imports, rule compilation) then overlaps this
    # process's own instead of holding up the first batches.
    helper = (
        helper_process.HelperProcess(settings) if helper_process.wanted(settings, total) else None
    )
    try:
        analyzer = build_analyzer(settings, keep_results=jsonl_all, enrich=not no_store)
    except BaseException:
        if helper is not None:
            helper.close()
        raise
    analyzer.helper = helper
    tune_gc()
    summary = ScanSummary()
    writer = _ThreatWriter(output)
    started = time.perf_counter()
    try:
        if no_store:
            _scan_no_store(paths, analyzer, settings, summary, writer, jsonl_all, total)
        else:
            asyncio.run(_scan_store(paths, analyzer, settings, summary, writer, jsonl_all, total))
    finally:
        analyzer.close()
    summary.seconds = time.perf_counter() - started
    summary.format = analyzer.parser.describe()
    if settings.log_format == "auto":
        err.print(f"detected format: {summary.format}")
    if not jsonl_all:
        _print_summary(summary, output, stored=not no_store)
    else:
        err.print(
            f"{summary.lines:,} lines, {summary.threats:,} threats, "
            f"{summary.lines_per_second:,.0f} lines/s"
        )
    sev = summary.by_severity
    if (fail_on is FailOn.high and sev["HIGH"]) or (
        fail_on is FailOn.medium and (sev["HIGH"] or sev["MEDIUM"])
    ):
        raise typer.Exit(3)
