"""Short-lived, single-use tickets that open a WebSocket without putting a key in its URL.

Browsers cannot set headers on a WebSocket, and a key in the query string ends up in access
logs and in the browser's console. A client with a key asks `POST /ws/ticket` for a ticket and
opens `/ws/alerts?ticket=...` within `TICKET_SECONDS`. A ticket names its key and is signed
with that key's stored hash, so any vigil process on the same database can check it and a
revoked key's tickets stop working; it is accepted once per process.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict

from sqlalchemy.ext.asyncio import AsyncSession

from vigil.db.models import ApiKey
from vigil.services.keys import Principal, hash_key
from vigil.services.visibility import Visibility

TICKET_SECONDS = 30
BOOTSTRAP_REF = "0"
_MAX_REMEMBERED = 100_000


def _sign(secret: str, body: str) -> str:
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


def issue_ticket(key_ref: str, key_hash: str, *, now: float | None = None) -> str:
    """A ticket for the key with id `key_ref` (BOOTSTRAP_REF: the bootstrap admin key)."""
    expires = int((now if now is not None else time.time()) + TICKET_SECONDS)
    body = f"{key_ref}.{expires}.{secrets.token_urlsafe(12)}"
    return f"{body}.{_sign(key_hash, body)}"


class TicketBook:
    """Checks tickets and remembers the ones used, so each opens one connection."""

    def __init__(self) -> None:
        self._used: OrderedDict[str, int] = OrderedDict()

    def _spend(self, nonce: str, expires: int, now: float) -> bool:
        while self._used and (
            next(iter(self._used.values())) < now or len(self._used) > _MAX_REMEMBERED
        ):
            self._used.popitem(last=False)
        if nonce in self._used:
            return False
        self._used[nonce] = expires
        return True

    async def redeem(
        self,
        session: AsyncSession,
        ticket: str,
        *,
        admin_key: str | None,
        now: float | None = None,
    ) -> Principal | None:
        """The caller a ticket stands for, or None if it is malformed, expired, used, or its
        key is revoked."""
        now = now if now is not None else time.time()
        parts = ticket.split(".")
        if len(parts) != 4 or not parts[1].isdigit() or len(ticket) > 256:
            return None
        key_ref, expires_text, nonce, signature = parts
        expires = int(expires_text)
        if not now <= expires <= now + TICKET_SECONDS + 1:
            return None
        body = f"{key_ref}.{expires_text}.{nonce}"
        principal: Principal | None
        if key_ref == BOOTSTRAP_REF:
            if not admin_key:
                return None
            secret = hash_key(admin_key)
            principal = Principal(None, "bootstrap-admin", "admin", Visibility())
        else:
            if not key_ref.isdigit() or not 0 < int(key_ref) < 2**63:
                return None
            row = await session.get(ApiKey, int(key_ref))
            if row is None or row.revoked_at is not None:
                return None
            secret = row.key_hash
            principal = Principal(row.id, row.name, row.scope, Visibility.of(row.sites))  # type: ignore[arg-type]
        if not hmac.compare_digest(_sign(secret, body), signature):
            return None
        if not self._spend(nonce, expires, now):
            return None
        return principal


async def ticket_for(
    session: AsyncSession, principal: Principal, *, admin_key: str | None
) -> str | None:
    """A new ticket for the caller, or None if its key is gone."""
    if principal.key_id is None:
        return issue_ticket(BOOTSTRAP_REF, hash_key(admin_key)) if admin_key else None
    row = await session.get(ApiKey, principal.key_id)
    if row is None or row.revoked_at is not None:
        return None
    return issue_ticket(str(row.id), row.key_hash)
