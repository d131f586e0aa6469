"""What one app instance holds beyond the database: settings, broker, pipeline, jobs, limits."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import FastAPI

from vigil.api.alerts import AlertHub
from vigil.api.pipeline_port import PipelineHandle
from vigil.api.retrain import RetrainJobs
from vigil.config import HttpIngestSection, Settings
from vigil.services.tickets import TicketBook
from vigil.sinks.broker import Broker

ModelLoader = Callable[[], Awaitable[str | None]]
"""Loads the active models into the running pipeline; returns the version in use (or None)."""


@dataclass(slots=True)
class AppState:
    settings: Settings
    broker: Broker
    owns_broker: bool
    hub: AlertHub
    retrain: RetrainJobs
    limits: HttpIngestSection
    """The largest batch POST /ingest/batch accepts (larger ones get 413)."""
    pipeline: PipelineHandle | None = None
    model_loader: ModelLoader | None = None
    started_at: float = field(default_factory=time.time)
    tickets: TicketBook = field(default_factory=TicketBook)

    @property
    def admin_key(self) -> str | None:
        secret = self.settings.api_admin_key
        return secret.get_secret_value() if secret is not None else None


def app_state(app: FastAPI) -> AppState:
    """The state `create_app` attached to `app`."""
    state: AppState = app.state.vigil
    return state
