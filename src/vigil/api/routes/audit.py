"""The audit trail of changes made through the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from vigil.api.deps import AdminKey, SessionDep
from vigil.api.routes import KEYED
from vigil.api.schemas import AuditOut, AuditPage
from vigil.services import audit
from vigil.services.pagination import InvalidCursorError

router = APIRouter(tags=["audit"], responses=KEYED)

Action = Annotated[str, Query(pattern=r"^[a-z]{1,16}\.[a-z]{1,16}$")]


@router.get("/audit", response_model=AuditPage, summary="Who changed what, newest first")
async def list_audit(
    session: SessionDep,
    key: AdminKey,
    action: Action | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> AuditPage:
    try:
        page = await audit.list_entries(
            session, key.visibility, action=action, limit=limit, cursor=cursor
        )
    except InvalidCursorError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    return AuditPage(
        items=[AuditOut.model_validate(row) for row in page.items],
        next_cursor=page.next_cursor,
        limit=limit,
    )
