"""`vigil serve`: tail `VIGIL_LOG_PATHS`, run the pipeline and serve the API and dashboard in
one process."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import typer

from vigil.cli.console import err
from vigil.runtime import tune_gc

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import asyncio

    import uvicorn

    from vigil.config import Settings
    from vigil.pipeline.runner import Pipeline
    from vigil.sinks.store import StoreSink

ANALYZE_EVERY_SECONDS = 300.0
FORCED_EXIT_CODE = 1
"""Exit code when the batches read were not all stored (a second signal, or the shutdown
timeout ran out); 0 after a complete drain."""


def _log_progress(fraction: float, message: str) -> None:
    log.info("event=retrain_progress fraction=%.2f step=%r", fraction, message)


class ShutdownSignals:
    """SIGTERM and SIGINT for `vigil serve`: the first asks for a graceful stop (drain, then
    exit), a second one stops the process at once. Nothing is lost either way: a file's
    checkpoint only moves with the batch stored, so the next start reads the rest again."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        import asyncio

        self.asked = asyncio.Event()

    def install(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        for sig in self.SIGNALS:
            loop.add_signal_handler(sig, self._received, sig)

    def remove(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        for sig in self.SIGNALS:
            loop.remove_signal_handler(sig)

    def _received(self, sig: signal.Signals) -> None:
        if not self.asked.is_set():
            log.info("event=shutdown_requested signal=%s", sig.name)
            self.asked.set()
            return
        log.warning(
            "event=shutdown_forced signal=%s; batches not stored yet are read again at the "
            "next start",
            sig.name,
        )
        logging.shutdown()
        os._exit(FORCED_EXIT_CODE)


def _server(config: uvicorn.Config) -> uvicorn.Server:
    """A uvicorn server that leaves SIGTERM and SIGINT to `ShutdownSignals` (its own handlers
    would shut the API down first and then re-raise the signal, killing the process before the
    pipeline is drained)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield

    return Server(config)


async def run_server(settings: Settings) -> bool:
    """Serves until SIGTERM or SIGINT; True when every batch read was stored before exiting."""
    import asyncio

    from vigil.errors import BrokerUnavailableError
    from vigil.pipeline.assembly import open_pipeline
    from vigil.sinks.broker import make_broker
    from vigil.sinks.store import DbCheckpointStore, StoreSink
    from vigil.sources.http import HttpIngest
    from vigil.sources.tailer import FileTailer

    signals = ShutdownSignals()
    signals.install()
    broker = make_broker(settings.broker)
    try:
        # Connected before the pipeline runs, so its files are followed at once and their
        # alerts published while the API is still starting (the API uses this connection).
        try:
            await broker.connect()
        except Exception as exc:
            raise BrokerUnavailableError(
                f"cannot reach the broker ({broker.name}): {type(exc).__name__}. "
                "Check VIGIL_REDIS_URL and that Redis is running."
            ) from None
        async with open_pipeline(
            settings,
            sources=[HttpIngest(settings.runner.queue_size)],  # POST /ingest/batch
            broker=broker,
            snapshots=True,
            learn_profiles=True,
            analyze_at_end=False,
        ) as pipeline:
            tune_gc()
            if settings.log_paths and not signals.asked.is_set():
                # Before the API is built and serving: following the files waits for neither.
                tailer = FileTailer.from_section(
                    settings.file_source, checkpoints=DbCheckpointStore()
                )
                pipeline.add_source(tailer)
            # The API's modules are imported on a thread: the event loop meanwhile reads the
            # checkpoints and opens the files.
            create_app = await asyncio.to_thread(_api_factory)
            import uvicorn

            async def retrain() -> None:
                # POST /models/retrain: train from reviewed events; an activated model is
                # swapped into the running analyzer between two batches (hybrid mode; rules
                # mode keeps none).
                from vigil.training.retrain import retrain_job

                hot = pipeline.analyzer if settings.detection_mode == "hybrid" else None
                result = await retrain_job(settings, _log_progress, analyzer=hot)
                log.info(
                    "event=retrain_finished version=%s activated=%s swapped=%s",
                    result["version"],
                    result["activated"],
                    result.get("swapped"),
                )

            async def load_models() -> str | None:
                # POST /models/activate and /rollback: the newly active models are swapped in
                # between two batches (hybrid mode; rules mode keeps none).
                from vigil.training.retrain import swap_active

                if settings.detection_mode != "hybrid":
                    return None
                return await swap_active(pipeline.analyzer)

            app = create_app(
                settings,
                pipeline=pipeline,
                broker=broker,
                retrain_runner=retrain,
                model_loader=load_models,
            )
            config = uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                log_level=settings.log_level.lower(),
                lifespan="on",
                access_log=False,
                # Plain frames: compressing every alert for hundreds of sockets costs more CPU
                # than the bandwidth it saves.
                ws="websockets-sansio",
                ws_per_message_deflate=False,
                timeout_graceful_shutdown=max(1, int(settings.shutdown_timeout)),
            )
            server = _server(config)
            err.print(
                f"vigil serving on http://{settings.host}:{settings.port}/ — tailing "
                f"{', '.join(settings.log_paths) or 'nothing (set VIGIL_LOG_PATHS)'}"
            )
            serving = asyncio.create_task(server.serve())
            asked = asyncio.create_task(signals.asked.wait())
            store = next(sink for sink in pipeline.sinks if isinstance(sink, StoreSink))
            upkeep_stopping = asyncio.Event()
            upkeep = asyncio.create_task(
                maintain(settings, store, upkeep_stopping), name="maintenance"
            )
            try:
                await asyncio.wait({serving, asked}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                asked.cancel()
                # Maintenance ends between two steps: a prune cancelled inside its transaction
                # would leave the embedded database locked for the store's last batches.
                upkeep_stopping.set()
            try:
                return await _shut_down(settings, pipeline, server, serving)
            finally:
                upkeep.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await upkeep
    finally:
        signals.remove()
        await broker.close()


def _api_factory() -> Callable[..., Any]:
    """`create_app`, with the API's modules (and uvicorn's) imported."""
    import uvicorn  # noqa: F401

    from vigil.api.app import create_app

    return create_app


async def _shut_down(
    settings: Settings, pipeline: Pipeline, server: uvicorn.Server, serving: asyncio.Task[None]
) -> bool:
    """Sources stop and every batch already read goes through the sinks, within
    VIGIL_SHUTDOWN_TIMEOUT; then the API stops (the broker stays up for the last alerts)."""
    import asyncio

    loop = asyncio.get_running_loop()
    started = loop.time()
    drained = await pipeline.stop(drain=True, timeout=settings.shutdown_timeout)
    server.should_exit = True
    left = max(1.0, settings.shutdown_timeout - (loop.time() - started))
    try:
        async with asyncio.timeout(left):
            await asyncio.shield(serving)
    except TimeoutError:
        server.force_exit = True
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
    log.info(
        "event=shutdown drained=%s seconds=%.2f stored=%d",
        drained,
        loop.time() - started,
        pipeline.totals.stored,
    )
    return drained


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
    broker = make_broker(settings.broker)
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


async def maintain(
    settings: Settings, store: StoreSink, stopping: asyncio.Event | None = None
) -> None:
    """Prune what is past retention every VIGIL_PRUNE_INTERVAL_MINUTES (first at start, which
    also makes the coming days' partitions), and ANALYZE what the store filled since the last
    look every few minutes; until `stopping` is set, which ends it between two steps."""
    import asyncio

    stopping = stopping or asyncio.Event()

    from vigil.db.retention import prune
    from vigil.db.session import get_engine

    log = logging.getLogger("vigil.maintenance")
    prune_every = settings.prune_interval_minutes * 60
    next_prune = 0.0
    loop = asyncio.get_running_loop()
    while not stopping.is_set():
        try:
            if loop.time() >= next_prune:
                await prune(get_engine(), settings, partitions=store.partitions)
                next_prune = loop.time() + prune_every
            await store.analyze_changed()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database may be away; the next round tries again
            log.warning("event=maintenance_failed error=%s", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), min(prune_every, ANALYZE_EVERY_SECONDS))


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
    """Tail the configured logs, detect, store, alert, and serve the API and dashboard.

    SIGTERM (or Ctrl+C) stores what was read and exits 0 within VIGIL_SHUTDOWN_TIMEOUT; a
    second one stops at once (exit 1), losing nothing: the next start reads the rest."""
    import asyncio

    from vigil.config import settings_with

    settings = settings_with(host=host, port=port, log_paths=log_paths)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s level=%(levelname)s %(name)s %(message)s"
    )
    if cluster:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_cluster_api(settings))
        return
    if not asyncio.run(run_server(settings)):
        raise typer.Exit(FORCED_EXIT_CODE)
