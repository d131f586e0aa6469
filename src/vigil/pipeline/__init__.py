"""The pipeline: `open_pipeline` (the one assembly), the analysis stages of a batch, the async
runner with its bounded queues, and the helper process that shares the analysis with a second
core."""

from typing import TYPE_CHECKING

from vigil._exports import lazy_exports

if TYPE_CHECKING:
    from vigil.pipeline.analyze import Analyzer
    from vigil.pipeline.assembly import configured_sinks, open_pipeline
    from vigil.pipeline.runner import Pipeline

__all__ = [
    "Analyzer",
    "Pipeline",
    "configured_sinks",
    "open_pipeline",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "Analyzer": "vigil.pipeline.analyze",
        "Pipeline": "vigil.pipeline.runner",
        "configured_sinks": "vigil.pipeline.assembly",
        "open_pipeline": "vigil.pipeline.assembly",
    },
)
