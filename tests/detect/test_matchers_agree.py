"""Hyperscan and the pure-`re` fallback find the same rules on the same targets.

The corpus is every HttpParams payload (train and test splits) placed in requests, plus the
generated benign traffic, scanned at paranoia level 4 so that every rule is compiled.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tests.detect.rules_support import shipped_rules
from vigil.batch import LogRecord
from vigil.detect.engine import DetectionEngine
from vigil.detect.matcher import KIND_BITS, VIEW_BITS, build_matcher
from vigil.detect.samples import record_from_log_line, record_from_request

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
BENIGN_REQUESTS = 20_000


def _benchmark_module(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


def _corpus() -> list[LogRecord]:
    httpparams = _benchmark_module("httpparams_corpus")
    benign = _benchmark_module("benign_corpus")
    lines = [
        line
        for split in ("train", "test")
        for line, _ in httpparams.lines_for(httpparams.load_samples(split), seed=7)
    ]
    lines.extend(benign.benign_lines(BENIGN_REQUESTS, seed=11))
    records = []
    for offset, line in enumerate(lines):
        record = record_from_log_line(line, offset)
        assert record is not None, line
        records.append(record)
    return records


def _findings(engine: DetectionEngine, records: list[LogRecord]) -> list[list[tuple[str, str]]]:
    out = []
    for start in range(0, len(records), 2048):
        for verdict in engine.detect_batch(records[start : start + 2048]):
            out.append(sorted((m.rule_id, m.target) for m in verdict.matches))
    return out


def test_hyperscan_and_re_agree_on_every_line_of_the_corpus() -> None:
    records = _corpus()
    assert len(records) > 50_000
    fast = _findings(DetectionEngine(shipped_rules(), 4, matcher="hyperscan"), records)
    slow = _findings(DetectionEngine(shipped_rules(), 4, matcher="re"), records)
    differing = [
        (record.target, a, b) for record, a, b in zip(records, fast, slow, strict=True) if a != b
    ]
    assert not differing, differing[:5]
    # The corpus exercises the rules: most attack lines carry findings.
    assert sum(1 for found in fast if found) > 10_000


def test_anchored_patterns_are_found_after_long_segments() -> None:
    # The whole value anchored at its start (^\s*>...), placed after another value in the
    # joined buffer Hyperscan scans: the verdict must not depend on what was scanned before.
    rules = [rule for rule in shipped_rules().rules if rule.patterns]
    fast = build_matcher(rules, "hyperscan")
    slow = build_matcher(rules, "re")
    agent = KIND_BITS["user_agent"]
    every_view = sum(VIEW_BITS.values())
    texts = [
        "mozilla/5.0 (x11; linux x86_64) applewebkit/537.36 safari/537.36",
        ">whoami",
        "'uname -a'",
    ]
    bits, masks = [agent] * len(texts), [every_view] * len(texts)
    expected = slow.scan(texts, bits, masks)
    assert sorted(expected) == [1, 2]
    assert fast.scan(texts, bits, masks) == expected


def test_every_rule_example_gets_the_same_verdict_late_in_a_batch() -> None:
    # Each example request after a few ordinary ones, so that its values sit far into the
    # buffer Hyperscan scans: both matchers must find the same rules on it.
    ruleset = shipped_rules()
    agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"
    records = [
        record_from_request(f"GET /products/item-{n}?page={n} HTTP/1.1", user_agent=agent)
        for n in range(3)
    ]
    for rule in ruleset.rules:
        for example in (*rule.must_match, *rule.must_not_match):
            records.append(
                record_from_request(
                    example.request,
                    user_agent=example.user_agent or agent,
                    referer=example.referer,
                    headers=example.headers,
                    status=example.status,
                )
            )
    fast = _findings(DetectionEngine(ruleset, 4, matcher="hyperscan"), records)
    slow = _findings(DetectionEngine(ruleset, 4, matcher="re"), records)
    differing = [
        (record.target, a, b) for record, a, b in zip(records, fast, slow, strict=True) if a != b
    ]
    assert not differing, differing[:5]
    assert sum(1 for found in fast if found) > 500
