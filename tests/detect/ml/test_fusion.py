"""The fusion formula: what each component can and cannot do to a request's score."""

from __future__ import annotations

import pytest

from vigil.detect.ml import fusion
from vigil.detect.result import RuleMatch

T = 0.6


def match(
    rule_id: str, target: str = "args:q", points: int = 3, category: str = "sqli"
) -> RuleMatch:
    return RuleMatch(rule_id, category, target, "frag", points)


def test_ml_raises_only_above_its_threshold() -> None:
    weak = 0.32  # one notice-level rule: LOW on its own, but it corroborates the classifier
    assert fusion.fuse(weak, [match("a", points=1)], T - 0.01, T) < 0.5
    assert 0.5 <= fusion.fuse(weak, [match("a", points=1)], T, T) < 0.7
    assert fusion.fuse(0.0, [], 0.99, T) >= 0.7


def test_ml_alone_flags_only_when_nearly_certain() -> None:
    # Nothing else saw anything: between its threshold and the stand-alone one, LOW.
    assert fusion.fuse(0.0, [], T, T) < 0.5
    assert fusion.fuse(0.0, [], fusion.ALONE_THRESHOLD - 0.001, T) < 0.5
    assert fusion.fuse(0.0, [], fusion.ALONE_THRESHOLD, T) >= 0.7
    # A rule match worth no points (a served probe, a research scanner) corroborates nothing.
    assert fusion.fuse(0.0, [match("a", points=0)], 0.9, T) < 0.5
    # The site's profile finding the value unusual does.
    assert fusion.fuse(0.0, [], 0.9, T, 0.5) >= 0.5


def test_high_rule_verdict_is_never_lowered() -> None:
    assert fusion.fuse(0.8, [match("a")], 0.0, T, scored={"args:q"}) == 0.8


def test_lone_warning_lowered_by_a_bounded_amount() -> None:
    lowered = fusion.fuse(0.58, [match("a")], 0.0, T, scored={"args:q"})
    assert lowered == pytest.approx(0.48)
    assert fusion.fuse(0.58, [match("a")], 0.04, T, scored={"args:q"}) > lowered


@pytest.mark.parametrize(
    ("matches", "scored", "p", "anomaly"),
    [
        ([match("a"), match("b")], {"args:q"}, 0.0, 0.0),  # two rules
        ([match("a", "user_agent")], {"args:q"}, 0.0, 0.0),  # target the model did not see
        ([match("a")], {"args:q"}, 0.2, 0.0),  # model not confident it is benign
        ([match("a")], {"args:q"}, 0.0, 0.7),  # out of the site's profile
        ([match("a", "path", category="probe")], {"path"}, 0.0, 0.0),  # a probe of a file
    ],
)
def test_lowering_needs_a_lone_hit_the_model_saw_and_trusts(
    matches: list[RuleMatch], scored: set[str], p: float, anomaly: float
) -> None:
    assert fusion.fuse(0.58, matches, p, T, anomaly, scored=scored) >= 0.58


def test_anomaly_alone_is_at_most_medium_and_needs_to_be_far_out() -> None:
    assert fusion.fuse(0.0, [], 0.0, T, 0.8) < 0.5
    assert 0.5 <= fusion.fuse(0.0, [], 0.0, T, 1.0) < 0.7
    assert fusion.fuse(0.0, [], T / 2, T, 0.6) >= 0.5


def test_allowlisted_keeps_the_rules_score() -> None:
    assert fusion.fuse(0.0, [], 1.0, T, 1.0, allowlisted=True) == 0.0
