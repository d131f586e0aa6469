"""The development corpora's benign part: every class in both parts, never the same entry."""

from __future__ import annotations

from collections import Counter

import pytest

from vigil.training import wild
from vigil.training.train import default_datasets_root


@pytest.mark.parametrize("name", sorted(wild.POOLS))
def test_each_generated_class_has_many_entries_in_each_part_and_none_in_both(name: str) -> None:
    tuning = set(wild.generated(name, "tuning"))
    reporting = set(wild.generated(name, "reporting"))
    size = wild.POOLS[name][0]
    assert len(tuning) >= size // 4 and len(reporting) >= size // 4
    assert not tuning & reporting


def test_benign_requests_of_both_parts_have_the_same_classes() -> None:
    root = default_datasets_root()
    classes = {
        split: Counter(s.family for s in wild.benign_samples(root, split, 20_000))
        for split in wild.SPLITS
    }
    assert set(classes["tuning"]) == set(classes["reporting"])
    expected = {
        "search-sql-words", "search-code", "formula", "comparison", "non-latin", "email",
        "template-leftover", "crawler-mangled", "spam-path", "json-base64", "login-redirect",
        "double-encoded", "research-scanner", "tracking", "junk-path",
    }  # fmt: skip
    assert expected <= set(classes["tuning"])
    assert all(classes["tuning"][name] >= 20 for name in expected)
