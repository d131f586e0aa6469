"""Normalisation as a step of its own: `normalise` decodes each new distinct value once, and
`detect_batch` gives the same verdicts whether it is handed that or does it itself."""

from __future__ import annotations

from tests.detect.rules_support import engine
from vigil.batch import LineBatch
from vigil.config import load_settings
from vigil.detect.samples import record_from_request
from vigil.pipeline.analyze import Analyzer

REQUESTS = [
    "GET /products/chair?color=blue HTTP/1.1",
    "GET /x?id=1+or+1%3D1 HTTP/1.1",
    "GET /products/chair?color=blue HTTP/1.1",
    "GET /x?q=%3Csvg%2Fonload%3Dalert(1)%3E HTTP/1.1",
    "GET /x?id=1+or+1%3D1 HTTP/1.1",
    "GET /.git/config HTTP/1.1",
]


def _records() -> list:
    return [record_from_request(r, offset=i) for i, r in enumerate(REQUESTS)]


def test_normalised_batch_gives_the_verdicts_of_a_plain_detect() -> None:
    records = _records()
    alone = engine().detect_batch(records)
    eng = engine()
    normalised = eng.normalise(records)
    assert eng.detect_batch(records, normalised=normalised) == alone
    assert [v.severity for v in alone] == ["LOW", "HIGH", "LOW", "HIGH", "HIGH", "MEDIUM"]


def test_each_distinct_value_is_decoded_once() -> None:
    eng = engine()
    records = _records()
    normalised = eng.normalise(records)
    decoded = [value for new in normalised.decoded.values() for value, _, _ in new.views]
    assert len(decoded) == len(set(decoded))
    assert "1+or+1%3D1" in decoded  # an argument value that needs decoding, once for two records
    eng.detect_batch(records, normalised=normalised)
    # The next batch of the same requests has nothing new to decode.
    again = eng.normalise(_records())
    assert again.decoded == {} and again.plans == [] and again.whole == {}


def test_a_normalised_batch_from_before_an_exclusion_change_is_redone() -> None:
    eng = engine()
    records = _records()
    normalised = eng.normalise(records)
    eng.set_exclusions(eng.exclusions.with_disabled("sqli"))
    verdicts = eng.detect_batch(records, normalised=normalised)
    assert verdicts == engine(exclusions=eng.exclusions).detect_batch(records)
    assert verdicts[1].severity != "HIGH"


def test_the_analyzer_normalises_before_the_rules() -> None:
    settings = load_settings(detection_mode="rules", helper_process=False, profile_enabled=False)
    analyzer = Analyzer(settings, enrich=False)
    names = [stage.name for stage in analyzer.stages]
    assert names.index("parse") < names.index("normalise") == names.index("rules") - 1
    line = b'1.2.3.4 - - [07/Dec/2026:01:00:00 +0000] "GET /x?id=1+or+1%3D1 HTTP/1.1" 200 5 "-" "t"'
    scored = analyzer.analyze(LineBatch("t", "f", [line], [0], len(line) + 1))
    assert "normalise" in scored.timings
    assert [t.severity for t in scored.threats] == ["HIGH"]
