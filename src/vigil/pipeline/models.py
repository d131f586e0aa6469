"""Which models a pipeline runs: the versions active in the registry, else the default that
ships with vigil (see `vigil.detect.ml.runtime.load_active_models`)."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.config import Settings
from vigil.db.session import build_engine
from vigil.detect.ml.runtime import HybridModels, load_active_models
from vigil.services.models import active_artifacts

__all__ = ["load_pipeline_models", "registry_artifacts"]

log = logging.getLogger(__name__)


async def registry_artifacts(settings: Settings) -> dict[str, str]:
    """The artifact of each active model type, read through an engine of its own.

    Models may be loaded before the process engine exists or on another event loop; a
    short-lived engine keeps that from binding the shared one to a loop that then ends. An
    embedded database that does not exist yet has no models (and is not created by asking).
    """
    if settings.is_sqlite:
        database = make_url(settings.database_url).database
        if not database or database == ":memory:" or not Path(database).exists():
            return {}
    engine = build_engine(settings)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            return await active_artifacts(session)
    finally:
        await engine.dispose()


def _registry_artifacts_now(settings: Settings) -> dict[str, str]:
    def run() -> dict[str, str]:
        return asyncio.run(registry_artifacts(settings))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    # Called from async code: read the database on a loop of our own, in a thread.
    result: dict[str, str] = {}
    failure: list[BaseException] = []

    def worker() -> None:
        try:
            result.update(run())
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=worker, name="vigil-model-registry")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result


def load_pipeline_models(settings: Settings) -> HybridModels | None:
    """The models for a pipeline of these settings, or None to run rules-only."""
    try:
        active = _registry_artifacts_now(settings)
    except Exception as exc:  # a missing table or database falls back to the shipped model
        log.warning("event=ml_registry_unavailable error=%s", type(exc).__name__)
        active = {}
    return load_active_models(active)
