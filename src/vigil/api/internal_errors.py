"""The last line of defence: an unexpected exception becomes a logged 500 with a JSON body.

Starlette's own error middleware answers 500 and then raises the exception again, and the
server then closes the client's keep-alive connection. Caught here, inside it, the exception
ends with the response: the connection stays usable, and the log gets one structured line with
the traceback.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.api.limits import send_json

log = logging.getLogger(__name__)


class InternalErrorMiddleware:
    """Turns an exception raised before the response started into a 500 JSON answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("event=internal_error path=%s", scope.get("path", ""))
            if started:
                raise
            await send_json(send, 500, {"detail": "internal error"})
