"""Rule-file validation: mistakes are reported as one clear RuleError naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.detect import ruleset
from vigil.detect.ruleset import load_ruleset, parse_rule_file
from vigil.errors import RuleError

GOOD = """
family: demo
defaults: {category: demo, targets: [args], transforms: [decode], severity: warning}
rules:
  - id: demo-one
    patterns: ['evil']
"""


def test_defaults_apply_and_severity_maps_to_points() -> None:
    [rule] = parse_rule_file(GOOD, "demo.yaml")
    assert rule.points == 3 and rule.paranoia == 1 and rule.view == "decoded"
    assert rule.family == "demo" and rule.targets == frozenset({"args"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "rules: [{id: x1, category: c, severity: notice, targets: [args], patterns: ['(']}]",
            "does not compile",
        ),
        (
            "rules: [{id: x1, category: c, severity: notice, targets: [args], patterns: ['a*']}]",
            "empty string",
        ),
        (
            "rules: [{id: x1, category: c, severity: notice, targets: [args], patterns: ['\\s']}]",
            "line break",
        ),
        (
            "rules: [{id: x1, category: c, severity: notice, targets: [body], patterns: ['a']}]",
            "targets",
        ),
        (
            "rules: [{id: x1, category: c, severity: huge, targets: [args], patterns: ['a']}]",
            "severity",
        ),
        (
            "rules: [{id: x1, category: c, severity: notice, paranoia: 5, targets: [args], "
            "patterns: ['a']}]",
            "paranoia",
        ),
        (
            "rules: [{id: x1, category: c, severity: notice, targets: [args], "
            "transforms: [remove_comments], patterns: ['a']}]",
            "transforms",
        ),
        ("rules: [{id: x1, category: c, severity: notice, targets: [args]}]", "exactly one"),
        (
            "rules: [{id: x1, category: c, severity: notice, targets: [args], signals: [nope]}]",
            "unknown signals",
        ),
        (
            "rules: [{id: X!, category: c, severity: notice, targets: [args], patterns: ['a']}]",
            "id must be",
        ),
        (
            "rules: [{id: x1, category: c, severity: notice, targets: [args], patterns: ['a'], "
            "colour: red}]",
            "unknown keys",
        ),
        (
            "rules: [{id: x1, category: c, severity: notice, targets: [args], patterns: ['a'], "
            "fallback: maybe}]",
            "fallback",
        ),
        ("rules: {id: x1}", "'rules' list"),
        ("rules: [\n  - id: [", "not valid YAML"),
    ],
)
def test_invalid_rule_files_are_rejected(text: str, message: str) -> None:
    with pytest.raises(RuleError, match=message) as raised:
        parse_rule_file(text, "bad.yaml")
    assert "bad.yaml" in str(raised.value)


def test_duplicate_ids_across_files_are_rejected(tmp_path: pytest.TempPathFactory) -> None:
    folder = tmp_path  # type: ignore[assignment]
    (folder / "a.yaml").write_text(GOOD, encoding="utf-8")  # type: ignore[operator]
    (folder / "b.yaml").write_text(GOOD, encoding="utf-8")  # type: ignore[operator]
    with pytest.raises(RuleError, match="defined twice"):
        load_ruleset([folder], include_builtin=False)  # type: ignore[list-item]


def test_shipped_rules_load_with_unique_ids_and_families() -> None:
    ruleset = load_ruleset()
    assert len(ruleset) >= 100
    assert set(ruleset.families) >= {"sqli", "xss", "lfi", "rce", "scanners", "probes"}


def test_a_rule_file_parsed_before_is_read_back_unchecked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_CACHE_DIR", str(tmp_path))
    checked: list[str] = []
    original = ruleset.check_pattern

    def counting(pattern: str, where: str) -> None:
        checked.append(pattern)
        original(pattern, where)

    monkeypatch.setattr(ruleset, "check_pattern", counting)
    first = parse_rule_file(GOOD, "demo.yaml")
    assert checked
    assert any((tmp_path / "rules-parsed").iterdir())
    checked.clear()
    assert parse_rule_file(GOOD, "demo.yaml") == first
    assert checked == []
    # Any change to the text is checked anew: a broken pattern is still refused.
    with pytest.raises(RuleError, match="does not compile"):
        parse_rule_file(GOOD.replace("evil", "(evil"), "demo.yaml")
