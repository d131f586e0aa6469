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
    SLOW_BACKGROUND,
    SLOW_NEAR_MISSES,
    SLOW_SCENARIOS,
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
    lines = combined_lines([*SCENARIOS, *NEAR_MISSES, BACKGROUND], T0, seed)
    events = run(BehaviourEngine(), to_records(line.request for line in lines), batch=1024)
    assert all(lines[e.record_index].label == e.detector for e in events)
    caught = {lines[e.record_index].label for e in events}
    assert caught == {d for name in SCENARIOS for d in REGISTRY[name].expects}


@pytest.mark.parametrize("name", SLOW_SCENARIOS)
def test_low_and_slow_scenario_gets_its_clients_blocked(name: str) -> None:
    lines = combined_lines([name, SLOW_BACKGROUND], T0, 11)
    attackers = {line.request.client_ip for line in lines if line.label != BENIGN}
    events = run(BehaviourEngine(), to_records(line.request for line in lines), batch=2048)
    # Every event names an attacking client; a HIGH event is what the policy blocks.
    assert {e.client_ip for e in events} <= attackers
    blocked = {e.client_ip for e in events if e.score >= 0.7}
    assert len(blocked) >= 0.95 * len(attackers)
    assert set(REGISTRY[name].expects) <= detectors(events)
    # At most one request a minute per client: too slow for the short brute-force, scan and
    # flood windows (three probes may still fall within ten minutes by chance).
    assert not detectors(events) & {"bruteforce", "scan", "flood"}


@pytest.mark.parametrize("name", [*SLOW_NEAR_MISSES, SLOW_BACKGROUND])
def test_low_and_slow_near_miss_raises_nothing(name: str) -> None:
    names = [name] if name == SLOW_BACKGROUND else [name, SLOW_BACKGROUND]
    lines = combined_lines(names, T0, 11)
    assert run(BehaviourEngine(), to_records(line.request for line in lines), batch=2048) == []


def test_slow_scenarios_are_slow() -> None:
    for name in SLOW_SCENARIOS:
        last: dict[str, float] = {}
        for request in scenario_requests(name, T0, seed=3):
            at = request.at.timestamp()
            assert at - last.get(request.client_ip, -60.0) >= 60.0, name
            last[request.client_ip] = at


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
