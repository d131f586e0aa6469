"""The root Typer app and the entry point that turns vigil errors into one clean line."""

from __future__ import annotations

import json
import sys

import typer

from vigil import __version__
from vigil.cli.blocklist import blocklist_app
from vigil.cli.cluster import agent, cluster_app, worker
from vigil.cli.console import err, out
from vigil.cli.db import db_app
from vigil.cli.incidents import incidents_app
from vigil.cli.keys import keys_app
from vigil.cli.models import models_app, train_cmd
from vigil.cli.profile import profile_app
from vigil.cli.rules import rules_app
from vigil.cli.scan import scan
from vigil.cli.serve import serve
from vigil.cli.simulate import simulate
from vigil.errors import VigilError

app = typer.Typer(
    name="vigil",
    help="vigil: find attacks in web-server access logs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(rules_app, name="rules")
app.add_typer(blocklist_app, name="blocklist")
app.add_typer(incidents_app, name="incidents")
app.add_typer(cluster_app, name="cluster")
app.command()(scan)
app.command()(serve)
app.command()(simulate)
app.command()(agent)
app.command()(worker)
app.command("train")(train_cmd)
app.add_typer(models_app, name="models")
app.add_typer(profile_app, name="profile")


@app.command()
def version() -> None:
    """Print vigil's version."""
    out.print(f"vigil {__version__}")


@app.command()
def config(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Show the settings in force, with secrets redacted."""
    from rich.table import Table

    from vigil.config import get_settings

    shown = get_settings().redacted()
    if as_json:
        sys.stdout.write(json.dumps(shown, indent=2, default=str) + "\n")
        return
    table = Table("setting", "value", box=None)
    for name, value in shown.items():
        if isinstance(value, list):
            value = ",".join(value)
        table.add_row(f"VIGIL_{name.upper()}", "" if value is None else str(value))
    out.print(table)


@app.command()
def health() -> None:
    """Check that the database (and Redis, if configured) can be reached."""
    import asyncio

    from vigil.config import get_settings
    from vigil.health import run_checks

    checks = asyncio.run(run_checks(get_settings()))
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        (out if check.ok else err).print(f"{mark} {check.name}: {check.detail}")
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point: vigil errors become one line on stderr and an exit code."""
    try:
        app()
    except VigilError as exc:
        err.print(f"vigil: {exc}", markup=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("vigil: interrupted")
        sys.exit(130)
