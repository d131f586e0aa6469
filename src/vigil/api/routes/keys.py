"""API key management over HTTP, for admin keys that see every site."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from vigil.api.deps import CurrentKey, GlobalAdminKey, SessionDep
from vigil.api.routes import KEYED, NOT_FOUND
from vigil.api.schemas import MAX_ID, KeyCreated, KeyIn, KeyMe, KeyOut
from vigil.services import audit, keys

GlobalAdmin = GlobalAdminKey

router = APIRouter(prefix="/keys", tags=["keys"], responses=KEYED)


@router.get("/me", response_model=KeyMe, summary="The calling key: name, scope and sites")
async def who_am_i(key: CurrentKey) -> KeyMe:
    sites = key.visibility.sites
    return KeyMe(
        id=key.key_id,
        name=key.name,
        scope=key.scope,
        sites=sorted(sites) if sites is not None else None,
    )


@router.get("", response_model=list[KeyOut], summary="Every API key (never the keys themselves)")
async def list_keys(session: SessionDep, _: GlobalAdmin) -> list[KeyOut]:
    return [KeyOut.model_validate(row) for row in await keys.list_keys(session)]


@router.post(
    "", status_code=201, response_model=KeyCreated, summary="Create a key (shown only once)"
)
async def create_key(session: SessionDep, who: GlobalAdmin, body: KeyIn) -> KeyCreated:
    try:
        row, secret = await keys.create_key(
            session, name=body.name, scope=body.scope, sites=body.sites
        )
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    audit.record(
        session,
        who,
        "key.create",
        f"key {row.id} {row.name}",
        detail={"id": row.id, "prefix": row.prefix, "scope": row.scope, "sites": row.sites},
    )
    await session.commit()
    return KeyCreated(**KeyOut.model_validate(row).model_dump(), key=secret)


@router.delete("/{key_id}", response_model=KeyOut, responses=NOT_FOUND, summary="Revoke a key")
async def revoke_key(
    session: SessionDep, who: GlobalAdmin, key_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> KeyOut:
    row = await keys.revoke_key(session, key_id)
    if row is None:
        raise HTTPException(404, detail="no such key")
    audit.record(
        session, who, "key.revoke", f"key {row.id} {row.name}", detail={"prefix": row.prefix}
    )
    await session.commit()
    return KeyOut.model_validate(row)
