"""Shared, lazily built rule engines for the request-detection tests (compiling takes seconds)."""

from __future__ import annotations

from functools import cache

from vigil.detect.engine import DetectionEngine
from vigil.detect.examples import ExampleRunner
from vigil.detect.exclusions import ExclusionSet
from vigil.detect.result import Detection
from vigil.detect.ruleset import Ruleset, load_ruleset
from vigil.detect.samples import record_from_request


@cache
def shipped_rules() -> Ruleset:
    return load_ruleset()


@cache
def example_runner() -> ExampleRunner:
    return ExampleRunner(shipped_rules())


def engine(paranoia_level: int = 1, exclusions: ExclusionSet | None = None) -> DetectionEngine:
    """A fresh engine over the shipped rules (its Hyperscan database is shared and cached)."""
    return DetectionEngine(shipped_rules(), paranoia_level=paranoia_level, exclusions=exclusions)


def detect(
    eng: DetectionEngine,
    request: str,
    *,
    user_agent: str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    client_ip: str = "198.51.100.20",
    site: str = "default",
) -> Detection:
    record = record_from_request(request, user_agent=user_agent, client_ip=client_ip)
    return eng.detect_batch([record], site=site)[0]


def rule_ids(detection: Detection) -> set[str]:
    return {match.rule_id for match in detection.matches}
