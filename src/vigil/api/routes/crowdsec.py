"""The CrowdSec Local API's decision endpoints, so CrowdSec bouncers (nginx, HAProxy, Traefik,
firewalls, CDNs) enforce vigil's decisions unchanged. Point a bouncer's `api_url` at vigil and
give it a vigil API key with read scope as its `api_key`."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from vigil.api.deps import ReadKey, SessionDep
from vigil.api.routes import KEYED
from vigil.sinks.blocklist import DecisionStream, active_decisions, crowdsec_decision

router = APIRouter(prefix="/v1", tags=["crowdsec"], responses=KEYED)


def _stream(request: Request) -> DecisionStream:
    stream = getattr(request.app.state, "decision_stream", None)
    if stream is None:
        stream = DecisionStream()
        request.app.state.decision_stream = stream
    return stream


@router.get(
    "/decisions/stream",
    summary="Decisions for a bouncer: all at start-up, then what changed since its last pull",
)
async def decisions_stream(
    request: Request,
    session: SessionDep,
    key: ReadKey,
    startup: Annotated[bool, Query(description="send every active decision")] = False,
) -> dict[str, list[dict[str, Any]]]:
    sites = sorted(key.visibility.sites) if key.visibility.sites is not None else None
    bouncer = f"{key.key_id}:{key.name}"
    return await _stream(request).pull(session, bouncer, startup=startup, sites=sites)


@router.get("/decisions", summary="Active decisions that cover one address (live mode)")
async def decisions_for_ip(
    session: SessionDep,
    key: ReadKey,
    ip: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]] | None:
    now = datetime.now(UTC)
    sites = sorted(key.visibility.sites) if key.visibility.sites is not None else None
    decisions = await active_decisions(session, sites, now=now)
    if ip is None:
        found = decisions
    else:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            raise HTTPException(422, detail="ip must be an IPv4 or IPv6 address") from None
        found = [d for d in decisions if address in ipaddress.ip_network(d.value, strict=False)]
    # CrowdSec answers `null` rather than an empty list, and bouncers expect that.
    return [crowdsec_decision(d, now) for d in found] or None
