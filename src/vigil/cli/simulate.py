"""`vigil simulate`: write realistic mixed traffic with every attack family and scenario."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from rich.table import Table

from vigil.cli.console import err


def simulate(
    out: Path = typer.Option(..., "--out", "-o", help="log file to write"),
    lines: int = typer.Option(20_000, "--lines", "-n", min=0, help="background lines"),
    seed: int = typer.Option(1, "--seed", help="same seed, same log"),
    labels: Path = typer.Option(None, "--labels", help="also write one label per line here"),
    scenarios: bool = typer.Option(
        True, "--scenarios/--no-scenarios", help="add behaviour scenarios and near-misses"
    ),
    start: str | None = typer.Option(
        None,
        "--start",
        help="first day of the log (UTC): YYYY-MM-DD, `today` or `yesterday`; "
        "default 2024-03-14, so that the same seed gives the same log",
    ),
) -> None:
    """Write a combined-format access log of one day of benign traffic, attacks and behaviour
    scenarios."""
    from vigil.simulate.mix import write_mixed
    from vigil.simulate.traffic import DEFAULT_START

    first_day = DEFAULT_START if start is None else start_day(start)
    counts = write_mixed(out, lines, seed, labels_path=labels, scenarios=scenarios, start=first_day)
    table = Table(
        "label",
        "lines",
        box=None,
        title=f"wrote {sum(counts.values()):,} lines to {out}",
        title_justify="left",
    )
    for label, count in counts.most_common():
        table.add_row(label, f"{count:,}")
    err.print(table)


def start_day(text: str) -> datetime:
    """Midnight UTC of the day `text` names (a date, `today` or `yesterday`).

    The demo writes yesterday's traffic: events older than the retention
    (`VIGIL_RETENTION_DAYS`) are pruned when `vigil serve` starts, so a log of a fixed past day
    would be gone from the dashboard it is meant to fill."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    named = {"today": today, "yesterday": today - timedelta(days=1)}
    day = named.get(text.strip().lower())
    if day is not None:
        return day
    try:
        parsed = datetime.strptime(text.strip(), "%Y-%m-%d")
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a day: use YYYY-MM-DD, today or yesterday", param_hint="--start"
        ) from None
    return parsed.replace(tzinfo=UTC)
