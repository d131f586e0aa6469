"""The CrowdSec Local API's decision endpoints, so CrowdSec bouncers (nginx, HAProxy, Traefik,
firewalls, CDNs) enforce vigil's decisions unchanged. Point a bouncer's `api_url` at vigil and
give it a vigil API key (read scope, one key per bouncer) as its `api_key`.

They answer as the Local API does: empty lists are `null`, errors are `{"message": ...}`, a
missing or wrong key is 403, and `HEAD` works where `GET` does. A key limited to some sites
gets those sites' decisions and the ones made for every site. See `vigil.services.crowdsec`
for the stream's rules.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from vigil import metrics
from vigil.api.deps import PresentedKey, SessionDep
from vigil.services import crowdsec
from vigil.services.keys import Principal


class CrowdsecError(Exception):
    """An error answered the Local API's way: a status and `{"message": ...}`."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class MessageOut(BaseModel):
    """An error as the Local API reports it."""

    message: str


class DecisionView(BaseModel):
    """One decision in the Local API's shape (`duration` in Go's notation, e.g. `3h59m12s`)."""

    id: int
    origin: str
    type: str
    scope: str
    value: str
    duration: str
    scenario: str
    until: str
    simulated: bool


class StreamOut(BaseModel):
    new: list[DecisionView] | None
    deleted: list[DecisionView] | None


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": MessageOut, "description": "a parameter is not valid"},
    403: {"model": MessageOut, "description": "missing or invalid API key"},
}

router = APIRouter(prefix="/v1", tags=["crowdsec"], responses=ERRORS)


async def crowdsec_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CrowdsecError)
    return JSONResponse(status_code=exc.status_code, content={"message": exc.message})


async def bouncer_key(principal: PresentedKey) -> Principal:
    if principal is None:
        metrics.AUTH_FAILURES.inc()
        raise CrowdsecError(403, "access forbidden")
    return principal


BouncerKey = Annotated[Principal, Depends(bouncer_key)]


def _sites(key: Principal) -> list[str] | None:
    return sorted(key.visibility.sites) if key.visibility.sites is not None else None


def _bouncer(key: Principal) -> str:
    return f"key:{key.key_id}" if key.key_id is not None else key.name


class StreamQuery(BaseModel):
    """What a bouncer may ask the stream for; lists are comma-separated, caseless."""

    startup: bool = False
    scopes: str | None = Field(None, max_length=256, description="e.g. `ip,range`")
    origins: str | None = Field(None, max_length=256, description="e.g. `vigil,api`")
    scenarios_containing: str | None = Field(None, max_length=1024)
    scenarios_not_containing: str | None = Field(None, max_length=1024)


@router.get(
    "/decisions/stream",
    response_model=StreamOut,
    summary="Decisions for a bouncer: all at start-up, then what changed since its last pull",
)
async def decisions_stream(
    session: SessionDep,
    key: BouncerKey,
    query: Annotated[StreamQuery, Query()],
) -> dict[str, Any]:
    new, deleted = await crowdsec.pull_stream(
        session,
        _bouncer(key),
        startup=query.startup,
        sites=_sites(key),
        decision_filter=crowdsec.DecisionFilter.parse(
            scopes=query.scopes,
            origins=query.origins,
            scenarios_containing=query.scenarios_containing,
            scenarios_not_containing=query.scenarios_not_containing,
        ),
    )
    # The Local API sends `null`, not `[]`, and bouncers expect that.
    return {"new": new or None, "deleted": deleted or None}


@router.head("/decisions/stream", include_in_schema=False)
async def decisions_stream_head(key: BouncerKey) -> Response:
    return Response(status_code=200, media_type="application/json")


class LookupQuery(BaseModel):
    """Filters of GET /v1/decisions (live mode), as the Local API takes them."""

    ip: str | None = Field(None, max_length=64, description="decisions that cover this address")
    range: str | None = Field(None, max_length=64, description="a CIDR; see `contains`")
    contains: bool = Field(
        True, description="with ip/range: decisions containing it (true) or inside it (false)"
    )
    scope: str | None = Field(None, max_length=16, description="`Ip` or `Range`")
    value: str | None = Field(None, max_length=64, description="this exact value")
    type: str | None = Field(None, max_length=16, description="decision type (`ban`)")
    origins: str | None = Field(None, max_length=256)
    scenarios_containing: str | None = Field(None, max_length=1024)
    scenarios_not_containing: str | None = Field(None, max_length=1024)


def _target(query: LookupQuery) -> crowdsec.Network | None:
    if query.ip is not None:
        try:
            address = ipaddress.ip_address(query.ip.strip())
        except ValueError:
            raise CrowdsecError(400, "ip must be an IPv4 or IPv6 address") from None
        return ipaddress.ip_network(address)
    if query.range is not None:
        try:
            return ipaddress.ip_network(query.range.strip(), strict=False)
        except ValueError:
            raise CrowdsecError(400, "range must be a CIDR such as 192.0.2.0/24") from None
    return None


@router.get(
    "/decisions",
    response_model=list[DecisionView] | None,
    summary="Active decisions, filtered (live mode); null when there are none",
)
async def decisions_lookup(
    session: SessionDep, key: BouncerKey, query: Annotated[LookupQuery, Query()]
) -> list[dict[str, Any]] | None:
    now = datetime.now(UTC)
    target = _target(query)
    decision_filter = crowdsec.DecisionFilter.parse(
        scopes=query.scope,
        origins=query.origins,
        scenarios_containing=query.scenarios_containing,
        scenarios_not_containing=query.scenarios_not_containing,
        value=query.value,
        decision_type=query.type,
    )
    found = [
        d
        for d in await crowdsec.active_for_bouncer(session, _sites(key), now)
        if decision_filter.allows(d)
    ]
    if target is not None:
        found = crowdsec.covering(found, target, contains=query.contains)
    return [crowdsec.bouncer_view(d, now) for d in found] or None


@router.head("/decisions", include_in_schema=False)
async def decisions_lookup_head(key: BouncerKey) -> Response:
    return Response(status_code=200, media_type="application/json")
