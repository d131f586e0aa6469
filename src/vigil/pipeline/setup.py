"""What `vigil scan` and `vigil serve` both need before the first batch: a migrated database,
an analyzer with its models, and the webhook notifier."""

from __future__ import annotations

import asyncio

from vigil.config import Settings
from vigil.errors import VigilError
from vigil.pipeline.analyze import Analyzer
from vigil.sinks.webhooks import WebhookNotifier


async def ensure_schema(settings: Settings) -> None:
    """Check the database answers and has vigil's schema; create it on the embedded SQLite."""
    from vigil.db import migrate
    from vigil.db.session import close_db, configure_db, init_db

    configure_db(settings)
    await init_db()
    try:
        if await migrate.current_revision_async(settings) is None:
            if not settings.is_sqlite:
                raise VigilError(
                    "the database has no vigil schema yet; run `vigil db upgrade` first"
                )
            await asyncio.to_thread(migrate.upgrade, "head", settings)
    finally:
        await close_db()


def build_analyzer(
    settings: Settings, *, keep_results: bool = False, enrich: bool = True
) -> Analyzer:
    """The analyzer with the active models when the settings ask for hybrid mode."""
    analyzer = Analyzer(settings, keep_results=keep_results, enrich=enrich)
    if settings.detection_mode == "hybrid":
        from vigil.pipeline.models import load_pipeline_models

        analyzer.models = load_pipeline_models(settings)
    return analyzer


def build_webhooks(settings: Settings) -> WebhookNotifier:
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    return WebhookNotifier(
        settings.webhook_urls, secret=secret, throttle_seconds=settings.webhook_throttle_seconds
    )
