"""API keys: issuing, listing, revoking and checking them; only a hash of a key is stored.

A key reads `vgl_<prefix>_<secret>`. The prefix is not secret: it finds the row. The whole key
is random (256 bits of secret), so one SHA-256 is enough to store it; checking compares the
hashes in constant time. The bootstrap admin key from the settings sees every site.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.db.models import ApiKey
from vigil.services.visibility import Visibility

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
SCOPE_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}
PREFIX_PATTERN = re.compile(r"[0-9a-f]{12}")
KEY_PATTERN = re.compile(rf"vgl_({PREFIX_PATTERN.pattern})_[A-Za-z0-9_-]{{43}}")
SITE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
LAST_USED_RESOLUTION = timedelta(minutes=5)
_DUMMY_HASH = hashlib.sha256(b"vigil-no-such-key").hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id and name (never the key), its scope and visible sites."""

    key_id: int | None
    name: str
    scope: Scope
    visibility: Visibility

    def allows(self, scope: Scope) -> bool:
        """Whether this caller's scope includes `scope` (admin ⊇ write ⊇ read)."""
        return SCOPE_RANK[self.scope] >= SCOPE_RANK[scope]


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> tuple[str, str]:
    """A new random key and its prefix, which always holds a letter so it never reads as an id."""
    prefix = secrets.token_hex(6)
    while prefix.isdigit():
        prefix = secrets.token_hex(6)
    return f"vgl_{prefix}_{secrets.token_urlsafe(32)}", prefix


def check_sites(sites: Sequence[str]) -> list[str]:
    """The site names, sorted and unique; raises ValueError naming a malformed one."""
    for site in sites:
        if not SITE_PATTERN.fullmatch(site):
            raise ValueError(
                f"site {site[:64]!r} is not a site name (letters, digits, '.', '_', '-')"
            )
    return sorted(set(sites))


async def create_key(
    session: AsyncSession, *, name: str, scope: Scope, sites: Sequence[str] = ()
) -> tuple[ApiKey, str]:
    """Store a new key; returns the row and the key itself, which is shown only this once."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    name = name.strip()
    if not name or len(name) > 128:
        raise ValueError("name must be 1 to 128 characters")
    key, prefix = generate_key()
    row = ApiKey(
        name=name,
        prefix=prefix,
        key_hash=hash_key(key),
        scope=scope,
        sites=check_sites(sites),
        created_at=datetime.now(UTC),
    )
    session.add(row)
    await session.flush()
    return row, key


async def list_keys(session: AsyncSession, *, include_revoked: bool = True) -> list[ApiKey]:
    """Every key, newest first."""
    stmt = select(ApiKey).order_by(ApiKey.id.desc())
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return list((await session.scalars(stmt)).all())


async def revoke_key(session: AsyncSession, ident: str | int) -> ApiKey | None:
    """Revoke the key with this id or prefix; None if there is none. Revoking twice is a no-op.

    A string that looks like a prefix is looked up as one first: keys issued before prefixes
    always held a letter may have an all-digit prefix, which must not revoke some other row.
    """
    row = None
    if isinstance(ident, str) and PREFIX_PATTERN.fullmatch(ident):
        stmt = select(ApiKey).where(ApiKey.prefix == ident)
        row = (await session.scalars(stmt)).one_or_none()
    if row is None and (isinstance(ident, int) or ident.isdigit()):
        number = int(ident)
        if not 0 < number < 2**63:
            return None
        row = (await session.scalars(select(ApiKey).where(ApiKey.id == number))).one_or_none()
    if row is not None and row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        await session.flush()
    return row


def _bootstrap(presented: str, admin_key: str | None) -> Principal | None:
    if not admin_key:
        return None
    if hmac.compare_digest(presented.encode("utf-8"), admin_key.encode("utf-8")):
        return Principal(None, "bootstrap-admin", "admin", Visibility())
    return None


async def authenticate(
    session: AsyncSession, presented: str | None, *, admin_key: str | None = None
) -> Principal | None:
    """The caller a presented key stands for, or None when it is missing, wrong or revoked."""
    if not presented or len(presented) > 256:
        return None
    bootstrap = _bootstrap(presented, admin_key)
    if bootstrap is not None:
        return bootstrap
    match = KEY_PATTERN.fullmatch(presented)
    row = None
    if match is not None:
        stmt = select(ApiKey).where(ApiKey.prefix == match.group(1))
        row = (await session.scalars(stmt)).one_or_none()
    # Compare even when no row was found, so a wrong prefix costs the same as a wrong secret.
    expected = row.key_hash if row is not None else _DUMMY_HASH
    if not hmac.compare_digest(hash_key(presented), expected):
        return None
    if row is None or row.revoked_at is not None or row.scope not in SCOPES:
        return None
    now = datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now
    return Principal(row.id, row.name, row.scope, Visibility.of(row.sites))  # type: ignore[arg-type]
