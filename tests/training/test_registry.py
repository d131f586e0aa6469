"""Model versions in the database: activation, rollback, and retraining from reviewed events."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.detect.ml.conftest import record, small_config
from vigil.config import Settings
from vigil.db.models import ThreatEvent
from vigil.db.session import get_db_context
from vigil.detect.result import Detection
from vigil.pipeline.models import load_pipeline_models
from vigil.training import registry, retrain, train

PROBES = [
    record("/search", "q=1%27+or+sleep(5)--"),
    record("/search", "q=%3Cimg+src%3Dx+onerror%3Dalert(1)%3E"),
    record("/search", "q=garden+lamp+(blue)"),
    record("/files", "name=..%2F..%2Fetc%2Fpasswd"),
]


def _scores(settings: Settings) -> tuple[str, list[float]]:
    models = load_pipeline_models(settings)
    assert models is not None
    fused = models.score_batch(PROBES, [Detection() for _ in PROBES])
    return models.version, [f.score for f in fused]


async def test_rollback_restores_the_previous_versions_scores_exactly(
    db: Settings, small_model_dir: Path, tmp_path: Path
) -> None:
    other = train.train(small_config(seed=11))
    other_dir = tmp_path / "other"
    second = train.export(other, other_dir)
    first = train.export(train.train(small_config()), tmp_path / "first")
    await registry.record_model(
        "classifier", first["version"], training_samples=1, metrics={},
        artifact=str(tmp_path / "first"), activate=True,
    )  # fmt: skip
    before = await asyncio.to_thread(_scores, db)
    await registry.record_model(
        "classifier", second["version"], training_samples=1, metrics={},
        artifact=str(other_dir), activate=True,
    )  # fmt: skip
    during = await asyncio.to_thread(_scores, db)
    assert during[0] == second["version"] != before[0]
    assert during[1] != before[1]
    restored = await registry.rollback("classifier")
    assert restored.version == first["version"]
    assert await asyncio.to_thread(_scores, db) == before
    active = [m for m in await registry.list_models() if m.is_active]
    assert [m.version for m in active] == [first["version"]]


async def test_a_model_that_failed_its_gates_is_not_activated_unless_forced(db: Settings) -> None:
    await registry.record_model(
        "classifier", "clf-broken", training_samples=1,
        metrics={"gates_passed": False}, artifact="x", activate=False,
    )  # fmt: skip
    with pytest.raises(registry.ModelRegistryError, match="validation gates"):
        await registry.activate("clf-broken")
    assert (await registry.activate("clf-broken", force=True)).is_active
    with pytest.raises(registry.ModelRegistryError, match="no classifier model older"):
        await registry.rollback("classifier")


ADJECTIVES = ["great", "nice", "solid", "lovely", "sturdy", "cheap", "warm", "bright", "comfy"]
NOUNS = ["lamp", "bag", "chair", "scarf", "kettle", "boots", "rug", "mug", "tent", "clock"]


def _review_snippet(rng: random.Random) -> str:
    # A shop whose review box allows bold and italic text: benign markup the first model
    # calls XSS.
    return f"<b>{rng.choice(ADJECTIVES)}</b> <i>{rng.choice(NOUNS)}</i>"


async def test_reviewed_false_positives_stop_being_flagged(sqlite_db: Settings) -> None:
    from urllib.parse import quote

    rng = random.Random(1)
    config = small_config()
    first = await retrain.train_and_register(sqlite_db, config, from_db=False)
    assert first["activated"]

    def flagged(values: list[str]) -> list[bool]:
        models = load_pipeline_models(sqlite_db)
        assert models is not None
        recs = [record("/reviews/new", "text=" + quote(v, safe="")) for v in values]
        return [f.score >= 0.5 for f in models.score_batch(recs, [Detection() for _ in recs])]

    candidates = sorted({_review_snippet(rng) for _ in range(60)})
    verdicts = await asyncio.to_thread(flagged, candidates)
    caught = [value for value, hit in zip(candidates, verdicts, strict=True) if hit]
    # The first model must call a real share of them XSS, or there is nothing to unlearn.
    assert len(caught) >= 10
    reviewed, fresh = caught[::2], caught[1::2]

    async with get_db_context() as session:
        for i, value in enumerate(reviewed):
            session.add(
                ThreatEvent(
                    event_key=f"fp{i}", observed_at=__import__("datetime").datetime.now(),
                    client_ip="198.51.100.7", path="/reviews/new",
                    query="text=" + quote(value, safe=""), score=0.6, severity="MEDIUM",
                    detection_mode="hybrid", reviewed=True, label="false_positive",
                )
            )  # fmt: skip
    second = await retrain.train_and_register(sqlite_db, config, from_db=True)
    assert second["activated"] and second["reviewed_values"] == len(reviewed), second
    assert second["version"] != first["version"]
    assert not any(await asyncio.to_thread(flagged, reviewed + fresh))
