"""API keys: stored hashed, found by prefix, refused when wrong or revoked."""

from __future__ import annotations

from sqlalchemy import select

from vigil.config import Settings
from vigil.db.models import ApiKey
from vigil.db.session import get_db_context
from vigil.services.keys import authenticate, create_key, hash_key, revoke_key


async def test_only_the_hash_is_stored_and_the_key_authenticates(db: Settings) -> None:
    async with get_db_context() as session:
        _, secret = await create_key(session, name="ops", scope="write", sites=["b", "a", "a"])
    async with get_db_context() as session:
        stored = (await session.scalars(select(ApiKey))).one()
        assert secret not in (stored.key_hash, stored.prefix, stored.name)
        assert stored.key_hash == hash_key(secret)
        assert stored.sites == ["a", "b"]
        principal = await authenticate(session, secret)
    assert principal is not None
    assert principal.scope == "write" and principal.visibility.sites == frozenset({"a", "b"})
    assert principal.allows("read") and not principal.allows("admin")


async def test_wrong_revoked_and_bootstrap_keys(db: Settings) -> None:
    async with get_db_context() as session:
        row, secret = await create_key(session, name="ops", scope="read")
    async with get_db_context() as session:
        assert await authenticate(session, secret[:-1] + "x") is None
        assert await authenticate(session, "") is None
        assert await authenticate(session, "k" * 10_000) is None
        admin = await authenticate(session, "bootstrap-secret", admin_key="bootstrap-secret")
        assert admin is not None and admin.scope == "admin" and not admin.visibility.restricted
        assert await authenticate(session, "bootstrap-secreT", admin_key="bootstrap-secret") is None
        await revoke_key(session, row.prefix)
    async with get_db_context() as session:
        assert await authenticate(session, secret) is None
