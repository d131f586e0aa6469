"""Model versions in ``model_metadata``: record, list, activate, roll back, find the active ones.

At most one model per type (``classifier``, ``anomaly``) is active. Activating deactivates the
other one of its type first, in the same transaction. Rollback activates the version of that
type recorded just before the active one. A model whose validation gates failed is recorded
(so its metrics can be read) but is activated only when forced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import select

from vigil.db.models import ModelMetadata, ThreatEvent
from vigil.db.session import get_db_context
from vigil.errors import VigilError
from vigil.services import models as services_models

if TYPE_CHECKING:
    pass

MODEL_TYPES: Final = ("classifier", "anomaly")


class ModelRegistryError(VigilError):
    """A model version could not be found, activated or rolled back."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One row of ``model_metadata`` as the CLI and API show it."""

    model_type: str
    version: str
    created_at: datetime | None
    training_samples: int
    metrics: dict[str, Any]
    artifact: str
    is_active: bool

    @classmethod
    def of(cls, row: ModelMetadata) -> ModelInfo:
        return cls(
            row.model_type,
            row.version,
            row.created_at,
            row.training_samples,
            dict(row.metrics or {}),
            row.artifact,
            row.is_active,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_type": self.model_type,
            "version": self.version,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "training_samples": self.training_samples,
            "metrics": self.metrics,
            "artifact": self.artifact,
            "is_active": self.is_active,
        }


async def record_model(
    model_type: str,
    version: str,
    *,
    training_samples: int,
    metrics: dict[str, Any],
    artifact: str,
    activate: bool,
) -> ModelInfo:
    """Store a trained model (or refresh the row of an identical version) and maybe activate it."""
    if model_type not in MODEL_TYPES:
        raise ModelRegistryError(f"unknown model type {model_type!r}")
    async with get_db_context() as session:
        row = (
            await session.execute(
                select(ModelMetadata).where(
                    ModelMetadata.model_type == model_type, ModelMetadata.version == version
                )
            )
        ).scalar_one_or_none()
        if row is None:
            row = ModelMetadata(
                model_type=model_type,
                version=version,
                training_samples=training_samples,
                metrics=metrics,
                artifact=artifact,
                is_active=False,
            )
            session.add(row)
            await session.flush()
        else:
            row.metrics = metrics
            row.training_samples = training_samples
            row.artifact = artifact
        if activate:
            await services_models.activate_row(session, row)
        return ModelInfo.of(row)


async def list_models() -> list[ModelInfo]:
    """Every recorded model, oldest first."""
    async with get_db_context() as session:
        rows = (await session.execute(select(ModelMetadata).order_by(ModelMetadata.id))).scalars()
        return [ModelInfo.of(row) for row in rows]


async def activate(version: str, *, force: bool = False) -> ModelInfo:
    """Make `version` the active model of its type."""
    async with get_db_context() as session:
        try:
            row = await services_models.activate_version(session, version, force=force)
        except services_models.ModelChangeError as exc:
            raise ModelRegistryError(str(exc).replace("force is needed", "use --force")) from None
        return ModelInfo.of(row)


async def rollback(model_type: str = "classifier") -> ModelInfo:
    """Activate the version recorded just before the active one of `model_type`."""
    async with get_db_context() as session:
        try:
            row = await services_models.rollback_model(session, model_type)
        except services_models.ModelChangeError as exc:
            raise ModelRegistryError(str(exc)) from None
        return ModelInfo.of(row)


async def active_artifacts() -> dict[str, str]:
    """Artifact location of the active model of each type."""
    async with get_db_context() as session:
        return await services_models.active_artifacts(session)


async def reviewed_requests() -> list[tuple[str, str, int]]:
    """(path, query, label) of reviewed request events: 1 true positive, 0 false positive."""
    async with get_db_context() as session:
        rows = await session.execute(
            select(ThreatEvent.path, ThreatEvent.query, ThreatEvent.label).where(
                ThreatEvent.reviewed.is_(True),
                ThreatEvent.label.in_(("true_positive", "false_positive")),
                ThreatEvent.detection_mode != "behaviour",
            )
        )
        return [
            (path or "", query or "", int(label == "true_positive")) for path, query, label in rows
        ]
