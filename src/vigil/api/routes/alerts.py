"""Live alerts over a WebSocket, filtered by severity and site and limited to the key's sites.

Browsers cannot set headers on a WebSocket, so the key may come as `?api_key=`. The first frame
is `{"type": "hello", ...}`; every later frame is one stored event as GET /threats/{id} shows
it. The key is looked up in a short session of its own: a socket may stay open for hours and
must not hold a pooled database connection that long.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from vigil import metrics
from vigil.api.alerts import AlertClient
from vigil.api.deps import API_KEY_HEADER, AppStateDep
from vigil.api.schemas import Severity, SiteName
from vigil.api.state import AppState
from vigil.db.session import get_db_context
from vigil.services.keys import Principal, authenticate
from vigil.severity import Severity as SeverityBand

router = APIRouter(tags=["alerts"])

POLICY_VIOLATION = 1008
KEY_RECHECK_SECONDS = 60.0


async def _authenticate(state: AppState, presented: str | None) -> Principal | None:
    async with get_db_context() as session:
        return await authenticate(session, presented, admin_key=state.admin_key)


async def _send_frames(websocket: WebSocket, client: AlertClient) -> None:
    while True:
        await websocket.send_text(await client.queue.get())


async def _recheck_key(websocket: WebSocket, state: AppState, key: str) -> None:
    # A separate sleeper rather than a timeout on every queue read: no timer per frame.
    while True:
        await asyncio.sleep(KEY_RECHECK_SECONDS)
        if await _authenticate(state, key) is None:
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
    api_key: Annotated[str | None, Query(max_length=256)] = None,
) -> None:
    presented = websocket.headers.get(API_KEY_HEADER) or api_key
    principal = await _authenticate(state, presented)
    if principal is None or presented is None:
        metrics.AUTH_FAILURES.inc()
        await websocket.close(POLICY_VIOLATION, "missing or invalid API key")
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
            asyncio.create_task(_send_frames(websocket, client)),
            asyncio.create_task(_wait_disconnect(websocket)),
            asyncio.create_task(_recheck_key(websocket, state, presented)),
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
