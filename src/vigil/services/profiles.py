"""Site profiles in the database: one row per site, the profile as gzipped JSON."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.db.models import SiteProfileRow
from vigil.detect.profile.model import SiteProfile

__all__ = [
    "decode",
    "delete_profile",
    "encode",
    "get_profile",
    "load_profiles",
    "save_profile",
    "teach_stored",
]


def encode(profile: SiteProfile) -> bytes:
    return gzip.compress(json.dumps(profile.to_json(), separators=(",", ":")).encode(), 6)


def decode(data: bytes) -> SiteProfile:
    return SiteProfile.from_json(json.loads(gzip.decompress(data)))


async def load_profiles(session: AsyncSession) -> list[SiteProfile]:
    """Every stored profile; one that cannot be read is skipped (and relearned)."""
    import logging

    profiles: list[SiteProfile] = []
    for row in (await session.execute(select(SiteProfileRow))).scalars():
        try:
            profiles.append(decode(row.data))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logging.getLogger(__name__).warning(
                "event=site_profile_unreadable site=%s error=%s", row.site, type(exc).__name__
            )
    return profiles


async def get_profile(session: AsyncSession, site: str) -> SiteProfile | None:
    row = await session.get(SiteProfileRow, site)
    return decode(row.data) if row is not None else None


async def save_profile(
    session: AsyncSession, profile: SiteProfile, data: bytes | None = None
) -> None:
    """Insert or replace the site's profile (`data`: its `encode`, if already made)."""
    blob = data if data is not None else encode(profile)
    row = await session.get(SiteProfileRow, profile.site)
    values: dict[str, Any] = {
        "data": blob,
        "requests": float(profile.requests),
        "endpoints": len(profile.endpoints),
        "judging": profile.judging,
        "updated_at": datetime.now(UTC),
    }
    if row is None:
        session.add(SiteProfileRow(site=profile.site, **values))
    else:
        for key, value in values.items():
            setattr(row, key, value)
    await session.flush()


async def delete_profile(session: AsyncSession, site: str) -> bool:
    result = await session.execute(delete(SiteProfileRow).where(SiteProfileRow.site == site))
    return bool(getattr(result, "rowcount", 0))


async def teach_stored(
    session: AsyncSession, site: str, method: str, path: str, query: str, client: str
) -> bool:
    """Teach the stored profile of `site` one normal request (an analyst's false-positive
    review while no pipeline runs here); False when the site has no stored profile."""
    from vigil.detect.profile.stage import ProfileStage

    profile = await get_profile(session, site)
    if profile is None:
        return False
    stage = ProfileStage([profile])
    stage.teach(site, method, path, query, [client])
    await save_profile(session, profile)
    return True
