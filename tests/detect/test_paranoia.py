"""Paranoia levels: stricter rules only fire at the level that enables them."""

from __future__ import annotations

from tests.detect.rules_support import detect, engine, rule_ids
from vigil.detect.exclusions import ExclusionSet


def test_higher_levels_enable_more_rules() -> None:
    request = "GET / HTTP/1.1"
    found = {
        level: rule_ids(detect(engine(level), request, user_agent="curl/8.4.0"))
        for level in (1, 2, 3, 4)
    }
    assert "scanner-command-line-client" not in found[1] | found[2]
    assert "scanner-command-line-client" in found[3]
    assert "scanner-command-line-client" in found[4]


def test_level_two_flags_scripting_libraries() -> None:
    request = "GET /api/items HTTP/1.1"
    assert not detect(engine(1), request, user_agent="python-requests/2.31.0").matches
    assert "scanner-scripting-library" in rule_ids(
        detect(engine(2), request, user_agent="python-requests/2.31.0")
    )


def test_site_paranoia_overrides_the_engine_default() -> None:
    exclusions = ExclusionSet(site_paranoia=(("api", 2),))
    eng = engine(1, exclusions=exclusions)
    request = "GET /api/items HTTP/1.1"
    agent = "python-requests/2.31.0"
    assert "scanner-scripting-library" in rule_ids(
        detect(eng, request, user_agent=agent, site="api")
    )
    assert not detect(eng, request, user_agent=agent, site="shop").matches
    assert eng.paranoia_for("api") == 2


def test_raising_a_site_level_at_run_time_compiles_the_extra_rules() -> None:
    eng = engine(1)
    assert all(rule.paranoia == 1 for rule in eng.active_rules)
    eng.set_exclusions(ExclusionSet(site_paranoia=(("api", 3),)))
    assert max(rule.paranoia for rule in eng.active_rules) == 3
    assert "scanner-command-line-client" in rule_ids(
        detect(eng, "GET / HTTP/1.1", user_agent="curl/8.4.0", site="api")
    )
