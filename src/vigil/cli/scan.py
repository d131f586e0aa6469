"""`vigil scan FILE… | -`: the whole pipeline over files or stdin, then a summary."""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vigil.cli.console import err, out
from vigil.cli.summary import ScanSummary, most_common
from vigil.errors import InputError
from vigil.runtime import tune_gc

if TYPE_CHECKING:
    from vigil.batch import ScoredBatch
    from vigil.config import Settings


class Output(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class FailOn(StrEnum):
    never = "never"
    medium = "medium"
    high = "high"


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
        yield threat.to_dict()


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


class _StoredTally:
    """The scan's own sink: counts what the store wrote, for the summary."""

    name = "summary"
    durable = False
    healthy = True

    def __init__(self, summary: ScanSummary) -> None:
        self.summary = summary
        self.incident_ids: set[int] = set()

    async def start(self, stopping: Callable[[], bool]) -> None:
        return None

    async def write(self, batch: ScoredBatch) -> None:
        if batch.stored is None:
            return
        self.summary.stored_events += batch.stored.stored
        self.incident_ids.update(batch.stored.incident_ids)

    async def close(self) -> None:
        return None


async def _scan(
    paths: list[str],
    settings: Settings,
    summary: ScanSummary,
    writer: _ThreatWriter,
    *,
    store: bool,
    jsonl_all: bool,
    total: int | None,
) -> None:
    """Run the pipeline over the inputs; the summary is filled as batches are analysed."""
    from vigil.pipeline.assembly import open_pipeline
    from vigil.pipeline.runner import STORE_MERGE_LINES
    from vigil.sources.files import FilesSource

    def scored(batch: ScoredBatch) -> None:
        _report(batch, summary, writer, jsonl_all)

    tally = _StoredTally(summary)
    # A scan stores with the pipeline's bounds (queues of `queue_size` batches, transactions of
    # at most STORE_MERGE_LINES lines): with every line an attack, the batches in flight are
    # what holds the memory, and bigger transactions saved little (their fixed cost is a few
    # round trips against milliseconds of rows).
    merge_lines = STORE_MERGE_LINES
    with _progress(total) as progress:
        tracker = _ProgressTracker(progress, total)
        source = FilesSource(
            paths,
            settings.file_source,
            on_progress=lambda name, consumed: tracker.update(name, consumed, summary.lines),
        )
        async with open_pipeline(
            settings,
            sources=[source],
            store=store,
            extra_sinks=[tally],
            keep_results=jsonl_all,
            input_bytes=total,
            on_scored=scored,
            store_merge_lines=merge_lines,
        ) as pipeline:
            tune_gc()
            # Timed from here: start-up (imports, rules, the database) is not the scan. Hybrid
            # mode's models load with the first batch of requests, inside the timed part.
            started = time.perf_counter()
        summary.seconds = time.perf_counter() - started
        summary.format = pipeline.analyzer.parser.describe()
    if store:
        summary.incidents = len(tally.incident_ids)


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
    import asyncio

    from vigil.config import settings_with

    settings = settings_with(
        log_format=log_format or fmt, site=site, detection_mode=mode, paranoia_level=paranoia
    )
    total = _total_bytes(paths)
    summary = ScanSummary()
    writer = _ThreatWriter(output)
    asyncio.run(
        _scan(
            paths, settings, summary, writer, store=not no_store, jsonl_all=jsonl_all, total=total
        )
    )
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
