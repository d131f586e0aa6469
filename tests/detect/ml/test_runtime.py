"""Run time: ONNX scoring per batch, fused components, hot swap, loading and fallbacks."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_settings
from tests.detect.ml.conftest import record
from vigil.batch import LineBatch, LogRecord
from vigil.detect.ml import features, runtime
from vigil.detect.result import Detection, RuleMatch
from vigil.pipeline.models import load_pipeline_models
from vigil.training import train


def test_onnx_matches_the_trained_weights(
    trained_small: train.TrainedClassifier, small_model_dir: Path
) -> None:
    values = [features.make_value("q", "args", v) for v in ("1 union select 1,2", "%3Cb%3E", "x y")]
    onnx = runtime.Classifier(small_model_dir).predict(values)
    assert np.allclose(onnx, trained_small.predict_proba(values), atol=1e-4)


def test_score_batch_gives_one_fused_score_per_record(small_model_dir: Path) -> None:
    models = runtime.load_models(small_model_dir)
    records = [
        record("/static/app.js"),
        record("/search", "q=1%27%20union%20select%20password%20from%20users--"),
        record("/search", "q=garden+lamp&page=2"),
        record("/static/app.js", offset=3),
    ]
    detections = [Detection() for _ in records]
    fused = models.score_batch(records, detections)
    assert len(fused) == len(records)
    assert set(fused[1].components) >= {"rules", "ml", "anomaly", "fused"}
    assert fused[1].score >= 0.5 and fused[1].components["ml_target"] == "args:q"
    assert fused[0].score == 0.0 and fused[2].score < 0.5
    assert fused[0].components["ml"] == 0.0


def test_rules_score_is_kept_when_the_model_agrees(small_model_dir: Path) -> None:
    models = runtime.load_models(small_model_dir)
    rec = record("/search", "q=1%27+or+%271%27%3D%271")
    hit = Detection(score=0.9, severity="HIGH", matches=[RuleMatch("s1", "sqli", "args:q", "", 5)])
    (fused,) = models.score_batch([rec], [hit])
    assert fused.score >= 0.9 and fused.components["rules"] == 0.9


def test_a_repeated_rule_verdict_is_fused_alike(small_model_dir: Path) -> None:
    models = runtime.load_models(small_model_dir)
    rec = record("/search", "q=garden+lamp")
    lone = Detection(score=0.58, severity="MEDIUM", matches=[RuleMatch("w1", "x", "args:q", "", 3)])
    high = Detection(score=0.9, severity="HIGH", matches=[RuleMatch("s1", "x", "args:q", "", 5)])
    first = models.score_batch([rec, rec], [lone, lone])
    again = models.score_batch([rec, record("/search", "q=garden+lamp", 1)], [high, lone])
    # The lone warning on a value the classifier finds benign is lowered, every time; another
    # rule verdict on the same request is fused on its own.
    assert first[0].score == first[1].score == again[1].score < 0.58
    assert again[0].score == 0.9 and again[0].components["rules"] == 0.9


def _from(rec: LogRecord, **fields: object) -> LogRecord:
    return rec._replace(**fields)


def test_a_payload_in_a_referer_argument_is_scored(small_model_dir: Path) -> None:
    models = runtime.load_models(small_model_dir)
    page = record("/products/view", "id=7")
    payload = (
        "https://www.example.org/search?lang=en&q=1%27%20union%20select%20password%20from%20users--"
    )
    search = "https://www.example.org/search?q=garden+lamp%2C+red&page=2"
    plain, attacked, searched = models.score_batch(
        [page, _from(page, referer=payload), _from(page, referer=search)],
        [Detection(), Detection(), Detection()],
    )
    assert attacked.components["ml_target"] == "referer_args:q"
    assert attacked.components["ml"] >= models.threshold > plain.components["ml"]
    assert attacked.score > plain.score
    assert searched.score < 0.5 and searched.components["ml"] < models.threshold


def test_a_payload_in_a_cookie_value_is_scored(small_model_dir: Path) -> None:
    models = runtime.load_models(small_model_dir)
    page = record("/account", offset=1)
    payload = {"http_cookie": "sid=5f2c9a; pref=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E"}
    benign = {"http_cookie": "sid=5f2c9a; theme=dark; cart=%7B%22items%22%3A%5B1%2C2%5D%7D"}
    plain, attacked, ordinary = models.score_batch(
        [page, _from(page, extra=payload), _from(page, extra=benign)],
        [Detection(), Detection(), Detection()],
    )
    assert attacked.components["ml_target"] == "cookie:pref"
    assert attacked.components["ml"] >= models.threshold
    assert attacked.score > plain.score
    assert ordinary.score < 0.5 and ordinary.components["ml"] < models.threshold


def test_a_payload_in_another_header_or_forwarded_for_is_scored(small_model_dir: Path) -> None:
    models = runtime.load_models(small_model_dir)
    page = record("/account", offset=1)
    in_header = {"http_x_client_data": "<script>alert(document.cookie)</script>"}
    ordinary = {
        "http_accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "http_accept_language": "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7",
        "http_forwarded": "for=192.0.2.60;proto=http;by=203.0.113.43",
        "http_x_requested_with": "XMLHttpRequest",
        "http_x_wap_profile": "http://wap.samsungmobile.com/uaprof/SGH-I777.xml",
        "http_x_operamini_phone_ua": "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36",
    }
    plain, header, forwarded, benign, proxied = models.score_batch(
        [
            page,
            _from(page, extra=in_header),
            _from(page, forwarded_for="10.0.0.1' union select password from users--"),
            _from(page, extra=ordinary),
            _from(page, forwarded_for="unknown, 203.0.113.7, 10.0.0.1"),
        ],
        [Detection()] * 5,
    )
    assert header.components["ml_target"] == "header:x-client-data"
    assert forwarded.components["ml_target"] == "header:x-forwarded-for"
    for attacked in (header, forwarded):
        assert attacked.components["ml"] >= models.threshold
        assert attacked.score > plain.score
    for quiet in (benign, proxied):
        assert quiet.score < 0.5 and quiet.components["ml"] < models.threshold


def test_a_rule_hit_in_a_referer_is_corroborated_by_the_classifier(small_model_dir: Path) -> None:
    models = runtime.load_models(small_model_dir)
    rec = _from(
        record("/", offset=2),
        referer="https://evil.example/p?x=%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
    )
    weak = Detection(
        score=0.3, severity="LOW", matches=[RuleMatch("w1", "xss", "referer_args:x", "", 2)]
    )
    (alone,) = models.score_batch([_from(rec, referer="")], [weak])
    (fused,) = models.score_batch([rec], [weak])
    assert alone.score < 0.5 <= fused.score
    assert fused.components["ml_target"] == "referer_args:x"


def test_a_referer_on_the_site_itself_is_left_to_its_own_request(small_model_dir: Path) -> None:
    models = runtime.load_models(small_model_dir)
    referer = "https://shop.example.com/search?q=1%27%20union%20select%20password%20from%20users--"
    page = _from(record("/static/app.css", offset=3), referer=referer)
    own, other = models.score_batch(
        [_from(page, host="shop.example.com:443"), _from(page, host="www.example.net")],
        [Detection(), Detection()],
    )
    assert "ml_target" not in own.components and own.components["ml"] == 0.0
    assert other.components["ml_target"] == "referer_args:q"


def test_hot_swap_under_load_scores_every_line(small_model_dir: Path, tmp_path: Path) -> None:
    from vigil.pipeline.analyze import Analyzer
    from vigil.simulate.traffic import generate

    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", log_format="combined")
    analyzer = Analyzer(settings, keep_results=True)
    analyzer.models = runtime.load_models(small_model_dir)
    spares = [runtime.load_models(small_model_dir) for _ in range(2)]
    lines = [g.text.encode() for g in generate(6000, seed=5)]
    stop = threading.Event()
    swaps = 0

    def swapper() -> None:
        nonlocal swaps
        while not stop.is_set():
            runtime.swap_in(analyzer, spares[swaps % 2])
            swaps += 1

    thread = threading.Thread(target=swapper)
    thread.start()
    scored = 0
    try:
        for start in range(0, len(lines), 200):
            chunk = lines[start : start + 200]
            batch = LineBatch("t", "f", chunk, list(range(start, start + len(chunk))), 0)
            result = analyzer.analyze(batch)
            assert result.results is not None
            scored += len(result.results)
            assert result.records + len(result.dead_letters) == len(chunk)
    finally:
        stop.set()
        thread.join()
    assert swaps > 1
    assert scored == len(lines)


def test_load_falls_back_to_the_shipped_model(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'absent.db'}")
    models = load_pipeline_models(settings)
    assert models is not None
    assert models.version.startswith("clf-")
    assert (runtime.shipped_model_dir() / train.CLASSIFIER_FILE).exists()
    assert not (tmp_path / "absent.db").exists()


def test_without_onnxruntime_vigil_runs_rules_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'absent.db'}")
    with caplog.at_level(logging.WARNING):
        assert load_pipeline_models(settings) is None
    assert "running rules-only: onnxruntime not installed" in caplog.text
