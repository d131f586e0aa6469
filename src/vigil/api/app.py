"""The FastAPI app factory and its lifespan: database, broker, alert hub and pipeline."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from vigil import __version__
from vigil.api.alerts import AlertHub
from vigil.api.internal_errors import InternalErrorMiddleware
from vigil.api.limits import BodyLimitMiddleware
from vigil.api.pipeline_port import PipelineHandle
from vigil.api.retrain import RetrainJobs, RetrainRunner
from vigil.api.routes import (
    alerts,
    allowlist,
    audit,
    blocklist,
    crowdsec,
    dashboard,
    health,
    incidents,
    ingest,
    keys,
    models,
    stats,
    threats,
)
from vigil.api.routes.allowlist import push_to_pipeline
from vigil.api.state import AppState, ModelLoader, app_state
from vigil.config import Settings, get_settings
from vigil.db.session import get_db_context, open_database
from vigil.errors import BrokerUnavailableError, DatabaseUnavailableError
from vigil.services.allowlist import configured_sites
from vigil.sinks.broker import Broker, make_broker

log = logging.getLogger(__name__)

DEFAULT_BODY_LIMIT = 1024 * 1024
DESCRIPTION = (
    "vigil finds attacks in web-server access logs. Every route except /health (liveness only "
    "without a key), /ready and (by default) /metrics needs an API key in the `X-API-Key` "
    "header; keys are made with `vigil keys create`. A key limited to some sites only ever "
    "sees those sites' data. Browsers open /ws/alerts with a ticket from POST /ws/ticket, so a "
    "key never appears in a URL."
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = app_state(app)
    # The process database (shared with the pipeline when `vigil serve` opened it first).
    async with open_database(state.settings if app.state.explicit_settings else None):
        close_broker = state.owns_broker
        if state.owns_broker or not await state.broker.ping():
            close_broker = True
            try:
                await state.broker.connect()
            except Exception as exc:
                raise BrokerUnavailableError(
                    f"cannot reach the broker ({state.broker.name}): {type(exc).__name__}. "
                    "Check VIGIL_REDIS_URL and that Redis is running."
                ) from None
        await state.hub.start()
        pipeline = state.pipeline
        if pipeline is not None:
            start = getattr(pipeline, "start", None)
            if callable(start):
                await start()
            async with get_db_context() as session:
                for site in await configured_sites(session):
                    await push_to_pipeline(session, state, site)
        log.info("event=api_started broker=%s pipeline=%s", state.broker.name, pipeline is not None)
        try:
            yield
        finally:
            await state.retrain.stop()
            if pipeline is not None:
                stop = getattr(pipeline, "stop", None)
                if callable(stop):
                    await stop()
            await state.hub.stop()
            if close_broker:
                await state.broker.close()
            log.info("event=api_stopped")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only where and what: echoing the input back could return megabytes or a secret.
    errors = [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in exc.errors()
    ]
    if request.url.path.startswith("/v1/"):
        # The CrowdSec-compatible routes answer as the Local API does.
        where = ", ".join(".".join(str(part) for part in e["loc"][1:]) for e in errors)
        message = "; ".join(str(e["msg"]) for e in errors)
        return JSONResponse(status_code=400, content={"message": f"{where}: {message}"})
    return JSONResponse(status_code=422, content={"detail": errors})


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("event=database_unavailable path=%s error=%s", request.url.path, type(exc).__name__)
    return JSONResponse(
        status_code=503,
        content={"detail": "the database is unavailable; retry later"},
        headers={"Retry-After": "5"},
    )


def _documented_openapi(app: FastAPI) -> Any:
    """FastAPI's schema, amended to say what the app really answers: a 422 may carry a plain
    message (a value that is well-formed but not acceptable) as well as the list of field
    errors, and a route that takes a body answers 400 to one that is not JSON."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.get("components", {}).get("schemas", {})
    validation = components.get("HTTPValidationError")
    if validation is not None:
        detail = validation["properties"]["detail"]
        validation["properties"]["detail"] = {
            "title": "Detail",
            "anyOf": [{k: v for k, v in detail.items() if k != "title"}, {"type": "string"}],
        }
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if "requestBody" in operation:
                operation["responses"].setdefault(
                    "400",
                    {
                        "description": "the body is not valid JSON",
                        "content": {"application/json": {"schema": error_ref}},
                    },
                )
    app.openapi_schema = schema
    return schema


def create_app(
    settings: Settings | None = None,
    *,
    pipeline: PipelineHandle | None = None,
    broker: Broker | None = None,
    retrain_runner: RetrainRunner | None = None,
    model_loader: ModelLoader | None = None,
) -> FastAPI:
    """The vigil HTTP API and dashboard.

    `settings` None uses the process settings as the session module already has them; given
    settings are installed into the session module at start-up. `broker` None makes one from
    the settings (and closes it at shutdown). `retrain_runner` is the coroutine that trains
    and activates new models; without it POST /models/retrain answers 503. `model_loader`
    loads the active models into the running pipeline after /models/activate or /rollback.
    """
    explicit = settings is not None
    settings = settings or get_settings()
    owns_broker = broker is None
    broker = broker if broker is not None else make_broker(settings.broker)
    limits = settings.http_ingest
    app = FastAPI(
        title="vigil",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.explicit_settings = explicit
    app.state.vigil = AppState(
        settings=settings,
        broker=broker,
        owns_broker=owns_broker,
        hub=AlertHub(broker),
        retrain=RetrainJobs(retrain_runner),
        limits=limits,
        pipeline=pipeline,
        model_loader=model_loader,
    )
    # Added first, so it runs innermost: inside the body limit and Starlette's error middleware.
    app.add_middleware(InternalErrorMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        default=DEFAULT_BODY_LIMIT,
        per_path={"/ingest/batch": limits.max_bytes},
    )
    handlers: dict[Any, Any] = {
        RequestValidationError: _validation_error,
        DatabaseUnavailableError: _database_unavailable,
        OperationalError: _database_unavailable,
        InterfaceError: _database_unavailable,
        PoolTimeoutError: _database_unavailable,
        crowdsec.CrowdsecError: crowdsec.crowdsec_error,
    }
    for exc_class, handler in handlers.items():
        app.add_exception_handler(exc_class, handler)
    for module in (
        health,
        threats,
        incidents,
        stats,
        models,
        ingest,
        blocklist,
        crowdsec,
        allowlist,
        keys,
        audit,
        alerts,
        dashboard,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=dashboard.WEB_DIR), name="static")
    app.openapi = lambda: _documented_openapi(app)  # type: ignore[method-assign]
    return app
