"""Fixtures of the ML tests: a small training configuration and models trained once per module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import configured_with_schema, make_settings
from vigil.batch import LogRecord
from vigil.config import Settings
from vigil.training import train


def small_config(seed: int = 3, **overrides: object) -> train.TrainConfig:
    """A configuration that trains in a few seconds and still passes the gates."""
    config = train.TrainConfig(
        seed=seed,
        max_examples=5000,
        traffic_lines=3000,
        benign_values=3000,
        wild_benign_lines=20000,
    )
    for name, value in overrides.items():
        setattr(config, name, value)
    return config


def record(path: str, query: str = "", offset: int = 0) -> LogRecord:
    """A parsed request with only the fields the models read."""
    target = f"{path}?{query}" if query else path
    return LogRecord(
        "test", "f", offset, "203.0.113.9", None, "GET", target, path, query, "HTTP/1.1",
        200, 100, "", "Mozilla/5.0",
    )  # fmt: skip


@pytest.fixture(scope="session")
def trained_small() -> train.TrainedClassifier:
    return train.train(small_config())


@pytest.fixture(scope="session")
def small_model_dir(
    trained_small: train.TrainedClassifier, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    directory = tmp_path_factory.mktemp("model")
    train.export(trained_small, directory)
    return directory


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Settings]:
    """A fresh SQLite database with the schema, and a model directory, for training tests."""
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'ml.db'}", model_dir=tmp_path / "models"
    )
    async with configured_with_schema(settings) as ready:
        yield ready
