"""Training: determinism for a seed, validation gates, export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.detect.ml.conftest import small_config
from vigil.detect.ml import features
from vigil.training import train

PROBES = ["1' or '1'='1", "<svg onload=alert(1)>", "../../etc/passwd", "hello world", "42"]


def test_same_seed_same_metrics_predictions_and_version(
    trained_small: train.TrainedClassifier, small_model_dir: Path, tmp_path: Path
) -> None:
    again = train.train(small_config())
    assert again.metrics == trained_small.metrics
    values = [features.make_value("q", "args", v) for v in PROBES]
    assert np.array_equal(again.predict_proba(values), trained_small.predict_proba(values))
    manifest = train.export(again, tmp_path)
    assert (tmp_path / train.CLASSIFIER_FILE).read_bytes() == (
        small_model_dir / train.CLASSIFIER_FILE
    ).read_bytes()
    assert manifest["version"].startswith("clf-")


def test_a_good_model_passes_the_gates(trained_small: train.TrainedClassifier) -> None:
    assert trained_small.passed, trained_small.failed_gates
    assert trained_small.threshold >= train.MIN_THRESHOLD


def test_gates_refuse_a_model_trained_on_shuffled_labels() -> None:
    broken = train.train(small_config(shuffle_labels=True))
    assert not broken.passed
    assert any(gate.startswith("pr_auc") for gate in broken.failed_gates)


def test_analyst_labels_override_the_data_set() -> None:
    payload = "1' or '1'='1"
    reviewed = train.examples_from_request("/search", "q=1%27+or+%271%27%3D%271", 0)
    merged = train._dedupe([train.Example(payload, "args", 1), *reviewed])
    assert [(e.label, e.origin) for e in merged] == [(0, "review")]


def test_the_data_sets_can_live_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_DATASETS_DIR", str(tmp_path))
    assert train.default_dataset_dir() == tmp_path / "httpparams"
    monkeypatch.delenv("VIGIL_DATASETS_DIR")
    checkout = Path(__file__).resolve().parents[2]
    assert train.default_datasets_root() == checkout / "data"


def test_the_training_data_ships_with_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIGIL_DATASETS_DIR", raising=False)
    directory = train.default_dataset_dir()
    assert (directory / "LICENSE").read_text().startswith("MIT License")
    examples = train.load_payloads(directory / "payload_train.csv")
    assert len(examples) == 20_712
    assert {e.label for e in examples} == {0, 1}


def test_a_model_that_never_saw_the_payload_corpora_fails_their_gates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(train, "corpus_payload_examples", lambda root, seed: [])
    only_httpparams = train.train(small_config())
    assert not only_httpparams.passed
    assert any(
        gate.startswith("payloads:") and "not in the validation part" in gate
        for gate in only_httpparams.failed_gates
    )


def test_every_source_is_validated_on_its_own(trained_small: train.TrainedClassifier) -> None:
    metrics = trained_small.source_metrics
    assert set(train.required_sources(small_config())) <= set(metrics)
    assert metrics["corpus-benign"]["benign_fpr"] <= train.SOURCE_GATES["benign_fpr"]
    assert metrics["payloads:payloadsallthethings"]["attack_recall"] >= 0.85
