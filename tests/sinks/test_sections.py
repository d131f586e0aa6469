"""Each source and sink is built from its own typed section of the settings: what an operator
sets under the section's variables is what the component runs with."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import make_settings
from vigil.config import FileSourceSection, StoreSection, WebhookSection
from vigil.sinks.store import StoreSink
from vigil.sinks.webhooks import WebhookNotifier
from vigil.sources.files import LineReader
from vigil.sources.tailer import FileTailer

URL = "sqlite+aiosqlite:///unused.db"


def test_the_store_is_built_from_its_section() -> None:
    settings = make_settings(
        URL,
        incident_quiet_minutes=7,
        store_retry_max_seconds=3.5,
        block_on_high=False,
        block_medium_count=4,
        block_duration_minutes=15,
        block_simulation=True,
    )
    assert isinstance(settings.store, StoreSection)
    sink = StoreSink(settings)
    assert sink.section == settings.store
    assert sink.quiet == timedelta(minutes=7)
    assert sink.section.retry_max_seconds == 3.5
    policy = sink.policy
    assert (policy.block_on_high, policy.medium_count, policy.simulation) == (False, 4, True)
    assert policy.duration == timedelta(minutes=15)


def test_webhooks_are_built_from_their_section() -> None:
    settings = make_settings(
        URL,
        webhook_urls="https://a.example/hook, https://b.example/hook",
        webhook_secret="s3cret",
        webhook_throttle_seconds=5,
    )
    section = settings.webhooks
    assert isinstance(section, WebhookSection)
    assert section.urls == ("https://a.example/hook", "https://b.example/hook")
    notifier = WebhookNotifier.from_section(section)
    assert notifier.urls == list(section.urls)
    assert notifier.enabled
    assert not WebhookNotifier.from_section(make_settings(URL).webhooks).enabled


def test_file_sources_are_built_from_their_section() -> None:
    settings = make_settings(
        URL, log_paths="/var/log/a.log,/var/log/b.log", batch_size=99, max_line_bytes=4096
    )
    section = settings.file_source
    assert isinstance(section, FileSourceSection)
    assert section.paths == ("/var/log/a.log", "/var/log/b.log")
    reader = LineReader.from_settings(settings, "-")
    assert reader.read_chunk_bytes == settings.read_chunk_bytes
    tailer = FileTailer.from_settings(settings)
    assert (tailer.batch_size, tailer.max_line_bytes) == (99, 4096)
