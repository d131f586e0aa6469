"""Live alerts over a WebSocket, filtered by severity and site and limited to the key's sites.

A client authenticates with its key in the `X-API-Key` header, or, where it cannot set headers
(a browser), with `?ticket=` from `POST /ws/ticket`: short-lived and single-use, so no key is
ever in a URL, an access log or a browser console. The first frame is `{"type": "hello", ...}`;
every later frame is one stored event as GET /threats/{id} shows it. The key is looked up in a
short session of its own: a socket may stay open for hours and must not hold a pooled database
connection that long.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from vigil import metrics
from vigil.api.alerts import AlertClient
from vigil.api.deps import API_KEY_HEADER, AppStateDep, ReadKey, SessionDep
from vigil.api.routes import KEYED
from vigil.api.schemas import Severity, SiteName, TicketOut
from vigil.api.state import AppState
from vigil.db.models import ApiKey
from vigil.db.session import get_db_context
from vigil.services.keys import Principal, authenticate
from vigil.services.tickets import TICKET_SECONDS, ticket_for
from vigil.severity import Severity as SeverityBand

router = APIRouter(tags=["alerts"])

POLICY_VIOLATION = 1008
KEY_RECHECK_SECONDS = 60.0


async def _authenticate(state: AppState, presented: str | None) -> Principal | None:
    async with get_db_context() as session:
        return await authenticate(session, presented, admin_key=state.admin_key)


async def _redeem(state: AppState, ticket: str) -> Principal | None:
    async with get_db_context() as session:
        return await state.tickets.redeem(session, ticket, admin_key=state.admin_key)


async def _still_valid(state: AppState, principal: Principal) -> bool:
    if principal.key_id is None:
        return state.admin_key is not None
    async with get_db_context() as session:
        row = await session.get(ApiKey, principal.key_id)
        return row is not None and row.revoked_at is None


@router.post(
    "/ws/ticket",
    response_model=TicketOut,
    responses=KEYED,
    summary="A short-lived, single-use ticket that opens /ws/alerts (for browsers)",
)
async def ws_ticket(session: SessionDep, state: AppStateDep, key: ReadKey) -> TicketOut:
    ticket = await ticket_for(session, key, admin_key=state.admin_key)
    if ticket is None:
        raise HTTPException(401, detail="this key can no longer be used")
    return TicketOut(ticket=ticket, expires_in=TICKET_SECONDS)


async def _recheck_key(websocket: WebSocket, state: AppState, principal: Principal) -> None:
    # A separate sleeper rather than a timeout on every queue read: no timer per frame.
    while True:
        await asyncio.sleep(KEY_RECHECK_SECONDS)
        if not await _still_valid(state, principal):
            await websocket.close(POLICY_VIOLATION, "API key revoked")
            return


async def _wait_disconnect(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


@router.websocket("/ws/alerts")
async def alerts(
    websocket: WebSocket,
    state: AppStateDep,
    min_severity: Annotated[Severity, Query()] = SeverityBand.LOW,
    site: Annotated[SiteName | None, Query()] = None,
    ticket: Annotated[str | None, Query(max_length=256)] = None,
) -> None:
    presented = websocket.headers.get(API_KEY_HEADER)
    if presented is not None:
        principal = await _authenticate(state, presented)
    elif ticket is not None:
        principal = await _redeem(state, ticket)
    else:
        principal = None
    if principal is None:
        metrics.AUTH_FAILURES.inc()
        await websocket.close(
            POLICY_VIOLATION,
            "send a valid key in the X-API-Key header, or a ticket from POST /ws/ticket",
        )
        return
    if site is not None and not principal.visibility.allows(site):
        await websocket.close(POLICY_VIOLATION, f"this key may not see site {site}")
        return
    await websocket.accept()
    client = AlertClient(principal.visibility, min_severity.rank, site)
    state.hub.add(client)
    sites = principal.visibility.sites
    try:
        await websocket.send_json(
            {
                "type": "hello",
                "min_severity": min_severity,
                "site": site,
                "sites": sorted(sites) if sites is not None else None,
            }
        )
        tasks = {
            asyncio.create_task(client.send_frames(websocket.send_text)),
            asyncio.create_task(_wait_disconnect(websocket)),
            asyncio.create_task(_recheck_key(websocket, state, principal)),
        }
        done, pending = await asyncio.wait(tasks, return_when="FIRST_COMPLETED")
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
        for task in done:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                task.result()
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        state.hub.remove(client)
        if websocket.application_state != WebSocketState.DISCONNECTED:
            # The client may be gone already; closing is then best effort.
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await websocket.close()
