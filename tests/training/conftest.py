"""The training tests share the ML fixtures (a small configuration, models trained once)."""

from tests.detect.ml.conftest import small_model_dir, sqlite_db, trained_small

__all__ = ["small_model_dir", "sqlite_db", "trained_small"]
