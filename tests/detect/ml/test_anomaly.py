"""The site baseline: out-of-profile values are flagged, the site's normal traffic is not."""

from __future__ import annotations

from pathlib import Path

from tests.detect.ml.conftest import record
from vigil.detect.ml.anomaly import SiteBaseline
from vigil.training.retrain import fit_baseline


def _site() -> SiteBaseline:
    records = [record(f"/products/item-{i}", f"id={i * 7}&sort=price") for i in range(200)]
    records += [record("/search", f"q=blue+lamp+{i}") for i in range(100)]
    return fit_baseline(records)


def test_numeric_field_given_text_is_flagged() -> None:
    baseline = _site()
    normal = baseline.score(record("/products/item-9999", "id=12345&sort=price"))
    assert normal.score == 0.0
    text = baseline.score(record("/products/item-5", "id=abc"))
    assert text.score >= 0.5 and text.target == "args:id"
    quote = baseline.score(record("/products/item-5", "id=5%27"))
    assert quote.score >= 0.9 and "quote" in quote.reason


def test_unknown_parameters_and_paths_are_not_judged() -> None:
    baseline = _site()
    assert baseline.score(record("/other", "x=%27%22<>")).score == 0.0


def test_baseline_round_trips_through_json(tmp_path: Path) -> None:
    baseline = _site()
    baseline.save(tmp_path)
    loaded = SiteBaseline.load(tmp_path)
    probe = record("/products/item-5", "id=abc")
    assert loaded.score(probe) == baseline.score(probe)
    assert loaded.version == baseline.version.strip() and loaded.version.startswith("anom-")
