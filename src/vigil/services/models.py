"""Trained models as the API reports them: the active one of each type and recent versions."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.db.models import ModelMetadata
from vigil.errors import VigilError


class ModelChangeError(VigilError):
    """A model version could not be found, activated or rolled back (the message says why)."""


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


async def activate_row(session: AsyncSession, row: ModelMetadata) -> None:
    """Make `row` the one active model of its type (the other is deactivated first)."""
    await session.execute(
        update(ModelMetadata)
        .where(ModelMetadata.model_type == row.model_type, ModelMetadata.is_active.is_(True))
        .values(is_active=False)
    )
    await session.flush()
    row.is_active = True
    await session.flush()


async def activate_version(
    session: AsyncSession, version: str, *, force: bool = False
) -> ModelMetadata:
    """Make `version` the active model of its type; a version whose gates failed only if forced."""
    row = (
        await session.scalars(
            select(ModelMetadata).where(ModelMetadata.version == version).limit(1)
        )
    ).one_or_none()
    if row is None:
        raise ModelChangeError(f"no model with version {version!r} (see `vigil models list`)")
    if not force and (row.metrics or {}).get("gates_passed") is False:
        raise ModelChangeError(
            f"model {version} failed its validation gates; force is needed to activate it anyway"
        )
    await activate_row(session, row)
    return row


async def rollback_model(session: AsyncSession, model_type: str = "classifier") -> ModelMetadata:
    """Activate the version of `model_type` recorded just before the active one."""
    current = (
        await session.scalars(
            select(ModelMetadata).where(
                ModelMetadata.model_type == model_type, ModelMetadata.is_active.is_(True)
            )
        )
    ).one_or_none()
    if current is None:
        raise ModelChangeError(f"no active {model_type} model to roll back from")
    previous = (
        await session.scalars(
            select(ModelMetadata)
            .where(
                ModelMetadata.model_type == model_type,
                ModelMetadata.id < current.id,
                ModelMetadata.is_active.is_(False),
            )
            .order_by(ModelMetadata.id.desc())
            .limit(1)
        )
    ).one_or_none()
    if previous is None:
        raise ModelChangeError(f"no {model_type} model older than {current.version}")
    await activate_row(session, previous)
    return previous
