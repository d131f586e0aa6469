"""The audit trail: every change made through the API, with the name of the key that made it.

An entry is added in the same transaction as the change it records, so a change that rolls
back leaves no entry and a committed change always has one. The key itself is never recorded,
only its id and name. A key limited to some sites reads only the entries of its sites.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.db.models import AuditEntry
from vigil.services.keys import Principal
from vigil.services.pagination import Page, decode_cursor, fetch_page
from vigil.services.visibility import Visibility

ACTIONS = (
    "decision.create",
    "decision.delete",
    "allowlist.add",
    "allowlist.delete",
    "exclusion.add",
    "exclusion.delete",
    "threat.review",
    "incident.review",
    "key.create",
    "key.revoke",
    "model.activate",
    "model.rollback",
    "model.retrain",
)
_SORT = "-at"


def record(
    session: AsyncSession,
    who: Principal,
    action: str,
    target: str,
    *,
    site: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry to the session; it is written with the change when the session commits."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    entry = AuditEntry(
        at=datetime.now(UTC),
        key_id=who.key_id,
        key_name=who.name,
        action=action,
        target=target[:512],
        site=site,
        detail=detail or {},
    )
    session.add(entry)
    return entry


async def list_entries(
    session: AsyncSession,
    visible: Visibility,
    *,
    action: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[AuditEntry]:
    """A page of visible entries, newest first; raises InvalidCursorError for bad cursors."""
    stmt = select(AuditEntry).where(visible.clause(AuditEntry.site))
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    if cursor:
        at, last_id = decode_cursor(cursor, _SORT, datetime)
        stmt = stmt.where(tuple_(AuditEntry.at, AuditEntry.id) < (at, last_id))
    stmt = stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    return await fetch_page(session, stmt, limit, lambda last: (_SORT, last.at, last.id))
