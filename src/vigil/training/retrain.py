"""Training jobs that end in the registry: retrain from reviewed events, fit a site baseline.

`retrain_job` is what ``POST /models/retrain`` runs (the API runs one at a time) and what
``vigil train --from-db`` runs: reviewed events become examples, a classifier is trained and
validated, exported under ``settings.model_dir/<version>``, recorded in ``model_metadata``
and, when its gates pass, activated, and swapped into a running analyzer if one is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from vigil.detect.ml.anomaly import SiteBaseline, baseline_version
from vigil.training import registry, train

if TYPE_CHECKING:
    from vigil.batch import LogRecord
    from vigil.config import Settings

Progress = Callable[[float, str], None]
T = TypeVar("T")


async def _in_daemon_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run a long CPU job in a daemon thread and await it.

    Unlike ``asyncio.to_thread`` (the default executor, joined when the loop closes), a cancelled
    job does not hold up the process: ``vigil serve`` stopping during a retrain exits within its
    shutdown timeout, and the half-trained model is discarded (nothing is recorded before the
    export finishes).
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            result, error = fn(*args), None
        except BaseException as exc:  # handed to the awaiting task
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="vigil-training", daemon=True).start()
    return await future


def _no_progress(_fraction: float, _message: str) -> None:
    return None


async def reviewed_examples() -> list[train.Example]:
    """Training examples from analyst-reviewed events in the database."""
    examples: list[train.Example] = []
    for path, query, label in await registry.reviewed_requests():
        examples.extend(train.examples_from_request(path, query, label))
    return examples


async def train_and_register(
    settings: Settings,
    config: train.TrainConfig,
    *,
    from_db: bool,
    progress: Progress = _no_progress,
) -> dict[str, Any]:
    """Train a classifier, export it to the model directory and record it; activate if valid."""
    started = time.perf_counter()
    reviewed: list[train.Example] = []
    if from_db:
        progress(0.05, "reading reviewed events")
        reviewed = await reviewed_examples()
    progress(0.15, f"training on the data set and {len(reviewed)} reviewed values")
    trained = await _in_daemon_thread(train.train, config, reviewed)
    progress(0.8, "validating")
    onnx_bytes = train.to_onnx(trained)
    version = train.classifier_version(onnx_bytes)
    directory = Path(settings.model_dir) / version
    manifest = await _in_daemon_thread(train.export, trained, directory)
    metrics = {
        **trained.metrics,
        "gates_passed": trained.passed,
        "failed_gates": trained.failed_gates,
        "reviewed_values": len(reviewed),
        "seed": config.seed,
    }
    progress(0.9, "recording")
    info = await registry.record_model(
        "classifier",
        version,
        training_samples=trained.samples,
        metrics=metrics,
        artifact=str(directory),
        activate=trained.passed,
    )
    progress(1.0, "activated" if info.is_active else "refused by the validation gates")
    return {
        "version": version,
        "activated": info.is_active,
        "metrics": trained.metrics,
        "failed_gates": trained.failed_gates,
        "training_samples": trained.samples,
        "reviewed_values": len(reviewed),
        "artifact": str(directory),
        "onnx_bytes": manifest["onnx_bytes"],
        "seconds": round(time.perf_counter() - started, 2),
    }


async def retrain_job(
    settings: Settings, progress: Progress, *, analyzer: Any = None, seed: int = 7
) -> dict[str, Any]:
    """Retrain the classifier with reviewed events; hot-swap it into `analyzer` if activated."""
    config = train.TrainConfig(seed=seed)
    result = await train_and_register(settings, config, from_db=True, progress=progress)
    if result["activated"] and analyzer is not None:
        swapped = await swap_active(analyzer)
        if swapped is not None:
            result["swapped"] = swapped
    return result


async def swap_active(analyzer: Any) -> str | None:
    """Load the registry's active models and swap them into `analyzer` between two batches;
    returns the classifier version now in use (None: no model could be loaded)."""
    from vigil.detect.ml.runtime import load_active_models, swap_in

    active = await registry.active_artifacts()
    models = await asyncio.to_thread(load_active_models, active)
    if models is None:
        return None
    swap_in(analyzer, models)
    return str(models.version)


def fit_baseline(records: Iterable[LogRecord]) -> SiteBaseline:
    """A site baseline fitted to `records`, with its version set."""
    baseline = SiteBaseline()
    baseline.fit(records)
    baseline.version = baseline_version(baseline)
    return baseline


async def register_baseline(
    settings: Settings, baseline: SiteBaseline, samples: int
) -> dict[str, Any]:
    """Save a fitted baseline under the model directory, record it and activate it."""
    directory = Path(settings.model_dir) / baseline.version
    baseline.save(directory)
    profiles = sum(p.count >= 20 for p in baseline.profiles.values())
    info = await registry.record_model(
        "anomaly",
        baseline.version,
        training_samples=samples,
        metrics={"profiles": profiles, "gates_passed": True},
        artifact=str(directory),
        activate=True,
    )
    return {"version": info.version, "activated": info.is_active, "profiles": profiles}
