"""The HTTP API: the FastAPI app, its dependencies and routes, thin over `vigil.services`."""

from typing import TYPE_CHECKING

from vigil._exports import lazy_exports

if TYPE_CHECKING:
    from vigil.api.app import create_app
    from vigil.api.pipeline_port import PipelineHandle

__all__ = [
    "PipelineHandle",
    "create_app",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "PipelineHandle": "vigil.api.pipeline_port",
        "create_app": "vigil.api.app",
    },
)
