"""False-positive controls: exclusions, allowlists, disabled rules, per-site paranoia."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.detect.rules_support import detect, engine, rule_ids
from vigil.detect.exclusions import Exclusion, ExclusionSet
from vigil.errors import ConfigError

SQLI = "GET {path}?q=1%27+union+select+password+from+users--&page=2 HTTP/1.1"


def test_excluded_rule_on_excluded_path_no_longer_fires_there_but_still_elsewhere() -> None:
    exclusions = ExclusionSet(
        exclusions=(Exclusion(rules=("sqli-union-select",), path="/search", args=("q",)),)
    )
    eng = engine(exclusions=exclusions)
    on_path = rule_ids(detect(eng, SQLI.format(path="/search/advanced")))
    elsewhere = rule_ids(detect(eng, SQLI.format(path="/products")))
    assert "sqli-union-select" not in on_path
    assert "sqli-libinjection" in on_path  # other rules still see the argument
    assert "sqli-union-select" in elsewhere


def test_exclusion_limited_to_an_argument_leaves_other_arguments_covered() -> None:
    exclusions = ExclusionSet(exclusions=(Exclusion(rules=("tag:attack-sqli",), args=("q",)),))
    eng = engine(exclusions=exclusions)
    in_q = detect(eng, "GET /x?q=1%27+union+select+1-- HTTP/1.1")
    in_id = detect(eng, "GET /x?id=1%27+union+select+1-- HTTP/1.1")
    assert not any(m.category == "sqli" for m in in_q.matches)
    assert "sqli-union-select" in rule_ids(in_id)


def test_exclusion_by_path_regex_and_site() -> None:
    exclusions = ExclusionSet(
        exclusions=(
            Exclusion(rules=("xss-script-tag",), path_regex=r"^/cms/pages/\d+$", sites=("blog",)),
        )
    )
    eng = engine(exclusions=exclusions)
    request = "GET /cms/pages/12?body=%3Cscript%3Ex()%3C/script%3E HTTP/1.1"
    assert "xss-script-tag" not in rule_ids(detect(eng, request, site="blog"))
    assert "xss-script-tag" in rule_ids(detect(eng, request, site="shop"))
    assert "xss-script-tag" in rule_ids(
        detect(eng, request.replace("/12?", "/12/edit?"), site="blog")
    )


def test_excluded_path_cannot_be_reached_by_traversal() -> None:
    exclusions = ExclusionSet(exclusions=(Exclusion(rules=("*",), path="/search"),))
    eng = engine(exclusions=exclusions)
    assert detect(eng, SQLI.format(path="/search")).severity == "LOW"
    assert detect(eng, SQLI.format(path="/search/../admin")).severity == "HIGH"


def test_allowlisted_ip_and_cidr_and_user_agent() -> None:
    exclusions = ExclusionSet(
        allow_ips=("10.0.0.0/8", "203.0.113.7"), allow_user_agents=(r"^UptimeRobot/",)
    )
    eng = engine(exclusions=exclusions)
    attack = "GET /x?f=../../../../etc/passwd HTTP/1.1"
    for ip in ("10.20.30.40", "203.0.113.7"):
        verdict = detect(eng, attack, client_ip=ip)
        assert verdict.allowlisted == "ip"
        assert verdict.score == 0.0 and not verdict.matches
    by_agent = detect(eng, attack, user_agent="UptimeRobot/2.0")
    assert by_agent.allowlisted == "user_agent"
    stranger = detect(eng, attack, client_ip="198.51.100.9")
    assert stranger.allowlisted is None and stranger.severity == "HIGH"


@pytest.mark.parametrize("selector", ["lfi-dot-dot-slash", "tag:attack-lfi", "lfi"])
def test_disabled_rule_by_id_tag_or_category(selector: str) -> None:
    eng = engine(exclusions=ExclusionSet(disabled_rules=(selector,)))
    found = rule_ids(detect(eng, "GET /x?f=../../../../tmp/x HTTP/1.1"))
    assert "lfi-dot-dot-slash" not in found


def test_new_exclusion_set_takes_effect_at_once_without_restart() -> None:
    eng = engine()
    request = "GET /.env HTTP/1.1"
    assert "probe-env-file" in rule_ids(detect(eng, request))
    eng.set_exclusions(eng.exclusions.with_disabled("probe-env-file"))
    assert "probe-env-file" not in rule_ids(detect(eng, request))
    eng.set_exclusions(eng.exclusions.with_enabled("probe-env-file"))
    assert "probe-env-file" in rule_ids(detect(eng, request))


def test_exclusions_can_be_added_and_removed_by_id() -> None:
    exclusion = Exclusion(rules=("probe-env-file",), path="/.env", id="env-ok")
    base = ExclusionSet()
    added = base.with_exclusion(exclusion)
    assert [e.id for e in added.exclusions] == ["env-ok"]
    assert added.without_exclusion("env-ok") == base
    assert base.exclusions == ()  # the original set is untouched


def test_exclusions_file_round_trip(tmp_path: Path) -> None:
    file = tmp_path / "exclusions.yaml"
    file.write_text(
        """
paranoia_level: 1
sites:
  shop: {paranoia_level: 3}
disabled_rules: [scanner-recon-tool]
allow_ips: [192.0.2.0/24]
allow_user_agents: ['^Pingdom']
exclusions:
  - id: search-sqli
    rules: [tag:attack-sqli]
    path: /search
    args: [q]
""",
        encoding="utf-8",
    )
    loaded = ExclusionSet.load(file)
    assert loaded.paranoia_for("shop", 1) == 3
    assert loaded.paranoia_for("blog", 2) == 1
    assert loaded.exclusions[0].id == "search-sqli"
    assert ExclusionSet.from_dict(loaded.to_dict()) == loaded


@pytest.mark.parametrize(
    "raw",
    [
        {"allow_ips": ["not-an-ip"]},
        {"exclusions": [{"rules": [], "path": "/x"}]},
        {"exclusions": [{"rules": ["x"], "path_regex": "("}]},
        {"sites": {"shop": {"paranoia_level": 7}}},
        {"unknown_key": 1},
    ],
)
def test_invalid_exclusions_are_rejected_with_a_config_error(raw: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ExclusionSet.from_dict(raw)
