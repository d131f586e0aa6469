"""Bounded memory, restart through snapshots, and the features handed to the models."""

from __future__ import annotations

import math

import pytest

from tests.detect.behaviour.support import rec, run
from vigil.batch import LogRecord
from vigil.detect.behaviour import FEATURE_NAMES, BehaviourConfig, BehaviourEngine
from vigil.detect.behaviour.config import WindowConfig
from vigil.errors import InputError

ATTACKER = "203.0.113.5"


def test_a_million_distinct_clients_stay_under_the_cap() -> None:
    cap = 10_000
    engine = BehaviourEngine(max_clients=cap)
    batch = [rec("0.0.0.0", n / 10_000, "/") for n in range(20_000)]
    for round_ in range(50):
        batch = [
            record._replace(client_ip=f"10.{round_}.{n >> 8}.{n & 255}")
            for n, record in enumerate(batch)
        ]
        engine.process_batch(batch)
        assert engine.tracked_clients() <= cap
    stats = engine.stats()
    assert stats["tracked_clients"] == cap
    assert stats["evicted"] + stats["expired"] == 1_000_000 - cap


def test_idle_clients_expire_by_event_time() -> None:
    engine = BehaviourEngine()
    engine.process_batch([rec(f"192.0.2.{n}", 0) for n in range(1, 101)])
    assert engine.tracked_clients() == 100
    engine.process_batch([rec(ATTACKER, 700)])
    assert engine.tracked_clients() == 1
    assert engine.stats()["expired"] == 100


def test_the_least_recently_seen_client_is_evicted_first() -> None:
    engine = BehaviourEngine(max_clients=2)
    engine.process_batch([rec("192.0.2.1", 0), rec("192.0.2.2", 1), rec("192.0.2.1", 2)])
    engine.process_batch([rec("192.0.2.3", 3)])
    assert engine.client_features("192.0.2.1")["long_requests"] == 2
    assert engine.client_features("192.0.2.2")["long_requests"] == 0
    assert engine.stats()["evicted"] == 1


def _failed_logins(first: int, count: int) -> list[LogRecord]:
    return [
        rec(ATTACKER, (first + i) * 3, "/wp-login.php", 200, method="POST") for i in range(count)
    ]


def test_brute_force_split_across_a_restart_is_still_caught() -> None:
    before = BehaviourEngine()
    assert run(before, _failed_logins(0, 6)) == []
    saved = before.snapshot()

    after = BehaviourEngine()
    assert after.restore(saved) == 1
    events = run(after, _failed_logins(6, 6))
    assert [(e.detector, e.record_index) for e in events] == [("bruteforce", 3)]
    assert events[0].evidence["login_failures"] == 10

    # Without the snapshot the second half alone stays under the threshold.
    assert run(BehaviourEngine(), _failed_logins(6, 6)) == []


def test_snapshot_lagging_by_part_of_a_window_loses_at_most_that_part() -> None:
    engine = BehaviourEngine()
    run(engine, [rec(ATTACKER, i, f"/a-{i}", 404) for i in range(12)])
    saved = engine.snapshot()
    # These eight were processed but the process died before the next snapshot.
    run(engine, [rec(ATTACKER, 12 + i, f"/b-{i}", 404) for i in range(8)])

    restarted = BehaviourEngine()
    restarted.restore(saved)
    resumed = [rec(ATTACKER, 20 + i, f"/c-{i}", 404) for i in range(40)]
    events = run(restarted, resumed)
    assert [e.detector for e in events] == ["scan"]
    # Needs 30 distinct paths: 12 remembered, so it fires at the 18th-19th resumed request
    # (hash collisions in the bitmap may cost one), well within one window of the restart.
    assert events[0].record_index <= 19


def test_an_episode_that_fired_before_a_restart_does_not_fire_again_after_it() -> None:
    engine = BehaviourEngine()
    assert len(run(engine, _failed_logins(0, 12))) == 1
    restarted = BehaviourEngine()
    restarted.restore(engine.snapshot())
    assert run(restarted, _failed_logins(12, 10)) == []


def test_snapshot_round_trip_keeps_features_baselines_and_counters() -> None:
    engine = BehaviourEngine()
    records = [
        rec(f"192.0.2.{n}", s + n / 100, f"/p/{s % 7}", 404 if s % 11 == 0 else 200)
        for s in range(0, 300, 2)
        for n in range(1, 60)
    ]
    records += [rec("198.18.0.1", 301, "/login", 200, method="POST")]
    run(engine, records)
    copy = BehaviourEngine()
    copy.restore(engine.snapshot())
    assert copy.stats() == {**engine.stats(), "records": 0, "events": 0}
    assert copy.features_for(records[-60:]) == engine.features_for(records[-60:])


def test_restore_rejects_foreign_or_incompatible_bytes() -> None:
    engine = BehaviourEngine()
    with pytest.raises(InputError, match="not a behaviour snapshot"):
        engine.restore(b"hello")
    with pytest.raises(InputError, match="corrupt"):
        engine.restore(engine.snapshot()[:-5])
    other = BehaviourEngine(BehaviourConfig(windows=WindowConfig(long_seconds=300)))
    with pytest.raises(InputError, match="window lengths"):
        other.restore(engine.snapshot())


def test_features_describe_the_clients_windows() -> None:
    engine = BehaviourEngine()
    records = [rec(ATTACKER, i * 2, f"/x-{i % 5}", 404 if i % 2 else 200) for i in range(20)]
    records += [rec("192.0.2.7", 0, "/", method="POST")]
    run(engine, records)
    rows = engine.features_for([records[0], records[-1], rec("192.0.2.99", 40)])
    assert all(list(row) == list(FEATURE_NAMES) for row in rows)
    attacker, other, unknown = rows
    assert attacker["long_requests"] == 20
    assert attacker["long_not_found_ratio"] == 0.5
    assert 4.5 <= attacker["long_distinct_paths"] <= 5.5
    assert attacker["long_interarrival_mean"] == 2.0
    assert attacker["long_interarrival_cv"] == 0.0
    assert other["long_post_ratio"] == 1.0
    assert all(v == 0.0 for v in unknown.values())
    array, names = engine.features_array(records)
    assert array.shape == (len(records), len(FEATURE_NAMES))
    assert names == FEATURE_NAMES
    assert all(math.isfinite(v) for v in array.ravel())


def test_features_age_out_with_event_time() -> None:
    engine = BehaviourEngine()
    run(engine, [rec(ATTACKER, i, "/") for i in range(10)])
    run(engine, [rec("192.0.2.1", 500)])
    assert engine.client_features(ATTACKER)["short_requests"] == 0
    assert engine.client_features(ATTACKER)["long_requests"] == 10
