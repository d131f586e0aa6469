"""Where batches of raw lines come from: the file tailer, files and stdin, with checkpoints to
resume from."""

from typing import TYPE_CHECKING

from vigil._exports import lazy_exports

if TYPE_CHECKING:
    from vigil.sources.checkpoints import CheckpointStore, InMemoryCheckpointStore
    from vigil.sources.files import LineReader
    from vigil.sources.tailer import FileTailer

__all__ = [
    "CheckpointStore",
    "FileTailer",
    "InMemoryCheckpointStore",
    "LineReader",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "CheckpointStore": "vigil.sources.checkpoints",
        "FileTailer": "vigil.sources.tailer",
        "InMemoryCheckpointStore": "vigil.sources.checkpoints",
        "LineReader": "vigil.sources.files",
    },
)
