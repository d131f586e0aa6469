"""`vigil db …`: schema migrations."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from vigil.cli.console import err, out

if TYPE_CHECKING:
    from vigil.config import Settings

db_app = typer.Typer(help="Create and migrate the database schema (Alembic).", no_args_is_help=True)


def _report(settings: Settings) -> None:
    from vigil.config import redact_url
    from vigil.db import migrate

    revision = migrate.current_revision(settings) or "base (empty)"
    err.print(f"database {redact_url(settings.database_url)} at {revision}")


@db_app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="target revision")) -> None:
    """Upgrade the schema to REVISION (default: the newest)."""
    from vigil.config import get_settings, redact_url
    from vigil.db import migrate

    settings = get_settings()
    migrate.upgrade(revision, settings)
    err.print(
        f"database {redact_url(settings.database_url)} at {migrate.current_revision(settings)}"
    )


@db_app.command("downgrade")
def downgrade(revision: str = typer.Argument(..., help="target revision, e.g. base or -1")) -> None:
    """Downgrade the schema to REVISION."""
    from vigil.config import get_settings, redact_url
    from vigil.db import migrate

    settings = get_settings()
    migrate.downgrade(revision, settings)
    err.print(
        f"database {redact_url(settings.database_url)} at {migrate.current_revision(settings)}"
    )


@db_app.command("current")
def current() -> None:
    """Print the schema revision of the database (or 'none')."""
    from vigil.config import get_settings
    from vigil.db import migrate

    settings = get_settings()
    rev = migrate.current_revision(settings)
    head = migrate.head_revision()
    state = "up to date" if rev == head else f"head is {head}"
    out.print(f"{rev or 'none'} ({state})")


@db_app.command("sql")
def sql(revision: str = typer.Argument("head", help="target revision")) -> None:
    """Print the SQL that creates the schema, for DBAs who apply it by hand."""
    from vigil.config import get_settings
    from vigil.db import migrate

    sys.stdout.write(migrate.offline_sql(revision, get_settings()))


@db_app.command("prune")
def prune(
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Remove events past VIGIL_RETENTION_DAYS and rollups past VIGIL_ROLLUP_RETENTION_DAYS.

    On PostgreSQL whole day partitions are detached and dropped (readers are not blocked);
    elsewhere rows go in small transactions. `vigil serve` does this by itself every
    VIGIL_PRUNE_INTERVAL_MINUTES.
    """
    import asyncio
    import json

    from vigil.config import get_settings
    from vigil.db.retention import prune as prune_database
    from vigil.db.session import get_engine, open_database

    settings = get_settings()

    async def run() -> dict[str, object]:
        async with open_database(settings):
            return (await prune_database(get_engine(), settings)).as_dict()

    report = asyncio.run(run())
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")
        return
    dropped = report["partitions_dropped"]
    rows = report["rows_deleted"]
    out.print(
        f"pruned in {report['seconds']} s: events before {report['event_cutoff'] or 'never'}, "
        f"rollups before {report['rollup_cutoff'] or 'never'}"
    )
    out.print(f"day partitions dropped: {', '.join(dropped) if dropped else 'none'}")  # type: ignore[arg-type]
    for table, count in rows.items():  # type: ignore[attr-defined]
        out.print(f"rows deleted from {table}: {count:,}")
