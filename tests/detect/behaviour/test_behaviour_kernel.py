"""The compiled behaviour loop (`_kernel.pyx`) against its Python reference (`_update_python`).

Both run over the same batches; they must emit equal events and leave byte-identical snapshots
(every counter, bitmap, baseline, campaign and episode) and equal table statistics.
"""

from __future__ import annotations

import random
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.detect.behaviour.support import BROWSER, GOOGLEBOT, T0, rec
from vigil.batch import LogRecord
from vigil.detect.behaviour import BehaviourEngine, BehaviourEvent, classify, slow, windows
from vigil.detect.behaviour import _kernel as kernel
from vigil.detect.behaviour import engine as engine_module
from vigil.detect.behaviour.classify import PathClassifier
from vigil.detect.behaviour.config import BehaviourConfig
from vigil.detect.behaviour.windows import ClientState
from vigil.simulate.scenarios import (
    BACKGROUND,
    NEAR_MISSES,
    SCENARIOS,
    combined_lines,
    to_records,
)


def _pair() -> tuple[BehaviourEngine, BehaviourEngine]:
    compiled = BehaviourEngine(max_clients=50)
    reference = BehaviourEngine(max_clients=50)
    reference._update = engine_module._update_python
    return compiled, reference


def _play(
    engine: BehaviourEngine, records: Sequence[LogRecord], batch: int
) -> list[BehaviourEvent]:
    events: list[BehaviourEvent] = []
    for start in range(0, len(records), batch):
        events.extend(engine.process_batch(records[start : start + batch]))
    return events


def _assert_same(records: Sequence[LogRecord], batch: int = 97) -> list[BehaviourEvent]:
    compiled, reference = _pair()
    got = _play(compiled, records, batch)
    want = _play(reference, records, batch)
    assert got == want
    snapshot = compiled.snapshot()
    assert snapshot == reference.snapshot()
    assert compiled.stats() == reference.stats()
    # The state also survives a restart exactly, whatever the traffic put into it.
    restored = BehaviourEngine(max_clients=50)
    restored.restore(snapshot)
    assert restored.snapshot() == snapshot
    return got


def test_the_compiled_loop_is_built_and_used() -> None:
    # CI builds the extension from the project's own build files; a missing build must fail
    # here rather than silently run the slower loop everywhere.
    assert engine_module._USE_KERNEL
    assert BehaviourEngine()._update is not engine_module._update_python
    assert type(ClientState.__mro__[1]).__name__ == "type"
    assert ClientState.__mro__[1].__module__ == "vigil.detect.behaviour._kernel"
    assert slow._count is kernel.slow_count


def test_every_scenario_gives_the_same_events_and_state() -> None:
    lines = combined_lines([*SCENARIOS, *NEAR_MISSES, BACKGROUND], T0, 4)
    events = _assert_same(to_records(line.request for line in lines))
    assert {e.detector for e in events} >= {"scan", "bruteforce", "flood", "probe-burst"}


_PATHS = (
    "/",
    "/index.html",
    "/static/app.js",
    "/.env",
    "/.git/config",
    "/wp-login.php",
    "/login",
    "/api/auth",
    "/health",
    "/backup.zip",
    "/phpmyadmin/",
    "/a/b~",
    "/x",
    "/y",
)
_AGENTS = (BROWSER, GOOGLEBOT, "curl/8.5", "-", "python-requests/2.31", "Mozilla/5.0 (X11)")
_ZONES = (UTC, UTC, UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7)))

_record = st.builds(
    lambda ip, second, path, status, method, agent, sent, zone: rec(
        f"10.0.0.{ip}",
        second,
        path,
        status,
        method=method,
        agent=agent,
        sent=sent,
        at=T0.astimezone(zone),
    ),
    ip=st.integers(0, 70),
    second=st.integers(-30, 1500),
    path=st.sampled_from(_PATHS),
    status=st.one_of(
        st.none(),
        st.sampled_from((200, 200, 301, 401, 403, 404, 404, 500, 503)),
        st.integers(0, 10**20),
    ),
    method=st.sampled_from(("GET", "GET", "POST", "HEAD", "PUT", "")),
    agent=st.sampled_from(_AGENTS),
    sent=st.one_of(st.none(), st.integers(0, 5000), st.just(10**30)),
    zone=st.sampled_from(_ZONES),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_record, min_size=1, max_size=400),
    st.integers(1, 64),
    st.integers(0, 12),
    st.booleans(),
)
def test_random_traffic_gives_the_same_events_and_state(
    records: list[LogRecord], batch: int, untimed_every: int, in_order: bool
) -> None:
    # Logs are mostly in time order, but not always; some records lack a timestamp.
    ordered = sorted(records, key=lambda r: r.observed_at or T0) if in_order else records
    if untimed_every:
        ordered = [
            r._replace(observed_at=None) if i % untimed_every == 0 else r
            for i, r in enumerate(ordered)
        ]
    _assert_same(ordered, batch)


def test_a_busy_burst_gives_the_same_events_and_state() -> None:
    records = [
        rec(f"10.1.{i % 3}.{i % 5}", i / 40, _PATHS[i % len(_PATHS)], (404, 401, 500, 200)[i % 4])
        for i in range(6000)
    ]
    events = _assert_same(records, batch=512)
    assert events


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 100), st.integers(-1, 100)), max_size=60),
    st.integers(0, 150),
    st.integers(0, 60),
)
def test_compiled_expiry_drops_and_requeues_like_the_python_one(
    clients: list[tuple[int, int]], now: int, ttl: int
) -> None:
    def table() -> OrderedDict[str, ClientState]:
        entries: OrderedDict[str, ClientState] = OrderedDict()
        for n, (queued, seen) in enumerate(sorted(clients)):
            state = ClientState(queued, 60, 10, False)
            state.last_seen = max(seen, queued) if seen >= 0 else -1
            entries[f"c{n}"] = state
        return entries

    compiled, reference = table(), table()
    assert kernel.expire(compiled, now, ttl) == windows._expire_python(reference, now, ttl)
    assert [(ip, s.queued, s.last_seen) for ip, s in compiled.items()] == [
        (ip, s.queued, s.last_seen) for ip, s in reference.items()
    ]


