"""Where scored batches go: the store (events, incidents, decisions and the checkpoint in one
transaction), the broker (live alerts), webhooks, and the blocklist."""

from typing import TYPE_CHECKING

from vigil._exports import lazy_exports

if TYPE_CHECKING:
    from vigil.sinks.base import Sink
    from vigil.sinks.blocklist import BlockPolicy
    from vigil.sinks.broker import Broker, PublishSink, make_broker
    from vigil.sinks.jsonl import JsonlSink
    from vigil.sinks.store import DbCheckpointStore, StoreSink
    from vigil.sinks.webhooks import WebhookNotifier

__all__ = [
    "BlockPolicy",
    "Broker",
    "DbCheckpointStore",
    "JsonlSink",
    "PublishSink",
    "Sink",
    "StoreSink",
    "WebhookNotifier",
    "make_broker",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "BlockPolicy": "vigil.sinks.blocklist",
        "Broker": "vigil.sinks.broker",
        "DbCheckpointStore": "vigil.sinks.store",
        "JsonlSink": "vigil.sinks.jsonl",
        "PublishSink": "vigil.sinks.broker",
        "Sink": "vigil.sinks.base",
        "StoreSink": "vigil.sinks.store",
        "WebhookNotifier": "vigil.sinks.webhooks",
        "make_broker": "vigil.sinks.broker",
    },
)
