"""The models at run time: the ONNX classifier and site baseline, scored per batch and fused
with the rules."""

from typing import TYPE_CHECKING

from vigil._exports import lazy_exports

if TYPE_CHECKING:
    from vigil.detect.ml.runtime import HybridModels, ModelLoadError, load_models, shipped_model_dir

__all__ = [
    "HybridModels",
    "ModelLoadError",
    "load_models",
    "shipped_model_dir",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "HybridModels": "vigil.detect.ml.runtime",
        "ModelLoadError": "vigil.detect.ml.runtime",
        "load_models": "vigil.detect.ml.runtime",
        "shipped_model_dir": "vigil.detect.ml.runtime",
    },
)
