"""Where batches of raw lines come from: the file tailer, files and stdin, HTTP ingest and a
cluster's partition streams, with checkpoints to resume from."""

from typing import TYPE_CHECKING

from vigil._exports import lazy_exports

if TYPE_CHECKING:
    from vigil.sources.base import PushSource, Source
    from vigil.sources.checkpoints import CheckpointStore, InMemoryCheckpointStore
    from vigil.sources.files import FilesSource, LineReader
    from vigil.sources.http import HttpIngest
    from vigil.sources.partition import PartitionSource
    from vigil.sources.tailer import FileTailer

__all__ = [
    "CheckpointStore",
    "FileTailer",
    "FilesSource",
    "HttpIngest",
    "InMemoryCheckpointStore",
    "LineReader",
    "PartitionSource",
    "PushSource",
    "Source",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "CheckpointStore": "vigil.sources.checkpoints",
        "FileTailer": "vigil.sources.tailer",
        "FilesSource": "vigil.sources.files",
        "HttpIngest": "vigil.sources.http",
        "InMemoryCheckpointStore": "vigil.sources.checkpoints",
        "LineReader": "vigil.sources.files",
        "PartitionSource": "vigil.sources.partition",
        "PushSource": "vigil.sources.base",
        "Source": "vigil.sources.base",
    },
)
