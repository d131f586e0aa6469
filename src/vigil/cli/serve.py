"""`vigil serve`: tail `VIGIL_LOG_PATHS`, run the pipeline and serve the API and dashboard in
one process."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import typer

from vigil.cli.console import err
from vigil.runtime import tune_gc

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from vigil.config import Settings
    from vigil.sinks.store import StoreSink

ANALYZE_EVERY_SECONDS = 300.0


def _log_progress(fraction: float, message: str) -> None:
    log.info("event=retrain_progress fraction=%.2f step=%r", fraction, message)


async def run_server(settings: Settings) -> None:
    import asyncio

    import uvicorn

    from vigil.api.app import create_app
    from vigil.pipeline.assembly import open_pipeline
    from vigil.sinks.broker import make_broker
    from vigil.sinks.store import DbCheckpointStore, StoreSink
    from vigil.sources.tailer import FileTailer

    broker = make_broker(settings.redis_url, settings.redis_prefix)
    async with open_pipeline(
        settings, broker=broker, snapshots=True, learn_profiles=True
    ) as pipeline:
        tune_gc()

        async def retrain() -> None:
            # POST /models/retrain: train from reviewed events; an activated model is swapped
            # into the running analyzer between two batches (hybrid mode; rules mode keeps none).
            from vigil.training.retrain import retrain_job

            hot = pipeline.analyzer if settings.detection_mode == "hybrid" else None
            result = await retrain_job(settings, _log_progress, analyzer=hot)
            log.info(
                "event=retrain_finished version=%s activated=%s swapped=%s",
                result["version"],
                result["activated"],
                result.get("swapped"),
            )

        app = create_app(settings, pipeline=pipeline, broker=broker, retrain_runner=retrain)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            lifespan="on",
            access_log=False,
            # Plain frames: compressing every alert for hundreds of sockets costs more CPU than
            # the bandwidth it saves.
            ws="websockets-sansio",
            ws_per_message_deflate=False,
        )
        server = uvicorn.Server(config)
        err.print(
            f"vigil serving on http://{settings.host}:{settings.port}/ — tailing "
            f"{', '.join(settings.log_paths) or 'nothing (set VIGIL_LOG_PATHS)'}"
        )
        serving = asyncio.create_task(server.serve())
        # The tailer starts once the lifespan has connected the broker and the API is up.
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        if server.started and settings.log_paths:
            tailer = FileTailer.from_settings(settings, checkpoints=DbCheckpointStore())
            pipeline.add_source(tailer.batches())
        store = next(sink for sink in pipeline.sinks if isinstance(sink, StoreSink))
        upkeep = asyncio.create_task(maintain(settings, store), name="maintenance")
        try:
            await serving
        finally:
            upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await upkeep
            # Sources stop, and every line accepted goes through the sinks.
            await pipeline.stop(drain=True)


async def run_cluster_api(settings: Settings) -> None:
    """`serve --cluster`: the API, dashboard and live alerts of a cluster, tailing nothing.

    Events are read from the database the workers store into, alerts arrive on Redis from the
    workers, `/ingest/batch` appends to the partition streams, `/metrics` has each partition's
    lag; retention is kept here (the workers never prune)."""
    import asyncio

    import uvicorn

    from vigil.api.app import create_app
    from vigil.errors import ConfigError
    from vigil.services.cluster import ClusterIngest
    from vigil.sinks.broker import make_broker
    from vigil.sinks.store import StoreSink

    if not settings.redis_url:
        raise ConfigError("serve --cluster needs VIGIL_REDIS_URL (the cluster's Redis)")
    broker = make_broker(settings.redis_url, settings.redis_prefix)
    app = create_app(settings, pipeline=ClusterIngest(settings), broker=broker)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            lifespan="on",
            access_log=False,
            ws="websockets-sansio",
            ws_per_message_deflate=False,
        )
    )
    err.print(f"vigil serving the cluster's API on http://{settings.host}:{settings.port}/")
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.05)
    upkeep = asyncio.create_task(maintain(settings, StoreSink(settings)), name="maintenance")
    try:
        await serving
    finally:
        upkeep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await upkeep


async def maintain(settings: Settings, store: StoreSink) -> None:
    """Prune what is past retention every VIGIL_PRUNE_INTERVAL_MINUTES (first at start, which
    also makes the coming days' partitions), and ANALYZE what the store filled since the last
    look every few minutes."""
    import asyncio

    from vigil.db.retention import prune
    from vigil.db.session import get_engine

    log = logging.getLogger("vigil.maintenance")
    prune_every = settings.prune_interval_minutes * 60
    next_prune = 0.0
    loop = asyncio.get_running_loop()
    while True:
        try:
            if loop.time() >= next_prune:
                await prune(get_engine(), settings, partitions=store.partitions)
                next_prune = loop.time() + prune_every
            await store.analyze_changed()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database may be away; the next round tries again
            log.warning("event=maintenance_failed error=%s", type(exc).__name__)
        await asyncio.sleep(min(prune_every, ANALYZE_EVERY_SECONDS))


def serve(
    host: str = typer.Option(None, "--host", help="listen address (default: VIGIL_HOST)"),
    port: int = typer.Option(None, "--port", help="listen port (default: VIGIL_PORT)"),
    log_paths: str = typer.Option(
        None, "--paths", help="comma-separated files or globs (default: VIGIL_LOG_PATHS)"
    ),
    cluster: bool = typer.Option(
        False,
        "--cluster",
        help="API node of a cluster: no tailing; events from the database, alerts from Redis",
    ),
) -> None:
    """Tail the configured logs, detect, store, alert, and serve the API and dashboard."""
    import asyncio

    from vigil.config import settings_with

    settings = settings_with(host=host, port=port, log_paths=log_paths)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s level=%(levelname)s %(name)s %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_cluster_api(settings) if cluster else run_server(settings))
