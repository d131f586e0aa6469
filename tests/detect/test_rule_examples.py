"""Every rule file's examples: each must_match fires its rule, each must_not_match does not.

New rules and new examples are picked up from the rule files; no test code is needed.
"""

from __future__ import annotations

import pytest

from tests.detect.rules_support import example_runner, shipped_rules
from vigil.detect.ruleset import Example, Rule

CASES: list[tuple[Rule, Example, bool]] = [
    (rule, example, expected)
    for rule in shipped_rules()
    for expected, examples in ((True, rule.must_match), (False, rule.must_not_match))
    for example in examples
]


def _case_id(case: tuple[Rule, Example, bool]) -> str:
    rule, example, expected = case
    return f"{rule.id}:{'match' if expected else 'no-match'}:{example.request[:40]}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(case) for case in CASES])
def test_rule_example(case: tuple[Rule, Example, bool]) -> None:
    rule, example, expected = case
    failure = example_runner().check(rule, example, expected)
    assert failure is None, failure.describe() if failure else ""


@pytest.mark.parametrize("rule", list(shipped_rules()), ids=lambda rule: rule.id)
def test_every_rule_has_both_kinds_of_example(rule: Rule) -> None:
    assert rule.must_match, f"{rule.id} ({rule.source}) has no must_match example"
    assert rule.must_not_match, f"{rule.id} ({rule.source}) has no must_not_match example"


def test_every_family_of_the_issue_is_covered() -> None:
    categories = {rule.category for rule in shipped_rules()}
    assert categories >= {
        "protocol", "lfi", "rfi", "rce", "php", "ssrf", "nodejs", "ssti", "xss", "sqli",
        "session-fixation", "java", "xxe", "crlf", "open-redirect", "scanner", "probe",
    }  # fmt: skip
