"""Long windows per client and campaigns across clients (`detect/behaviour/slow.py`)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tests.detect.behaviour.support import BROWSER, GOOGLEBOT, rec, run
from vigil.batch import LogRecord
from vigil.detect.behaviour import BehaviourConfig, BehaviourEngine, BehaviourEvent
from vigil.detect.behaviour import engine as engine_module
from vigil.detect.behaviour.slow import endpoint_template

HOUR = 3600


def _botnet(
    clients: int = 65,
    *,
    path: str = "/xmlrpc.php",
    status: int = 404,
    seed: int = 3,
    prefix: str = "198.18",
) -> list[LogRecord]:
    """The shape measured on a real blog: each client 20-100 POSTs over about three days, at
    most a few per ten minutes, every one answered `status`."""
    rng = random.Random(seed)
    out: list[tuple[float, LogRecord]] = []
    for n in range(clients):
        ip = f"{prefix}.{n % 200}.{n // 200 + 1}"
        t = rng.uniform(0, 20 * HOUR)
        for _ in range(rng.randint(20, 100)):
            out.append((t, rec(ip, t, path, status, method="POST", agent=BROWSER)))
            t += rng.uniform(600, 5400)
    out.sort(key=lambda pair: pair[0])
    return [r for _, r in out]


def _by(events: list[BehaviourEvent], detector: str) -> list[BehaviourEvent]:
    return [e for e in events if e.detector == detector]


def test_endpoint_templates_fold_identifiers() -> None:
    assert endpoint_template("/Users/123/") == "/users/{n}"
    assert endpoint_template("/orders/9f86d081884c7d65/items") == "/orders/{id}/items"
    assert endpoint_template("/a/3f2504e0-4f89-11d3-9a0c-0305e82c3301") == "/a/{id}"
    assert endpoint_template("/xmlrpc.php") == "/xmlrpc.php"
    assert endpoint_template("/blog/deadline") == "/blog/deadline"


def test_a_slow_distributed_botnet_becomes_one_campaign_with_every_member() -> None:
    records = _botnet()
    events = run(BehaviourEngine(), records, batch=512)
    campaign = _by(events, "campaign")
    members = {e.client_ip for e in campaign}
    assert members == {r.client_ip for r in records}
    assert {e.evidence["campaign"] for e in campaign} == {"POST /xmlrpc.php 404"}
    assert all(e.score >= 0.7 for e in campaign)
    # Never more than a few per client per ten minutes: the short windows see nothing.
    assert not {e.detector for e in events} & {"bruteforce", "scan", "flood"}
    last = campaign[-1].evidence
    assert last["members"] == 65
    assert last["most_per_client_per_10_min"] <= 2
    assert last["explanation"].startswith("campaign: 65 clients, ")
    assert "POST /xmlrpc.php → 404 over" in last["explanation"]
    member = last["member"]
    assert member["client"] == campaign[-1].client_ip
    assert member["hits"] >= 3


def test_campaign_opens_at_the_floor_and_adds_members_as_they_appear() -> None:
    config = BehaviourConfig.model_validate({"slow": {"min_clients": 5}})
    engine = BehaviourEngine(config)
    # Five clients, three focused failures each, one after another.
    first = [
        rec(f"198.18.{n}.7", n * 60 + k * 900, "/api/v2/token", 401, method="POST")
        for k in range(3)
        for n in range(1, 6)
    ]
    first.sort(key=lambda r: r.observed_at or 0)
    opened = _by(run(engine, first), "campaign")
    assert sorted(e.client_ip for e in opened) == [f"198.18.{n}.7" for n in range(1, 6)]
    assert opened[0].evidence["campaign"] == "POST /api/v2/token 401"
    late = [
        rec("198.18.9.7", 4000 + k * 700, "/api/v2/token", 401, method="POST") for k in range(3)
    ]
    joined = _by(run(engine, late), "campaign")
    assert [e.client_ip for e in joined] == ["198.18.9.7"]
    assert joined[0].evidence["members"] == 6
    assert joined[0].record_index == 2


def test_members_of_a_campaign_found_later_are_named_in_the_event() -> None:
    config = BehaviourConfig.model_validate({"slow": {"min_clients": 3}})
    records = [
        rec(f"198.18.{n}.5", k * 1000 + n, "/login.cgi", 404, method="POST")
        for k in range(3)
        for n in range(1, 4)
    ]
    records.sort(key=lambda r: r.observed_at or 0)
    events = _by(run(BehaviourEngine(config), records, batch=1), "campaign")
    # All three are announced at the record that completed the campaign, the last one.
    assert {e.client_ip for e in events} == {"198.18.1.5", "198.18.2.5", "198.18.3.5"}
    assert {e.event_key for e in events} == {records[-1].event_key}


def test_one_slow_scanner_over_days_is_seen_by_its_long_window() -> None:
    records = [rec("203.0.113.40", i * 1800, f"/old/page-{i}.php", 404) for i in range(60)]
    events = run(BehaviourEngine(), records)
    assert [e.detector for e in events] == ["slow-scan"]
    evidence = events[0].evidence
    assert evidence["not_found"] == 40
    assert evidence["distinct_failing_paths"] >= 25
    assert evidence["window"] == "long"


def test_a_slow_prober_of_sensitive_files_is_seen() -> None:
    probes = ["/.env", "/.git/config", "/wp-config.php.bak", "/backup.zip", "/phpinfo.php"]
    records = [rec("203.0.113.41", i * 3 * HOUR, p, 404) for i, p in enumerate(probes)]
    events = run(BehaviourEngine(), records)
    assert [e.detector for e in events] == ["slow-scan"]
    assert events[0].evidence["distinct_probes"] == 5


def test_long_windows_forget_what_is_older_than_the_horizon() -> None:
    # Twenty failures, but never more than twelve within three days.
    records = [
        rec("203.0.113.42", i * 2 * HOUR + (i // 12) * 5 * 86400, "/login", 401, method="POST")
        for i in range(20)
    ]
    assert run(BehaviourEngine(), records) == []


def test_many_users_logging_in_successfully_stay_quiet() -> None:
    rng = random.Random(5)
    records: list[tuple[float, LogRecord]] = []
    for n in range(400):
        ip = f"192.0.2.{n % 250}" if n < 250 else f"198.51.100.{n - 250}"
        t = rng.uniform(0, 3 * 86400)
        for _ in range(rng.randint(1, 4)):
            records.append((t, rec(ip, t, "/login", 200)))
            records.append((t + 1, rec(ip, t + 1, "/static/app.css", 200)))
            if rng.random() < 0.2:
                # A mistyped password first (the form comes back with 200).
                records.append((t + 9, rec(ip, t + 9, "/login", 200, method="POST")))
            records.append((t + 20, rec(ip, t + 20, "/login", 302, method="POST")))
            t += rng.uniform(HOUR, 20 * HOUR)
    records.sort(key=lambda pair: pair[0])
    assert run(BehaviourEngine(), [r for _, r in records]) == []


def test_a_launch_crowd_refreshing_a_missing_page_stays_quiet() -> None:
    # Hundreds of browsers reload a page that is not live yet: each load brings its assets.
    rng = random.Random(6)
    records: list[tuple[float, LogRecord]] = []
    for n in range(300):
        ip = f"198.51.100.{n % 250}" if n < 250 else f"192.0.2.{n - 250}"
        t = rng.uniform(0, 1800)
        for _ in range(rng.randint(2, 6)):
            records.append((t, rec(ip, t, "/launch", 404)))
            records.append((t + 0.5, rec(ip, t + 0.5, "/static/site.css", 200)))
            records.append((t + 0.7, rec(ip, t + 0.7, "/favicon.ico", 200)))
            t += rng.uniform(20, 120)
    records.sort(key=lambda pair: pair[0])
    assert run(BehaviourEngine(), [r for _, r in records]) == []


def test_a_named_crawler_fleet_is_left_to_the_short_windows() -> None:
    records = []
    for k in range(40):
        for n in range(20):
            records.append(
                rec(f"66.249.66.{n}", k * 1200 + n, f"/gone/{k}-{n}", 404, agent=GOOGLEBOT)
            )
    assert run(BehaviourEngine(), records) == []


def _steady_then_surge(surge: int) -> list[LogRecord]:
    """Four new clients a day fail the same way for six days; then `surge` more at once."""
    records = []
    for day in range(6):
        for n in range(4):
            for k in range(3):
                second = day * 86400 + 3600 + n * 60 + k * 700
                records.append(rec(f"198.18.{day}.{n}", second, "/rpc", 403, method="POST"))
    for n in range(surge):
        for k in range(3):
            second = 6 * 86400 + 3600 + n * 30 + k * 700
            records.append(rec(f"198.19.{n}.9", second, "/rpc", 403, method="POST"))
    records.sort(key=lambda r: r.observed_at or 0)
    return records


def test_a_target_that_always_has_members_needs_a_rise_above_its_baseline() -> None:
    slow = {"min_clients": 10, "baseline_min_days": 2, "baseline_factor": 3.0}
    learned = BehaviourConfig.model_validate({"slow": slow})
    assert _by(run(BehaviourEngine(learned), _steady_then_surge(0)), "campaign") == []
    # Without a baseline the same steady trickle would pass the floor of ten members.
    floor_only = BehaviourConfig.model_validate({"slow": {**slow, "baseline_min_days": 99}})
    assert _by(run(BehaviourEngine(floor_only), _steady_then_surge(0)), "campaign")
    # A rise far above the usual dozen is a campaign.
    events = _by(run(BehaviourEngine(learned), _steady_then_surge(60)), "campaign")
    assert events
    assert events[0].evidence["baseline_members"] > 5
    assert events[0].evidence["threshold_members"] > 10


def test_tables_are_capped() -> None:
    config = BehaviourConfig.model_validate(
        {"slow": {"max_clients": 50, "max_targets": 20, "max_clients_per_target": 10}}
    )
    engine = BehaviourEngine(config)
    records = [rec(f"10.0.{n // 250}.{n % 250}", n, f"/x/{n % 40}/a", 404) for n in range(2000)]
    run(engine, records)
    watch = engine._sites["default"].slow
    assert len(watch.clients) <= 50
    assert len(watch.targets) <= 20
    assert all(len(t.clients) <= 10 for t in watch.targets.values())


def test_long_windows_survive_a_restart_exactly() -> None:
    records = _botnet(30, seed=9)
    whole = run(BehaviourEngine(), records, batch=256)
    half = len(records) // 2
    before = BehaviourEngine()
    events = run(before, records[:half], batch=256)
    after = BehaviourEngine()
    after.restore(before.snapshot())
    events += run(after, records[half:], batch=256)
    assert [(e.detector, e.client_ip, e.event_key) for e in events] == [
        (e.detector, e.client_ip, e.event_key) for e in whole
    ]


def test_compiled_and_python_loops_agree_on_long_windows() -> None:
    records = _botnet(25, seed=11) + [
        rec("203.0.113.40", i * 1800, f"/old/page-{i}.php", 404) for i in range(60)
    ]
    records.sort(key=lambda r: r.observed_at or 0)
    compiled = BehaviourEngine()
    reference = BehaviourEngine()
    reference._update = engine_module._update_python
    got = run(compiled, records, batch=97)
    want = run(reference, records, batch=97)
    assert got == want
    assert Counter(e.detector for e in got)["campaign"] >= 25
    assert compiled.snapshot() == reference.snapshot()


def test_a_version_2_snapshot_restores_with_empty_long_windows() -> None:
    import zlib

    import orjson

    from vigil.detect.behaviour import snapshot as codec

    engine = BehaviourEngine()
    run(engine, [rec("203.0.113.9", 0, "/x", 404)])
    body = orjson.loads(zlib.decompress(engine.snapshot()[len(codec.MAGIC) :]))
    body["version"] = 2
    del body["long_buckets"]
    for site in body["sites"].values():
        del site["slow"]
    old = codec.MAGIC + zlib.compress(orjson.dumps(body))
    restored = BehaviourEngine()
    assert restored.restore(old) == 1
    assert restored.stats()["long_window_clients"] == 0


def test_long_windows_count_from_zero_before_1970_too() -> None:
    from datetime import UTC, datetime

    early = datetime(1969, 12, 31, 23, 30, tzinfo=UTC)
    records = [
        rec("203.0.113.43", i * 120, "/login", 401, method="POST", at=early) for i in range(25)
    ]
    events = run(BehaviourEngine(), records)
    slow = [e for e in events if e.detector == "slow-bruteforce"]
    assert slow
    assert slow[0].evidence["login_failures"] == 20


def test_clients_of_one_network_failing_alike_make_no_campaign() -> None:
    """Twenty addresses of one /24 (an office's proxy pool, one provider's fleet) repeating the
    same failing request are not a campaign; the same from twenty networks is, and says how
    spread its members are."""
    rng = random.Random(5)
    agents = [f"Mozilla/5.0 agent-{n % 4}" for n in range(20)]

    def fleet(address: str) -> list[LogRecord]:
        out = []
        for n in range(20):
            ip = address.format(n=n)
            start = rng.uniform(0, 3 * HOUR)
            out += [
                rec(ip, start + k * 900, "/xmlrpc.php", 404, method="POST", agent=agents[n])
                for k in range(4)
            ]
        out.sort(key=lambda r: r.observed_at or 0)
        return out

    assert _by(run(BehaviourEngine(), fleet("203.0.113.{n}")), "campaign") == []
    spread = _by(run(BehaviourEngine(), fleet("198.18.{n}.4")), "campaign")
    assert {e.client_ip for e in spread} == {f"198.18.{n}.4" for n in range(20)}
    last = spread[-1].evidence
    assert 15 <= last["member_networks"] <= 25
    assert 3 <= last["member_user_agents"] <= 5
    assert "networks with about" in last["explanation"]


def test_an_older_snapshot_and_a_retired_setting_are_still_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Older snapshots kept every counter in the hourly ring, campaign entries the start of
    their ten minutes and a bitmap of distinct paths, and `member_min_family_paths` tuned a
    target family that is gone: all are read and dropped."""
    import zlib

    import orjson

    from vigil.detect.behaviour import snapshot as codec

    with caplog.at_level("WARNING"):
        config = BehaviourConfig.model_validate({"slow": {"member_min_family_paths": 4}})
    assert "member_min_family_paths" in caplog.text
    records = _botnet(20, seed=4)
    half = len(records) // 2
    before = BehaviourEngine(config)
    run(before, records[:half], batch=256)
    body = orjson.loads(zlib.decompress(before.snapshot()[len(codec.MAGIC) :]))
    hours = config.slow.hours
    for site in body["sites"].values():
        for client in site["slow"]["clients"]:
            # Every field in the hourly ring too: failing requests fourth of eight, the rest
            # (here made up) dropped on reading.
            data = client[3]
            counters = [[7, 7, 7, 7, n, 7, 7, 7] for n in data[hours : 2 * hours]]
            client[3] = [*data[:hours], *(x for c in counters for x in c), *data[2 * hours :]]
        for target in site["slow"]["targets"]:
            del target[11]  # no agents bitmap yet
            for ip, entry in target[2].items():
                start = entry[3] - entry[3] % 600  # of the ten minutes of the last hit
                target[2][ip] = [*entry[:4], start, *entry[4:6], 12345, *entry[6:]]
    old = codec.MAGIC + zlib.compress(orjson.dumps(body))
    after = BehaviourEngine(config)
    after.restore(old)
    fresh = BehaviourEngine(config)
    fresh.restore(before.snapshot())
    rest = records[half:]
    assert [(e.detector, e.client_ip) for e in run(after, rest, batch=256)] == [
        (e.detector, e.client_ip) for e in run(fresh, rest, batch=256)
    ]
    ip = records[0].client_ip
    assert list(after._sites["default"].slow.clients[ip].data) == list(
        fresh._sites["default"].slow.clients[ip].data
    )
