"""`vigil profile show|export|reset --site S`: a site's learned profile in the database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from vigil.cli.console import out
from vigil.cli.models import _run_db
from vigil.errors import InputError

profile_app = typer.Typer(
    help="Show, export or reset a site's learned profile.", no_args_is_help=True
)

SiteOption = typer.Option(None, "--site", help="the site (default: VIGIL_SITE)")


async def _load(site: str) -> Any:
    from vigil.db.session import get_db_context
    from vigil.services.profiles import get_profile

    async with get_db_context() as session:
        profile = await get_profile(session, site)
    if profile is None:
        raise InputError(f"no profile stored for site {site!r}")
    return profile


def _site(site: str | None) -> tuple[Any, str]:
    from vigil.config import get_settings

    settings = get_settings()
    return settings, site or settings.site


def summary(profile: Any) -> dict[str, Any]:
    """What `vigil profile show --json` prints: the profile's state and its endpoints."""
    from vigil.detect.profile.judge import ProfileJudge

    judge = ProfileJudge(profile)
    endpoints = []
    for (method, template), view in sorted(judge.endpoints.items(), key=lambda kv: kv[0][1]):
        endpoints.append(
            {
                "method": method,
                "template": template,
                "requests": round(view.requests),
                "clients": view.clients,
                "judged": view.judged,
                "parameters": {
                    name: {
                        "types": sorted(p.types),
                        "length": [p.lo, p.hi],
                        "values": sorted(v.decode("latin-1") for v in p.enum) if p.enum else None,
                    }
                    for name, p in sorted(view.params.items())
                },
            }
        )
    return {
        "site": profile.site,
        "judging": profile.judging,
        "trained": profile.trained,
        "requests": round(profile.requests),
        "clients": profile.client_count(),
        "first_seen": profile.first_seen.isoformat() if profile.first_seen else None,
        "last_seen": profile.last_seen.isoformat() if profile.last_seen else None,
        "endpoints_learned": len(profile.endpoints),
        "parameter_models": profile.param_count,
        "need_clients": judge.need,
        "endpoints": endpoints,
    }


@profile_app.command("show")
def show(
    site: str | None = SiteOption,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """What the site's profile knows: its state and each known endpoint's parameters."""
    settings, name = _site(site)
    data = summary(_run_db(settings, _load(name)))
    if as_json:
        out.print_json(json.dumps(data))
        return
    out.print(
        f"site {data['site']}: {'judging' if data['judging'] else 'learning'}; "
        f"{data['requests']:,} requests from {data['clients']:,} clients; "
        f"{data['endpoints_learned']} endpoints, {data['parameter_models']} parameter models"
    )
    table = Table("endpoint", "requests", "clients", "parameters")
    for item in data["endpoints"]:
        params = ", ".join(
            f"{n}:{'|'.join(p['types']) or '?'}" for n, p in item["parameters"].items()
        )
        label = (
            item["template"] if item["method"] == "GET" else f"{item['method']} {item['template']}"
        )
        table.add_row(label, f"{item['requests']:,}", f"{item['clients']:,}", params)
    out.print(table)


@profile_app.command("export")
def export(
    site: str | None = SiteOption,
    out_file: Path = typer.Option(None, "--out", help="write here instead of standard output"),
) -> None:
    """The whole learned profile as JSON (what is stored, readable)."""
    settings, name = _site(site)
    text = json.dumps(_run_db(settings, _load(name)).to_json(), indent=1)
    if out_file is not None:
        out_file.write_text(text + "\n", encoding="utf-8")
        out.print(f"wrote {out_file}")
        return
    print(text)


@profile_app.command("reset")
def reset(site: str | None = SiteOption) -> None:
    """Forget the site's profile: it is learned again from the next traffic (a running
    `vigil serve` keeps its copy until restarted)."""
    from vigil.db.session import get_db_context
    from vigil.services.profiles import delete_profile

    settings, name = _site(site)

    async def job() -> bool:
        async with get_db_context() as session:
            return await delete_profile(session, name)

    if not _run_db(settings, job()):
        raise InputError(f"no profile stored for site {name!r}")
    out.print(f"profile of site {name} deleted")