def _long_window_traffic() -> list[LogRecord]:
    """A slow scanner, a slow password guesser and a botnet spread over days, amid browsing."""
    rng = random.Random(5)
    records = [rec("203.0.113.40", i * 1800, f"/old/page-{i}.php", 404) for i in range(60)]
    records += [
        rec("203.0.113.41", i * 1700, "/wp-login.php", 200, method="POST", agent="curl/8.5")
        for i in range(40)
    ]
    for n in range(30):
        t = rng.uniform(0, 20 * 3600)
        for _ in range(rng.randint(5, 30)):
            agent = _AGENTS[n % len(_AGENTS)]
            records.append(rec(f"198.18.{n}.7", t, "/xmlrpc.php", 404, method="POST", agent=agent))
            records.append(rec(f"198.19.{n}.8", t + 5, "/.env", 403, agent=agent))
            t += rng.uniform(600, 5400)
    for i in range(3000):
        records.append(rec(f"10.2.{i % 7}.{i % 11}", i * 90, _PATHS[i % len(_PATHS)], 404))
    records.sort(key=lambda r: r.observed_at or T0)
    return records


def test_all_python_gives_the_same_long_window_events_and_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = _long_window_traffic()
    compiled = BehaviourEngine()
    got = _play(compiled, records, 97)
    # The reference: everything in Python (the loop, path packing, long-window counting).
    monkeypatch.setattr(slow, "_count", slow._count_python)
    monkeypatch.setattr(classify, "_pack_paths", None)
    monkeypatch.setattr(engine_module, "_USE_KERNEL", False)
    reference = BehaviourEngine()
    reference._update = engine_module._update_python
    want = _play(reference, records, 97)
    assert got == want
    assert compiled.snapshot() == reference.snapshot()
    assert {e.detector for e in got} >= {"slow-scan", "slow-bruteforce", "campaign"}


_RING = slow.SlowWatch(BehaviourConfig().slow)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 5),
    st.lists(
        st.tuples(
            st.integers(-3 * 86_400, 20 * 86_400),
            st.integers(0, 63),
            st.integers(0, 31),
        ),
        min_size=1,
        max_size=40,
    ),
)
def test_compiled_long_window_counting_matches_the_python_one(
    hours: int, days: int, hits: list[tuple[int, int, int]]
) -> None:
    size = 2 * hours + days * (1 + slow.FIELDS)
    empty = [0] * size
    for slot in range(hours):
        empty[slot] = slow._NO_PERIOD
    for slot in range(days):
        empty[2 * hours + slot] = slow._NO_PERIOD
    compiled, reference = array("q", empty), array("q", empty)
    for t, bit, flags in sorted(hits):
        got = kernel.slow_count(compiled, hours, days, t, 1 << bit, flags)
        want = slow._count_python(reference, hours, days, t, 1 << bit, flags)
        assert got == want
        assert compiled == reference
    # A client of another layout is refused, not read past its end.
    with pytest.raises(ValueError):
        kernel.slow_count(array("q", empty[:-1]), hours, days, 0, 1, 1)


def test_the_classifier_position_gives_the_long_windows_path_bit() -> None:
    paths = PathClassifier(BehaviourConfig())
    for path in ("/", "/x", "/.env", "/wp-login.php", "/Ärger/ü", "/a\udcff", *_PATHS):
        assert 1 << (paths.classify(path) >> 16 & 63) == slow._bit(path)


@given(st.lists(st.sampled_from(_PATHS), max_size=50), st.sets(st.sampled_from(_PATHS)))
def test_compiled_batch_paths_match_the_python_ones(paths: list[str], cached: set[str]) -> None:
    records = [rec("10.0.0.1", i, path) for i, path in enumerate(paths)]
    cache = {path: n for n, path in enumerate(sorted(cached))}
    new, infos = kernel.batch_paths(records, cache)
    assert new == [path for path in dict.fromkeys(r.path for r in records) if path not in cache]
    assert infos == [cache.get(r.path) for r in records]


_PATH_TEXT = st.one_of(
    st.sampled_from(
        (*_PATHS, "/HEALTH/", "/Login//", "/wp-login.php/", "/App.JS", "//", "/", "", "/x/\udcff")
    ),
    st.text(alphabet="/aAé.-_jsJSloginhealth\udcff", max_size=12),
)


@given(st.lists(_PATH_TEXT, max_size=30, unique=True), st.data())
def test_compiled_path_packing_matches_the_python_one(
    paths: list[str], data: st.DataObject
) -> None:
    classifier = PathClassifier(BehaviourConfig())
    sensitive = [data.draw(st.booleans()) for _ in paths]
    cache: dict[str, int] = {}
    kernel.pack_paths(
        paths,
        sensitive,
        classifier._health,
        classifier._assets,
        classifier._logins,
        cache,
        zlib.crc32,
    )
    assert cache == {
        path: classifier._pack(path, flag) for path, flag in zip(paths, sensitive, strict=True)
    }
