"""`vigil keys …`: create, list and revoke API keys (only a hash of each key is stored)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import typer

from vigil.cli.console import err, out

if TYPE_CHECKING:
    from vigil.services import keys as key_service


keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def _run(coro: Any) -> Any:
    import asyncio

    async def wrapped() -> Any:
        from vigil.config import get_settings
        from vigil.db.session import open_database

        async with open_database(get_settings()):
            return await coro

    return asyncio.run(wrapped())


async def _create(name: str, scope: key_service.Scope, sites: list[str]) -> tuple[Any, str]:
    from vigil.db.session import get_db_context
    from vigil.services import keys as key_service

    async with get_db_context() as session:
        return await key_service.create_key(session, name=name, scope=scope, sites=sites)


@keys_app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="who or what uses the key"),
    scope: str = typer.Option("read", "--scope", help="read, write or admin"),
    site: list[str] = typer.Option(
        [], "--site", help="limit the key to this site (repeat for several; none: every site)"
    ),
) -> None:
    """Create a key and print it once: it cannot be shown again."""
    from vigil.services import keys as key_service

    if scope not in key_service.SCOPES:
        err.print(f"vigil: --scope must be one of {', '.join(key_service.SCOPES)}")
        raise typer.Exit(2)
    try:
        row, secret = _run(_create(name, scope, site))  # type: ignore[arg-type]
    except ValueError as exc:
        err.print(f"vigil: {exc}", markup=False)
        raise typer.Exit(2) from None
    sys.stdout.write(secret + "\n")
    sites = ", ".join(row.sites) or "every site"
    err.print(
        f"created key {row.id} ({row.prefix}) '{row.name}' scope={row.scope} sites={sites}; "
        "store it now, it is not shown again",
        markup=False,
    )


async def _list() -> list[Any]:
    from vigil.db.session import get_db_context
    from vigil.services import keys as key_service

    async with get_db_context() as session:
        return await key_service.list_keys(session)


@keys_app.command("list")
def list_keys(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """List keys (prefix, name, scope, sites; never the keys themselves)."""
    from rich.table import Table

    rows = _run(_list())
    if as_json:
        shown = [
            {
                "id": r.id,
                "prefix": r.prefix,
                "name": r.name,
                "scope": r.scope,
                "sites": r.sites,
                "created_at": r.created_at.isoformat(),
                "last_used_at": r.last_used_at.isoformat() if r.last_used_at else None,
                "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
            }
            for r in rows
        ]
        sys.stdout.write(json.dumps(shown, indent=2) + "\n")
        return
    table = Table("id", "prefix", "name", "scope", "sites", "created", "last used", "state")
    for r in rows:
        table.add_row(
            str(r.id),
            r.prefix,
            r.name,
            r.scope,
            ",".join(r.sites) or "*",
            r.created_at.strftime("%Y-%m-%d %H:%M"),
            r.last_used_at.strftime("%Y-%m-%d %H:%M") if r.last_used_at else "-",
            "revoked" if r.revoked_at else "active",
        )
    out.print(table)


async def _revoke(ident: str) -> Any:
    from vigil.db.session import get_db_context
    from vigil.services import keys as key_service

    async with get_db_context() as session:
        return await key_service.revoke_key(session, ident)


@keys_app.command("revoke")
def revoke(key: str = typer.Argument(..., help="the key's id or prefix")) -> None:
    """Revoke a key: requests with it are refused from now on."""
    row = _run(_revoke(key))
    if row is None:
        err.print(f"vigil: no key with id or prefix {key!r}", markup=False)
        raise typer.Exit(1)
    err.print(f"revoked key {row.id} ({row.prefix}) '{row.name}'", markup=False)
