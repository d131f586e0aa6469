"""The compiled Hyperscan database is kept on disk, keyed by what shapes it: a second start loads
it instead of compiling, and a changed rule set compiles anew."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.detect.rules_support import shipped_rules
from vigil.detect import matcher
from vigil.detect.normalize import VIEWS

pytestmark = pytest.mark.skipif(not matcher.HYPERSCAN_AVAILABLE, reason="needs hyperscan")


def _hits(found: matcher.Matcher) -> dict[int, list[matcher.Hit]]:
    text = "/search?q=1' union select password from users--"
    return found.scan([text], [0xFFFF], [(1 << len(VIEWS)) - 1])


def test_a_second_start_loads_the_compiled_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_CACHE_DIR", str(tmp_path))
    rules = list(shipped_rules())
    monkeypatch.setattr(matcher, "_COMPILED", {})
    first = matcher.HyperscanMatcher(rules)
    files = list((tmp_path / "hyperscan").glob("*.db"))
    assert len(files) == 1

    monkeypatch.setattr(matcher, "_COMPILED", {})
    compiled: list[int] = []
    original = matcher.HyperscanMatcher._compile_uncached

    def counting(expressions: list[bytes], owners: list[int]) -> object:
        compiled.append(len(expressions))
        return original(expressions, owners)

    monkeypatch.setattr(matcher.HyperscanMatcher, "_compile_uncached", staticmethod(counting))
    second = matcher.HyperscanMatcher(rules)
    assert compiled == []
    assert _hits(second) == _hits(first) != {}

    monkeypatch.setattr(matcher, "_COMPILED", {})
    matcher.HyperscanMatcher(rules[:-1])
    assert len(compiled) == 1
    assert len(list((tmp_path / "hyperscan").glob("*.db"))) == 2


def test_a_damaged_cache_file_is_compiled_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_CACHE_DIR", str(tmp_path))
    rules = list(shipped_rules())
    monkeypatch.setattr(matcher, "_COMPILED", {})
    good = matcher.HyperscanMatcher(rules)
    (path,) = (tmp_path / "hyperscan").glob("*.db")
    path.write_bytes(b"\ngarbage")
    monkeypatch.setattr(matcher, "_COMPILED", {})
    again = matcher.HyperscanMatcher(rules)
    assert _hits(again) == _hits(good)
