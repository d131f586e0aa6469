"""`vigil db …`: schema migrations."""

from __future__ import annotations

import sys

import typer

from vigil.cli.console import err, out
from vigil.config import Settings, get_settings, redact_url
from vigil.db import migrate

db_app = typer.Typer(help="Create and migrate the database schema (Alembic).", no_args_is_help=True)


def _report(settings: Settings) -> None:
    revision = migrate.current_revision(settings) or "base (empty)"
    err.print(f"database {redact_url(settings.database_url)} at {revision}")


@db_app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="target revision")) -> None:
    """Upgrade the schema to REVISION (default: the newest)."""
    settings = get_settings()
    migrate.upgrade(revision, settings)
    err.print(
        f"database {redact_url(settings.database_url)} at {migrate.current_revision(settings)}"
    )


@db_app.command("downgrade")
def downgrade(revision: str = typer.Argument(..., help="target revision, e.g. base or -1")) -> None:
    """Downgrade the schema to REVISION."""
    settings = get_settings()
    migrate.downgrade(revision, settings)
    err.print(
        f"database {redact_url(settings.database_url)} at {migrate.current_revision(settings)}"
    )


@db_app.command("current")
def current() -> None:
    """Print the schema revision of the database (or 'none')."""
    settings = get_settings()
    rev = migrate.current_revision(settings)
    head = migrate.head_revision()
    state = "up to date" if rev == head else f"head is {head}"
    out.print(f"{rev or 'none'} ({state})")


@db_app.command("sql")
def sql(revision: str = typer.Argument("head", help="target revision")) -> None:
    """Print the SQL that creates the schema, for DBAs who apply it by hand."""
    sys.stdout.write(migrate.offline_sql(revision, get_settings()))
