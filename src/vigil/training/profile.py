"""Learning a site profile from an access log (`vigil train --baseline FILE --site S`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from vigil.batch import LogRecord
from vigil.config import Settings
from vigil.detect.engine import DetectionEngine
from vigil.detect.profile.model import SiteProfile

__all__ = ["learn_profile", "store_profile"]

_CHUNK = 4096
_MEDIUM = 0.5


def learn_profile(
    records: Iterable[LogRecord], settings: Settings, site: str, base: SiteProfile | None = None
) -> tuple[SiteProfile, dict[str, int]]:
    """`base` (or a new profile of `site`) having learned the normal requests of `records`:
    answered 2xx/3xx (or without a status) and flagged by no rule. Learning from a file is
    declared complete, so the profile judges from then on."""
    profile = base or SiteProfile(
        site, learning_period=timedelta(hours=settings.profile_learning_hours)
    )
    engine = DetectionEngine.from_section(settings.rules)
    counts = {"records": 0, "learned": 0, "flagged": 0, "refused": 0}
    chunk: list[LogRecord] = []

    def flush() -> None:
        detections = engine.detect_batch(chunk, site=site)
        keep: list[LogRecord] = []
        for record, detection in zip(chunk, detections, strict=True):
            if detection.score >= _MEDIUM:
                counts["flagged"] += 1
            elif record.status is not None and not 200 <= record.status < 400:
                counts["refused"] += 1
            else:
                keep.append(record)
        counts["learned"] += profile.learn_records(keep)
        chunk.clear()

    for record in records:
        counts["records"] += 1
        chunk.append(record)
        if len(chunk) >= _CHUNK:
            flush()
    if chunk:
        flush()
    profile.trained = True
    profile.version += 1
    return profile, counts


async def store_profile(profile: SiteProfile) -> dict[str, Any]:
    """Save `profile` in the process database; a summary of what was stored."""
    from vigil.db.session import get_db_context
    from vigil.services.profiles import save_profile

    async with get_db_context() as session:
        await save_profile(session, profile)
    return {
        "site": profile.site,
        "endpoints": len(profile.endpoints),
        "parameters": profile.param_count,
        "clients": profile.client_count(),
    }
