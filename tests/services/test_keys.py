"""API keys: stored hashed, found by prefix, refused when wrong or revoked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from vigil.config import Settings
from vigil.db.models import ApiKey
from vigil.db.session import get_db_context
from vigil.services import keys as keys_module
from vigil.services.keys import authenticate, create_key, generate_key, hash_key, revoke_key


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


async def test_an_all_digit_prefix_revokes_its_own_key_not_the_row_with_that_id(
    db: Settings,
) -> None:
    now = datetime.now(UTC)
    async with get_db_context() as session:
        for ident, name, prefix in (
            (123456789012, "by-id", "abcdefabcdef"),
            (7, "digits", "123456789012"),
        ):
            session.add(
                ApiKey(
                    id=ident,
                    name=name,
                    prefix=prefix,
                    key_hash="x",
                    scope="read",
                    sites=[],
                    created_at=now,
                )
            )
    async with get_db_context() as session:
        revoked = await revoke_key(session, "123456789012")
        assert revoked is not None and revoked.name == "digits"
    async with get_db_context() as session:
        rows = {r.name: r for r in (await session.scalars(select(ApiKey))).all()}
        assert rows["digits"].revoked_at is not None
        assert rows["by-id"].revoked_at is None
        # An id that is no prefix still revokes by id.
        assert (await revoke_key(session, "123456789012")) is not None
        by_id = await revoke_key(session, 123456789012)
        assert by_id is not None and by_id.name == "by-id" and by_id.revoked_at is not None


def test_new_prefixes_always_hold_a_letter(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter(["000000000000", "987654321098", "00000000000a"])
    monkeypatch.setattr(keys_module.secrets, "token_hex", lambda _n: next(drawn))
    key, prefix = generate_key()
    assert prefix == "00000000000a" and key.startswith("vgl_00000000000a_")
