"""`vigil blocklist …`: the decisions in force, for firewalls and proxies."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from vigil.cli.console import err
from vigil.sinks.export_formats import EXPORT_FORMATS

if TYPE_CHECKING:
    from vigil.db.models import Decision


blocklist_app = typer.Typer(
    help="Export block decisions for nginx, nftables and others.", no_args_is_help=True
)


async def _load(site: list[str] | None, include_simulated: bool) -> list[Decision]:
    from vigil.config import get_settings
    from vigil.db.session import get_db_context, open_database
    from vigil.sinks.blocklist import active_decisions

    async with open_database(get_settings()), get_db_context() as session:
        return list(
            await active_decisions(session, site or None, include_simulated=include_simulated)
        )


@blocklist_app.command("export")
def export(
    fmt: str = typer.Option("plain", "--format", "-f", help=f"one of {', '.join(EXPORT_FORMATS)}"),
    out: Path = typer.Option(None, "--out", "-o", help="write to this file (default: stdout)"),
    site: list[str] = typer.Option(None, "--site", help="only these sites"),
    include_simulated: bool = typer.Option(
        False, "--include-simulated", help="also decisions made in simulation mode"
    ),
) -> None:
    """Write the decisions in force as an nginx include, a plain list, nftables or JSON."""
    import asyncio

    from vigil.config import get_settings

    if fmt not in EXPORT_FORMATS:
        raise typer.BadParameter(
            f"choose one of {', '.join(EXPORT_FORMATS)}", param_hint="--format"
        )
    get_settings()
    decisions = asyncio.run(_load(site, include_simulated))
    from vigil.sinks.blocklist import render

    text = render(decisions, fmt)
    if out is None:
        sys.stdout.write(text)
    else:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(out)  # atomic: a reloading nginx never sees half a file
        err.print(f"wrote {len(decisions)} decisions to {out}")
