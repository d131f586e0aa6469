"""Every scenario of vigil.simulate.scenarios through the behaviour engine: attacks are caught
by the detector they were written for, near-misses and background traffic raise nothing."""

from __future__ import annotations

import pytest

from tests.detect.behaviour.support import T0, detectors, run
from vigil.batch import LineBatch
from vigil.detect.behaviour import BehaviourEngine
from vigil.ingest.parser import build_parser
from vigil.simulate.scenarios import (
    BACKGROUND,
    BENIGN,
    NEAR_MISSES,
    REGISTRY,
    SCENARIOS,
    combined_lines,
    scenario_lines,
    scenario_requests,
    to_records,
)


@pytest.mark.parametrize("name", SCENARIOS)
def test_attack_scenario_is_caught_by_its_detector(name: str) -> None:
    requests = scenario_requests(name, T0, seed=11)
    events = run(BehaviourEngine(), to_records(requests))
    assert set(REGISTRY[name].expects) <= detectors(events)
    assert all(requests[e.record_index].label != BENIGN for e in events)


@pytest.mark.parametrize("name", [*NEAR_MISSES, BACKGROUND])
def test_near_miss_scenario_raises_nothing(name: str) -> None:
    records = to_records(scenario_requests(name, T0, seed=11))
    assert run(BehaviourEngine(), records) == []


@pytest.mark.parametrize("seed", [1, 2])
def test_all_scenarios_played_together_are_told_apart(seed: int) -> None:
    lines = combined_lines(REGISTRY, T0, seed)
    events = run(BehaviourEngine(), to_records(line.request for line in lines), batch=1024)
    assert all(lines[e.record_index].label == e.detector for e in events)
    caught = {lines[e.record_index].label for e in events}
    assert caught == {d for name in SCENARIOS for d in REGISTRY[name].expects}


def test_scenarios_are_reproducible_from_their_seed() -> None:
    first = [line.text for line in scenario_lines("corporate-nat", T0, 5)]
    again = [line.text for line in scenario_lines("corporate-nat", T0, 5)]
    other = [line.text for line in scenario_lines("corporate-nat", T0, 6)]
    assert first == again
    assert first != other


def test_scenario_lines_parse_into_the_records_tests_build_directly() -> None:
    lines = combined_lines(["scan", "credential-stuffing", "busy-user"], T0, 3)
    batch = LineBatch(
        source="scenario",
        file_id="scenario",
        lines=[line.text.encode() for line in lines],
        offsets=list(range(len(lines))),
        end_offset=len(lines),
    )
    parsed = build_parser("combined").parse_batch(batch)
    assert parsed.dead_letters == []
    direct = to_records(line.request for line in lines)
    fields = (
        "client_ip",
        "observed_at",
        "method",
        "path",
        "query",
        "status",
        "bytes_sent",
        "referer",
        "user_agent",
    )
    for got, want in zip(parsed.records, direct, strict=True):
        assert [getattr(got, f) for f in fields] == [getattr(want, f) for f in fields]


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="busy-user"):
        scenario_requests("nope", T0, 1)
