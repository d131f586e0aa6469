"""Trained models as the API reports them: the active one of each type and recent versions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.db.models import ModelMetadata


async def model_versions(session: AsyncSession, limit: int = 50) -> list[ModelMetadata]:
    """Active models first, then the newest versions."""
    stmt = (
        select(ModelMetadata)
        .order_by(
            ModelMetadata.is_active.desc(), ModelMetadata.created_at.desc(), ModelMetadata.id.desc()
        )
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def active_artifacts(session: AsyncSession) -> dict[str, str]:
    """Artifact location of the active model of each type."""
    rows = await session.scalars(select(ModelMetadata).where(ModelMetadata.is_active.is_(True)))
    return {row.model_type: row.artifact for row in rows if row.artifact}
