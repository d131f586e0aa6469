"""`vigil rules list|test|explain` through the Typer sub-app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from vigil.cli.rules import rules_app

runner = CliRunner()


def test_list_filters_by_category_and_level() -> None:
    result = runner.invoke(rules_app, ["list", "--category", "scanner", "--paranoia", "1"])
    assert result.exit_code == 0
    assert "scanner-attack-tool" in result.output
    assert "scanner-command-line-client" not in result.output  # paranoia level 3
    assert "sqli-union-select" not in result.output


def test_test_command_passes_on_the_shipped_rules() -> None:
    result = runner.invoke(rules_app, ["test"])
    assert result.exit_code == 0, result.output
    assert "0 failures" in result.output


def test_test_command_fails_on_a_wrong_example(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        """
rules:
  - id: local-broken
    category: demo
    severity: notice
    targets: [args]
    transforms: [decode]
    patterns: ['needle']
    examples:
      must_match: ['GET /?q=haystack HTTP/1.1']
""",
        encoding="utf-8",
    )
    result = runner.invoke(rules_app, ["test", "--rules-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "FAIL local-broken should fire on" in result.output


def test_explain_a_request_line_and_a_log_line() -> None:
    result = runner.invoke(
        rules_app, ["explain", "GET /item?id=1%27%20UN/**/ION%20SELECT%201-- HTTP/1.1"]
    )
    assert result.exit_code == 0, result.output
    assert "sqli-union-select" in result.output and "HIGH" in result.output
    line = (
        '198.51.100.4 - - [10/Oct/2024:13:55:36 +0000] "GET /.git/config HTTP/1.1" 404 0 '
        '"-" "Mozilla/5.0"'
    )
    result = runner.invoke(rules_app, ["explain", "--json", line])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["severity"] == "MEDIUM"
    points = {m["rule_id"]: m["points"] for m in data["matches"]}
    assert [rule for rule, value in points.items() if value > 0] == ["probe-vcs-metadata"]
    # The general dot-segment rule is a fallback: shown, but it adds nothing behind a specific rule.
    assert points.get("probe-hidden-path", 0) == 0


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    result = runner.invoke(rules_app, ["list", "--rules-dir", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(rules_app, ["explain", "  "])
    assert result.exit_code == 2
    assert "request line" in result.output
