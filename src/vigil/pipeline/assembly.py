"""`open_pipeline`: the one place a pipeline is built.

Every driver is a thin loop over it: `vigil scan` (files or stdin, storing), `vigil scan
--no-store` (nothing written), `vigil serve` (a tailer and HTTP ingest, with the API), and the
agents and workers to come. Whatever the driver, the pipeline gets the same parts from the same
settings and the same database: the rules with the operator's exclusions file, the allowlists
and exclusions stored through the API, the registry's active models, the behaviour windows (and
their snapshot, when asked), the sinks configured for it, and the helper process when the input
is large enough to be worth a second core. So a log gives the same events whichever command
reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from vigil.batch import ScoredBatch
from vigil.config import Settings
from vigil.detect.profile.model import SiteProfile
from vigil.detect.profile.stage import ProfileStage
from vigil.errors import VigilError
from vigil.pipeline import helper_process
from vigil.pipeline.analyze import Analyzer
from vigil.pipeline.runner import STORE_MERGE_LINES, Pipeline
from vigil.pipeline.snapshots import SNAPSHOT_FILE, SnapshotKeeper
from vigil.sinks.base import Sink
from vigil.sinks.broker import Broker, make_broker
from vigil.sources.base import Source

__all__ = [
    "SNAPSHOT_FILE",
    "StoredControls",
    "StoredState",
    "configured_sinks",
    "ensure_schema",
    "open_pipeline",
    "read_stored_state",
    "save_profiles",
]

log = logging.getLogger(__name__)

StoredControls = list[tuple[str | None, list[dict[str, Any]], list[dict[str, Any]]]]
"""Per site (None: every site), the stored rule exclusions and allowlist entries."""


@dataclass(slots=True)
class StoredState:
    """What a pipeline picks up from the database when it starts."""

    controls: StoredControls = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    profiles: list[SiteProfile] = field(default_factory=list)


@asynccontextmanager
async def open_pipeline(
    settings: Settings,
    *,
    sources: Sequence[Source] = (),
    sinks: Sequence[Sink] | None = None,
    extra_sinks: Sequence[Sink] = (),
    store: bool = True,
    broker: Broker | None = None,
    keep_results: bool = False,
    input_bytes: int | None = None,
    snapshots: bool = False,
    on_scored: Callable[[ScoredBatch], None] | None = None,
    store_merge_lines: int = STORE_MERGE_LINES,
    open_database: bool = True,
    learn_profiles: bool = False,
    analyze_at_end: bool = True,
) -> AsyncIterator[Pipeline]:
    """A running pipeline fed by `sources`, drained and closed when the block ends.

    `store` False writes nothing (no database, no broker): the stored controls and models are
    still read if the database exists. `sinks` None means the configured ones: with `store`,
    the store, then live alerts on `broker` (made from the settings when not given) and
    webhooks, then every optional sink whose config section is set (see `configured_sinks`);
    `extra_sinks` (a driver's own, e.g. the scan summary) come after them.
    `input_bytes` is the size of a finite input, from which the helper process is decided
    (`VIGIL_HELPER_PROCESS`); `snapshots` keeps the behaviour windows across restarts in
    `VIGIL_STATE_DIR`. The site profiles stored in the database judge every batch
    (`VIGIL_PROFILE_ENABLED`); `learn_profiles` (serve) also learns them from the traffic and
    saves them every `VIGIL_PROFILE_SAVE_SECONDS` and at the end. Leaving the block normally
    waits for the sources to end (for finite ones) and drains every accepted batch through the
    sinks, then (with `analyze_at_end`) refreshes the statistics of the tables the store filled.
    `open_database` False: the driver has opened the process database and keeps it open (a
    worker's pipelines share it).
    """
    # The helper starts first: its start-up (imports, rule compilation) then overlaps ours.
    helper = (
        helper_process.HelperProcess(settings)
        if helper_process.wanted(settings.runner, input_bytes)
        else None
    )
    owned_broker: Broker | None = None
    pipeline: Pipeline | None = None
    analyzer: Analyzer | None = None
    saver: asyncio.Task[None] | None = None
    database = contextlib.AsyncExitStack()
    try:
        if store and open_database:
            from vigil.db.session import open_database as open_process_database

            await database.enter_async_context(
                open_process_database(settings, prepare=ensure_schema)
            )
        stored = await read_stored_state(settings)
        controls, artifacts = stored.controls, stored.artifacts
        analyzer = Analyzer(settings, keep_results=keep_results, enrich=store)
        if settings.detection_mode == "hybrid":
            analyzer.load_models_later(partial(_load_models, artifacts))
        profile = settings.profile
        if profile.enabled:
            analyzer.profiles = ProfileStage(
                stored.profiles,
                learn=learn_profiles and store,
                learning_period=timedelta(hours=profile.learning_hours),
            )
            if stored.profiles:
                log.info("event=site_profiles_restored sites=%d", len(stored.profiles))
        analyzer.helper, helper = helper, None
        if sinks is None:
            if store and broker is None:
                broker = owned_broker = make_broker(settings.broker)
                await broker.connect()
            # A broker made here has no subscribers but the pipeline's own sinks.
            sinks = configured_sinks(
                settings, store=store, broker=broker, publish_locally=owned_broker is None
            )
        sinks = [*sinks, *extra_sinks]
        keeper = None
        if snapshots:
            settings.state_dir.mkdir(parents=True, exist_ok=True)
            keeper = SnapshotKeeper(
                analyzer, settings.state_dir / SNAPSHOT_FILE, settings.behaviour.snapshot_seconds
            )
        pipeline = Pipeline(
            settings.runner,
            source_labels=settings.file_source.paths,
            analyzer=analyzer,
            sinks=sinks,
            on_scored=on_scored,
            snapshots=keeper,
            store_merge_lines=store_merge_lines,
        )
        for site, exclusions, allowlist in controls:
            pipeline.set_exclusions(site, exclusions, allowlist)
        await pipeline.start()
        profiles = analyzer.profiles
        if profiles is not None and profiles.learn_live:
            saver = asyncio.create_task(_save_profiles_every(profile.save_seconds, profiles))
        for source in sources:
            pipeline.add_source(source)
        yield pipeline
        await pipeline.wait_sources()
        await pipeline.stop(drain=True)
        if profiles is not None and profiles.learn_live:
            await save_profiles(profiles)
        for sink in sinks if analyze_at_end else ():
            analyze = getattr(sink, "analyze_changed", None)
            if analyze is not None:
                # After a bulk load the tables it filled get statistics before anyone queries
                # them (a no-op below the store's threshold).
                await analyze()
    finally:
        if saver is not None:
            saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saver
        if pipeline is not None:
            await pipeline.stop(drain=False)
        if analyzer is not None:
            analyzer.close()
        if helper is not None:
            helper.close()
        if owned_broker is not None:
            await owned_broker.close()
        await database.aclose()


def configured_sinks(
    settings: Settings,
    *,
    store: bool = True,
    broker: Broker | None = None,
    publish_locally: bool = True,
) -> list[Sink]:
    """The sinks the settings ask for, in the order batches reach them.

    With `store`: the store first (its transaction decides what is new), then live alerts on
    `broker` and the webhooks, which publish what the store wrote. Then each optional sink
    whose config section is enabled (`Settings.sink_sections`), built by the `build` function
    of the module the section names; adding a sink touches nothing here.
    """
    sinks: list[Sink] = []
    if store:
        from vigil.sinks.broker import PublishSink
        from vigil.sinks.store import StoreSink
        from vigil.sinks.webhooks import WebhookNotifier

        # Events are published only where someone may listen: Redis (other processes), an
        # in-process broker with subscribers (the API's WebSocket), webhooks or another sink.
        listeners = (
            settings.broker.redis_url is not None
            or publish_locally
            or bool(settings.webhooks.urls)
            or any(section.enabled for section in settings.sink_sections())
        )
        sinks.append(StoreSink(settings, messages=listeners))
        if broker is not None:
            sinks.append(PublishSink(broker))
        sinks.append(WebhookNotifier.from_section(settings.webhooks))
    for section in settings.sink_sections():
        if section.enabled:
            sinks.append(section.build_sink(settings))
    return sinks


async def save_profiles(profiles: ProfileStage) -> int:
    """Write the profiles that changed since the last save (the process's database must be
    configured); the number written. A failure is logged and the profiles stay marked."""
    from vigil.db.session import get_db_context
    from vigil.services.profiles import encode, save_profile

    sites = sorted(profiles.dirty)
    if not sites:
        return 0
    # Encoded here, between two batches of this event loop, so no batch changes a profile
    # while it is being written out.
    blobs = []
    for site in sites:
        profile = profiles.profile(site)
        if profile is not None:
            blobs.append((profile, encode(profile)))
    profiles.dirty.difference_update(sites)
    try:
        async with get_db_context() as session:
            for profile, blob in blobs:
                await save_profile(session, profile, blob)
    except Exception as exc:
        profiles.dirty.update(sites)
        log.warning("event=site_profile_save_failed error=%s", type(exc).__name__)
        return 0
    return len(blobs)


async def _save_profiles_every(seconds: float, profiles: ProfileStage) -> None:
    while True:
        await asyncio.sleep(seconds)
        await save_profiles(profiles)


async def read_stored_state(settings: Settings) -> StoredState:
    """The allowlists and exclusions stored through the API, per site, the artifact of each
    active model type and the site profiles, read through a short-lived engine of its own.

    An embedded database that does not exist yet has neither (and is not created by asking); a
    database that cannot be read is reported in one log line and the pipeline starts without
    stored controls and with the shipped model.
    """
    if settings.is_sqlite:
        database = make_url(settings.database_url).database
        if not database or database == ":memory:" or not Path(database).exists():
            return StoredState()
    # Imported only when there is a database to read: a scan that stores nothing and has no
    # database starts without them.
    from sqlalchemy.ext.asyncio import AsyncSession

    from vigil.db.session import build_engine
    from vigil.services.allowlist import stored_controls
    from vigil.services.models import active_artifacts

    engine = build_engine(settings)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            controls: StoredControls = await stored_controls(session)
            artifacts = await active_artifacts(session)
        profiles: list[SiteProfile] = []
        if settings.profile.enabled:
            from vigil.services.profiles import load_profiles

            try:
                async with AsyncSession(engine, expire_on_commit=False) as session:
                    profiles = await load_profiles(session)
            except Exception as exc:  # a database not yet migrated to the profiles' revision
                log.warning("event=site_profiles_unavailable error=%s", type(exc).__name__)
        return StoredState(controls, artifacts, profiles)
    except Exception as exc:  # no schema yet, or the database is away
        log.warning(
            "event=stored_state_unavailable error=%s; starting without stored allowlists, "
            "exclusions and model versions",
            type(exc).__name__,
        )
        return StoredState()
    finally:
        with contextlib.suppress(Exception):
            await engine.dispose()


def _load_models(artifacts: dict[str, str]) -> Any:
    """The registry's active models (the shipped default without them), or None for rules
    only; imported here, with onnxruntime and numpy, only once a request is to be scored."""
    from vigil.detect.ml.runtime import load_active_models

    return load_active_models(artifacts)


async def ensure_schema(settings: Settings) -> None:
    """The `prepare` step of `open_database` for a pipeline: the vigil schema must be there
    (on the embedded SQLite it is created)."""
    from vigil.db import migrate

    if await migrate.current_revision_async(settings) is None:
        if not settings.is_sqlite:
            raise VigilError("the database has no vigil schema yet; run `vigil db upgrade` first")
        await asyncio.to_thread(migrate.upgrade, "head", settings)
