"""`vigil incidents list | show ID`: the incidents stored, and one explained."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

import typer

from vigil.cli.console import err, out

if TYPE_CHECKING:
    from vigil.db.models import Incident

incidents_app = typer.Typer(
    help="Stored incidents: per client, and campaigns across clients.", no_args_is_help=True
)


def _incident_row(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "site": incident.site,
        "client": incident.client_ip,
        "campaign": incident.campaign,
        "status": incident.status,
        "severity": incident.top_severity,
        "score": round(incident.max_score, 3),
        "events": incident.event_count,
        "first_seen": incident.first_seen.isoformat(),
        "last_seen": incident.last_seen.isoformat(),
        "categories": list(incident.categories or []),
        "summary": incident.summary,
    }


async def _list(site: str | None, limit: int, campaigns: bool) -> list[dict[str, Any]]:
    from vigil.db.session import close_db, get_db_context, init_db
    from vigil.services.incidents import IncidentFilter, list_incidents
    from vigil.services.visibility import Visibility

    await init_db()
    try:
        async with get_db_context() as session:
            rows: list[dict[str, Any]] = []
            cursor = None
            while len(rows) < limit:
                page = await list_incidents(
                    session, Visibility(), IncidentFilter(site=site), limit=200, cursor=cursor
                )
                rows += [_incident_row(i) for i in page.items if not campaigns or i.campaign]
                cursor = page.next_cursor
                if cursor is None:
                    break
            return rows[:limit]
    finally:
        await close_db()


async def _show(incident_id: int, events: int, members: int) -> dict[str, Any] | None:
    from vigil.db.session import close_db, get_db_context, init_db
    from vigil.services.incidents import (
        get_incident,
        incident_decisions,
        incident_events,
        incident_members,
        member_counts,
    )
    from vigil.services.visibility import Visibility

    visible = Visibility()
    await init_db()
    try:
        async with get_db_context() as session:
            incident = await get_incident(session, visible, incident_id)
            if incident is None:
                return None
            shown = _incident_row(incident)
            shown["members"] = [
                {
                    "client": m.client_ip,
                    "hits": m.hits,
                    "events": m.events,
                    "first_seen": m.first_seen.isoformat(),
                    "last_seen": m.last_seen.isoformat(),
                }
                for m in (await incident_members(session, visible, incident, limit=members)).items
            ]
            shown["member_count"] = (await member_counts(session, visible, [incident.id])).get(
                incident.id, 0
            )
            shown["decisions"] = [
                {
                    "id": d.id,
                    "value": d.value,
                    "reason": d.reason,
                    "simulated": d.simulated,
                    "expires_at": d.expires_at.isoformat() if d.expires_at else None,
                }
                for d in await incident_decisions(session, visible, incident)
            ]
            shown["latest_events"] = [
                {
                    "id": e.id,
                    "observed_at": e.observed_at.isoformat(),
                    "client": e.client_ip,
                    "severity": e.severity,
                    "categories": list(e.categories or []),
                    "request": f"{e.method} {e.path}".strip(),
                    "status": e.status,
                    "explanation": _explanation(e.matched_rules),
                }
                for e in await incident_events(session, visible, incident, limit=events)
            ]
            return shown
    finally:
        await close_db()


def _explanation(matches: list[dict[str, Any]] | None) -> str:
    """What a stored event's matches say: a behaviour event's explanation, or its rules."""
    parts = []
    for match in matches or []:
        evidence = match.get("evidence")
        if isinstance(evidence, dict) and evidence.get("explanation"):
            parts.append(str(evidence["explanation"]))
        else:
            parts.append(str(match.get("rule_id", "")))
    return "; ".join(p for p in parts if p)


@incidents_app.command("list")
def list_cmd(
    site: str = typer.Option(None, "--site", help="only this site"),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="at most this many"),
    campaigns: bool = typer.Option(False, "--campaigns", help="only campaigns across clients"),
    as_json: bool = typer.Option(False, "--json", help="print JSON lines"),
) -> None:
    """The most recently active incidents first."""
    from rich.table import Table

    from vigil.config import get_settings

    get_settings()
    rows = asyncio.run(_list(site, limit, campaigns))
    if as_json:
        sys.stdout.write("".join(json.dumps(r) + "\n" for r in rows))
        return
    table = Table("id", "site", "client / campaign", "severity", "events", "last seen", box=None)
    for r in rows:
        who = f"campaign {r['campaign']}" if r["campaign"] else r["client"]
        table.add_row(str(r["id"]), r["site"], who, r["severity"], str(r["events"]), r["last_seen"])
    out.print(table)


@incidents_app.command("show")
def show_cmd(
    incident_id: int = typer.Argument(..., help="incident id (from `vigil incidents list`)"),
    events: int = typer.Option(10, "--events", min=0, max=1000, help="latest events shown"),
    members: int = typer.Option(
        100, "--members", min=0, max=100_000, help="a campaign's most recent members shown"
    ),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """One incident explained: what it is, its members and decisions, its latest events."""
    from vigil.config import get_settings

    get_settings()
    shown = asyncio.run(_show(incident_id, events, members))
    if shown is None:
        err.print(f"no incident {incident_id}")
        raise typer.Exit(1)
    if as_json:
        sys.stdout.write(json.dumps(shown, indent=2) + "\n")
        return
    if shown["campaign"]:
        out.print(f"incident {shown['id']} on {shown['site']}: campaign {shown['campaign']}")
    else:
        out.print(f"incident {shown['id']} on {shown['site']}: client {shown['client']}")
    out.print(
        f"  {shown['severity']} (score {shown['score']}), {shown['events']} events from "
        f"{shown['first_seen']} to {shown['last_seen']}, {shown['status']}"
    )
    out.print(f"  categories: {', '.join(shown['categories'])}")
    if shown["summary"]:
        out.print(f"  why: {shown['summary']}", soft_wrap=True)
    if shown["members"]:
        more = shown["member_count"] - len(shown["members"])
        listed = f", the {len(shown['members'])} most recent listed" if more > 0 else ""
        out.print(f"  members ({shown['member_count']}{listed}):")
        for m in shown["members"]:
            out.print(f"    {m['client']}: {m['hits']} hits, {m['first_seen']} → {m['last_seen']}")
        if more > 0:
            out.print(f"    … {more} more (--members N, or GET /incidents/{shown['id']}/members)")
    if shown["decisions"]:
        out.print(f"  decisions ({len(shown['decisions'])}):")
        for d in shown["decisions"]:
            flag = " (simulated)" if d["simulated"] else ""
            out.print(f"    block {d['value']} until {d['expires_at']}{flag}: {d['reason']}")
    if shown["latest_events"]:
        out.print("  latest events:")
        for e in shown["latest_events"]:
            out.print(
                f"    #{e['id']} {e['observed_at']} {e['client']} {e['severity']} "
                f"{e['request']} → {e['status']}: {e['explanation'] or ', '.join(e['categories'])}",
                soft_wrap=True,
            )
