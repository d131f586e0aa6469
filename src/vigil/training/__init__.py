"""Model training, validation gates and the model registry (`vigil train`, `vigil models`,
`POST /models/retrain`)."""

from typing import TYPE_CHECKING

from vigil._exports import lazy_exports

if TYPE_CHECKING:
    from vigil.training.registry import list_models, record_model
    from vigil.training.retrain import fit_baseline, retrain_job
    from vigil.training.train import TrainConfig

__all__ = [
    "TrainConfig",
    "fit_baseline",
    "list_models",
    "record_model",
    "retrain_job",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "TrainConfig": "vigil.training.train",
        "fit_baseline": "vigil.training.retrain",
        "list_models": "vigil.training.registry",
        "record_model": "vigil.training.registry",
        "retrain_job": "vigil.training.retrain",
    },
)
