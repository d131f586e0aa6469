"""API key management over HTTP, for admin keys that see every site."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path

from vigil.api.deps import AdminKey, SessionDep
from vigil.api.routes import KEYED, NOT_FOUND
from vigil.api.schemas import MAX_ID, KeyCreated, KeyIn, KeyOut
from vigil.services import keys
from vigil.services.keys import Principal


async def require_global_admin(key: AdminKey) -> Principal:
    # A key limited to some sites must not mint keys, or it could widen its own reach.
    if key.visibility.restricted:
        raise HTTPException(403, detail="managing keys needs an admin key for every site")
    return key


GlobalAdmin = Annotated[Principal, Depends(require_global_admin)]

router = APIRouter(prefix="/keys", tags=["keys"], responses=KEYED)


@router.get("", response_model=list[KeyOut], summary="Every API key (never the keys themselves)")
async def list_keys(session: SessionDep, _: GlobalAdmin) -> list[KeyOut]:
    return [KeyOut.model_validate(row) for row in await keys.list_keys(session)]


@router.post(
    "", status_code=201, response_model=KeyCreated, summary="Create a key (shown only once)"
)
async def create_key(session: SessionDep, _: GlobalAdmin, body: KeyIn) -> KeyCreated:
    try:
        row, secret = await keys.create_key(
            session, name=body.name, scope=body.scope, sites=body.sites
        )
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    await session.commit()
    return KeyCreated(**KeyOut.model_validate(row).model_dump(), key=secret)


@router.delete("/{key_id}", response_model=KeyOut, responses=NOT_FOUND, summary="Revoke a key")
async def revoke_key(
    session: SessionDep, _: GlobalAdmin, key_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> KeyOut:
    row = await keys.revoke_key(session, key_id)
    if row is None:
        raise HTTPException(404, detail="no such key")
    await session.commit()
    return KeyOut.model_validate(row)
