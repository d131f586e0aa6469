"""Each source and sink is built from its own typed section of the settings: what an operator
sets under the section's variables is what the component runs with."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import vigil.sources
from tests.conftest import make_settings
from vigil.api.app import create_app
from vigil.config import (
    BrokerSection,
    FileSourceSection,
    HttpIngestSection,
    StoreSection,
    WebhookSection,
)
from vigil.pipeline.worker import AckSink, _Track
from vigil.sinks.base import Sink
from vigil.sinks.broker import MemoryBroker, PublishSink, RedisBroker, make_broker
from vigil.sinks.jsonl import JsonlSink
from vigil.sinks.store import StoreSink
from vigil.sinks.webhooks import WebhookNotifier
from vigil.sources.base import PushSource, Source
from vigil.sources.files import FilesSource, LineReader
from vigil.sources.http import HttpIngest
from vigil.sources.partition import PartitionSource
from vigil.sources.streams import StreamKeys
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
    reader = LineReader.from_section(section, "-")
    assert reader.read_chunk_bytes == settings.read_chunk_bytes
    tailer = FileTailer.from_section(settings.file_source)
    assert (tailer.batch_size, tailer.max_line_bytes) == (99, 4096)


def test_the_broker_is_built_from_its_section() -> None:
    assert isinstance(make_broker(make_settings(URL).broker), MemoryBroker)
    settings = make_settings(URL, redis_url="redis://127.0.0.1:6379/2", redis_prefix="edge")
    section = settings.broker
    assert isinstance(section, BrokerSection)
    broker = make_broker(section)
    assert isinstance(broker, RedisBroker)
    assert broker.alerts_channel == "edge:alerts"


def test_http_ingest_is_built_from_its_section() -> None:
    settings = make_settings(URL, ingest_max_lines=5, ingest_max_bytes=4096)
    section = settings.http_ingest
    assert isinstance(section, HttpIngestSection)
    app = create_app(settings, broker=MemoryBroker())
    assert app.state.vigil.limits == section == HttpIngestSection(max_lines=5, max_bytes=4096)


def _source_classes() -> set[type]:
    """Every class of `vigil.sources` that produces batches."""
    found: set[type] = set()
    for module_info in pkgutil.iter_modules(vigil.sources.__path__, "vigil.sources."):
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and value.__module__ == module.__name__
                and inspect.isfunction(vars(value).get("batches"))
                and Protocol not in value.__bases__
            ):
                found.add(value)
    return found


def test_every_source_and_sink_has_the_protocols_members(tmp_path: Path) -> None:
    settings = make_settings(URL)
    sources = [
        FilesSource(["-"], settings.file_source),
        FileTailer.from_section(settings.file_source),
        HttpIngest(),
        PartitionSource(None, StreamKeys("vigil"), 0),
    ]
    assert all(isinstance(source, Source) for source in sources)
    # Every source the package has is one of these (a new one is added here, and held to
    # the protocol with them).
    assert _source_classes() == {type(source) for source in sources}
    pushed = [source for source in sources if isinstance(source, PushSource)]
    assert [type(source) for source in pushed] == [HttpIngest]
    sinks = [
        StoreSink(settings),
        PublishSink(MemoryBroker()),
        WebhookNotifier.from_section(settings.webhooks),
        JsonlSink(tmp_path / "events.jsonl"),
        AckSink(None, "stream", _Track()),
    ]
    for sink in sinks:
        assert isinstance(sink, Sink), type(sink).__name__
        assert isinstance(sink.name, str) and isinstance(sink.durable, bool)
