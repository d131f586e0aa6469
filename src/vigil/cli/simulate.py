"""`vigil simulate`: write realistic mixed traffic with every attack family and scenario."""

from __future__ import annotations

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
) -> None:
    """Write a combined-format access log of benign traffic, attacks and behaviour scenarios."""
    from vigil.simulate.mix import write_mixed

    counts = write_mixed(out, lines, seed, labels_path=labels, scenarios=scenarios)
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
