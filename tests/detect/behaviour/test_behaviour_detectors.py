"""Each behaviour detector: sequences that must fire, and near-misses that must not."""

from __future__ import annotations

import json

from tests.detect.behaviour.support import BROWSER, GOOGLEBOT, detectors, rec, run
from vigil.batch import LogRecord
from vigil.detect.behaviour import BehaviourConfig, BehaviourEngine
from vigil.detect.behaviour.config import ExclusionConfig, FloodConfig

ATTACKER = "203.0.113.5"


# -- scan -----------------------------------------------------------------------------------


def test_scan_fires_on_many_distinct_missing_paths() -> None:
    records = [rec(ATTACKER, i, f"/guess-{i}", 404, agent="gobuster/3.6") for i in range(40)]
    events = run(BehaviourEngine(), records)
    assert [e.detector for e in events] == ["scan"]
    event = events[0]
    assert event.category == "behaviour:scan"
    assert event.client_ip == ATTACKER
    assert event.severity in ("MEDIUM", "HIGH")
    assert event.evidence["not_found"] >= 20
    assert event.evidence["distinct_paths"] >= 30
    assert event.evidence["samples"][-1]["status"] == 404
    # The triggering record is the one that crossed the thresholds, and its key is stored.
    assert records[event.record_index].client_ip == ATTACKER
    assert event.event_key == records[event.record_index].event_key
    json.dumps(event.to_dict())


def test_scan_ignores_the_same_missing_file_requested_again_and_again() -> None:
    records = [rec(ATTACKER, i, "/favicon.ico", 404) for i in range(60)]
    assert run(BehaviourEngine(), records) == []


def test_scan_ignores_a_crawler_with_some_dead_links() -> None:
    records = [
        rec("66.249.66.1", i, f"/page-{i}", 404 if i % 10 == 0 else 200, agent=GOOGLEBOT)
        for i in range(400)
    ]
    assert run(BehaviourEngine(), records) == []


def test_good_bot_user_agent_raises_scan_thresholds_but_does_not_grant_immunity() -> None:
    # 40 distinct misses would flag anyone else; a crawler UA needs five times more.
    few = [rec(ATTACKER, i, f"/guess-{i}", 404, agent=GOOGLEBOT) for i in range(40)]
    assert run(BehaviourEngine(), few) == []
    many = [rec(ATTACKER, i, f"/guess-{i}", 404, agent=GOOGLEBOT) for i in range(200)]
    assert detectors(run(BehaviourEngine(), many)) == {"scan"}


def test_health_paths_never_count_towards_scan_or_flood() -> None:
    records = [rec("192.0.2.50", i / 10, "/health", 404, agent="monitor") for i in range(3000)]
    engine = BehaviourEngine()
    assert run(engine, records) == []
    assert engine.client_features("192.0.2.50")["long_requests"] == 0


# -- probe-burst ------------------------------------------------------------------------------


def test_probe_burst_fires_on_three_distinct_sensitive_paths() -> None:
    probes = ["/.env", "/.git/config", "/backup.sql"]
    records = [rec(ATTACKER, i, p, 404, agent="python-requests/2.31") for i, p in enumerate(probes)]
    events = run(BehaviourEngine(), records)
    assert [e.detector for e in events] == ["probe-burst"]
    assert events[0].record_index == 2
    assert events[0].evidence["distinct_sensitive_paths"] == 3
    assert events[0].severity == "MEDIUM"


def test_probe_burst_is_high_when_a_sensitive_file_was_served() -> None:
    probes = [("/.env", 200), ("/.git/HEAD", 404), ("/phpmyadmin/", 404)]
    records = [rec(ATTACKER, i, p, s) for i, (p, s) in enumerate(probes)]
    events = run(BehaviourEngine(), records)
    assert events[0].severity == "HIGH"
    assert events[0].evidence["sensitive_served_2xx"] == 1


def test_probe_burst_ignores_one_probe_repeated_and_ordinary_admin_pages() -> None:
    records = [rec(ATTACKER, i, "/.env", 404) for i in range(10)]
    records += [rec("192.0.2.9", i, f"/admin/orders/{i}", 200) for i in range(30)]
    assert run(BehaviourEngine(), records) == []


# -- bruteforce -------------------------------------------------------------------------------


def _wp_posts(ip: str, count: int, status: int = 200, step: float = 2.0) -> list[LogRecord]:
    return [rec(ip, i * step, "/wp-login.php", status, method="POST") for i in range(count)]


def test_bruteforce_fires_on_ten_failed_wordpress_logins() -> None:
    events = run(BehaviourEngine(), _wp_posts(ATTACKER, 10))
    assert [e.detector for e in events] == ["bruteforce"]
    assert events[0].record_index == 9
    assert events[0].evidence["endpoint"] == "/wp-login.php"
    assert events[0].evidence["login_failures"] == 10
    assert events[0].severity == "HIGH"


def test_bruteforce_needs_the_threshold() -> None:
    assert run(BehaviourEngine(), _wp_posts(ATTACKER, 9)) == []


def test_bruteforce_ignores_successful_logins_and_page_views() -> None:
    records = _wp_posts(ATTACKER, 20, status=302)
    records += [rec(ATTACKER, 100 + i, "/wp-login.php", 200) for i in range(20)]  # GET
    assert run(BehaviourEngine(), records) == []


def test_bruteforce_ignores_a_nat_whose_failures_are_mixed_with_successes() -> None:
    nat = "192.0.2.10"
    records = []
    for i in range(24):
        # Alternate typos (form shown again, 200) and successful logins (302).
        records.append(rec(nat, i * 20, "/login", 200 if i % 2 else 302, method="POST"))
    assert run(BehaviourEngine(), records) == []


def test_failures_spread_wider_than_the_window_are_left_to_the_long_windows() -> None:
    # One failure every two minutes: never ten inside a ten-minute window, so the short
    # brute-force detector stays quiet; the long window sees the twentieth failure.
    events = run(BehaviourEngine(), _wp_posts(ATTACKER, 30, step=120))
    assert [e.detector for e in events] == ["slow-bruteforce"]
    assert events[0].evidence["login_failures"] == 20


def test_bruteforce_counts_each_endpoint_separately() -> None:
    records = [rec(ATTACKER, i, "/login", 401, method="POST") for i in range(6)]
    records += [rec(ATTACKER, 10 + i, "/api/login", 401, method="POST") for i in range(6)]
    assert run(BehaviourEngine(), records) == []


def test_bruteforce_on_xmlrpc_and_api_endpoints() -> None:
    xmlrpc = [rec(ATTACKER, i, "/xmlrpc.php", 200, method="POST") for i in range(10)]
    api = [rec("203.0.113.6", i, "/api/auth", 401, method="POST") for i in range(10)]
    events = run(BehaviourEngine(), xmlrpc + api)
    assert sorted((e.detector, e.client_ip) for e in events) == [
        ("bruteforce", ATTACKER),
        ("bruteforce", "203.0.113.6"),
    ]


# -- credential stuffing ----------------------------------------------------------------------


def _stuffing(clients: int, attempts: int = 1, status: int = 200) -> list[LogRecord]:
    records = []
    for n in range(clients):
        for k in range(attempts):
            records.append(rec(f"198.18.0.{n + 1}", n * 5 + k, "/login", status, method="POST"))
    return records


def test_credential_stuffing_fires_once_for_many_clients_with_few_attempts_each() -> None:
    events = run(BehaviourEngine(), _stuffing(30))
    assert [e.detector for e in events] == ["credential-stuffing"]
    event = events[0]
    assert event.evidence["distinct_clients"] == 20
    assert event.evidence["group"] is None
    assert event.client_ip == "198.18.0.20"
    assert len(event.evidence["sample_clients"]) == 10


def test_credential_stuffing_ignores_many_users_logging_in_successfully() -> None:
    assert run(BehaviourEngine(), _stuffing(40, status=302)) == []


def test_many_attempts_per_client_are_brute_force_not_stuffing() -> None:
    events = run(BehaviourEngine(), _stuffing(25, attempts=12))
    # Each client is a brute forcer, not credential stuffing (and, all in one /24, no campaign
    # across networks either).
    assert detectors(events) == {"bruteforce"}
    spread = [
        r._replace(client_ip=f"198.18.{r.client_ip.rsplit('.', 1)[1]}.1")
        for r in _stuffing(25, attempts=12)
    ]
    # From 25 networks, together they are a campaign.
    assert detectors(run(BehaviourEngine(), spread)) == {"bruteforce", "campaign"}


def test_credential_stuffing_is_grouped_by_enrichment_or_callable() -> None:
    records = _stuffing(25)
    enrichment = {r.client_ip: {"asn": 64500} for r in records}
    events = run(BehaviourEngine(), records, enrichment=enrichment)
    assert sorted(e.evidence["group"] or "" for e in events) == ["", "asn:64500"]

    def group_of(record: LogRecord) -> str | None:
        return "AS64501" if int(record.client_ip.rsplit(".", 1)[1]) % 2 == 0 else None

    events = run(BehaviourEngine(group_of=group_of), _stuffing(60))
    assert {e.evidence["group"] for e in events} == {None, "AS64501"}


# -- flood ------------------------------------------------------------------------------------


def test_flood_fires_on_a_rate_far_above_the_floor() -> None:
    records = [rec(ATTACKER, i / 15, "/search") for i in range(900)]  # 15 req/s for 60 s
    events = run(BehaviourEngine(), records)
    assert [e.detector for e in events] == ["flood"]
    assert events[0].evidence["short_window_requests"] >= 300
    assert events[0].observed_at is not None


def test_flood_leaves_a_fast_reader_alone() -> None:
    records = [rec("192.0.2.33", i / 2, f"/p/{i % 40}") for i in range(1200)]  # 120/min
    assert run(BehaviourEngine(), records) == []


def test_flood_threshold_scales_for_api_clients_and_good_bots() -> None:
    api = [rec(ATTACKER, i / 8, "/api/items", agent="curl/8.5") for i in range(480)]  # 480/min
    bot = [rec("66.249.66.1", i / 8, f"/p/{i}", agent=GOOGLEBOT) for i in range(480)]
    assert run(BehaviourEngine(), api + bot) == []


def test_flood_threshold_follows_the_learned_baseline() -> None:
    config = BehaviourConfig(flood=FloodConfig(floor_per_minute={"browser": 60}))
    quiet = BehaviourEngine(config)
    busy = BehaviourEngine(config)
    # A busy site: 200 regular clients doing ~20 requests per minute each, for 10 minutes.
    background = [
        rec(f"192.0.2.{n}", second + n / 200, f"/p/{second % 50}")
        for second in range(0, 600, 3)
        for n in range(1, 201)
    ]
    run(busy, background)
    heavy = [rec(ATTACKER, 600 + i / 2, f"/p/{i % 50}") for i in range(240)]  # 120/min
    assert detectors(run(quiet, heavy)) == {"flood"}
    assert run(busy, heavy) == []


# -- ua-rotation ------------------------------------------------------------------------------


def _agent(n: int) -> str:
    return f"Mozilla/5.0 (Windows NT 10.0) Chrome/{100 + n}.0 Safari/537.36"


def test_ua_rotation_fires_on_a_new_user_agent_per_request() -> None:
    records = [rec(ATTACKER, i * 2, f"/products/{i}", agent=_agent(i)) for i in range(20)]
    events = run(BehaviourEngine(), records)
    assert [e.detector for e in events] == ["ua-rotation"]
    assert events[0].evidence["mode"] == "spraying"


def test_ua_rotation_fires_on_regular_cycling_through_a_few_agents() -> None:
    records = [rec(ATTACKER, i * 3, "/search", agent=_agent(i % 4)) for i in range(60)]
    events = run(BehaviourEngine(), records)
    assert [e.detector for e in events] == ["ua-rotation"]
    assert events[0].evidence["mode"] == "cycling"


def test_ua_rotation_leaves_a_nat_of_browsers_loading_pages_and_assets_alone() -> None:
    records = []
    t = 0.0
    for user in range(40):
        for page in range(3):
            t += 7 + (user * 13 + page * 5) % 23
            records.append(rec("192.0.2.10", t, f"/blog/{user}-{page}", agent=_agent(user)))
            for asset in ("/s/site.css", "/s/app.js", "/s/logo.png"):
                records.append(rec("192.0.2.10", t, asset, agent=_agent(user)))
    records.sort(key=lambda r: r.observed_at)
    assert run(BehaviourEngine(), records) == []


def test_ua_rotation_ignores_irregular_switching_between_two_agents() -> None:
    gaps = [1, 9, 2, 30, 4, 17, 1, 44, 6, 3]
    t = 0
    records = []
    for i in range(60):
        t += gaps[i % len(gaps)]
        records.append(rec("192.0.2.20", t, f"/p/{i}", agent=_agent(i % 2)))
    assert run(BehaviourEngine(), records) == []


# -- error-spike ------------------------------------------------------------------------------


def test_error_spike_fires_on_a_client_driving_5xx() -> None:
    records = [rec(f"192.0.2.{n}", i, "/", 200) for i in range(60) for n in range(1, 4)]
    records += [rec(ATTACKER, i * 2, "/api/export", 500, method="POST") for i in range(25)]
    records.sort(key=lambda r: r.observed_at)
    events = run(BehaviourEngine(), records)
    assert [(e.detector, e.client_ip) for e in events] == [("error-spike", ATTACKER)]
    assert events[0].evidence["error_ratio"] == 1.0


def test_error_spike_ignores_a_site_wide_outage() -> None:
    records = [rec(f"192.0.2.{n}", i, "/", 503) for i in range(60) for n in range(1, 6)]
    assert run(BehaviourEngine(), records) == []


# -- episodes, exclusions, odd input -----------------------------------------------------------


def test_a_detector_fires_once_per_episode_and_again_after_a_quiet_period() -> None:
    first = [rec(ATTACKER, i, f"/a-{i}", 404) for i in range(60)]
    # Quiet for longer than the cool-down (600 s), then a new scan.
    second = [rec(ATTACKER, 2000 + i, f"/b-{i}", 404) for i in range(60)]
    events = run(BehaviourEngine(), first + second)
    assert [e.detector for e in events] == ["scan", "scan"]
    assert [e.evidence["episode_firing"] for e in events] == [1, 1]


def test_an_episode_re_fires_only_when_its_counts_escalate() -> None:
    records = [rec(ATTACKER, i / 4, f"/a-{i}", 404) for i in range(200)]
    events = run(BehaviourEngine(), records)
    # First firing at 20 not-found answers, the next at 4 x 20 = 80, then at 320 (not reached).
    assert [e.evidence["episode_firing"] for e in events] == [1, 2]
    assert events[1].score > events[0].score


def test_allowlisted_clients_never_fire() -> None:
    config = BehaviourConfig(exclusions=ExclusionConfig(allow_clients=("203.0.113.0/24",)))
    records = [rec(ATTACKER, i, f"/guess-{i}", 404) for i in range(60)]
    records += [rec(ATTACKER, 100 + i, "/wp-login.php", 200, method="POST") for i in range(20)]
    engine = BehaviourEngine(config)
    assert run(engine, records) == []
    assert engine.client_features(ATTACKER)["long_requests"] == 80


def test_records_without_timestamp_or_status_are_absorbed() -> None:
    records = [rec(ATTACKER, 0, "/x", None), rec(ATTACKER, 0, "/y", 404, at=None)]
    records += [rec(ATTACKER, 1, "-", None, method="", agent="")]
    engine = BehaviourEngine()
    assert run(engine, records) == []
    assert engine.stats()["records"] == 3


def test_sites_are_tracked_separately() -> None:
    engine = BehaviourEngine()
    records = [rec(ATTACKER, i, f"/guess-{i}", 404) for i in range(15)]
    assert run(engine, records, site="shop") == []
    assert run(engine, records, site="blog") == []
    assert engine.stats()["sites"] == 2


def test_browser_agent_constant_is_a_browser() -> None:
    engine = BehaviourEngine()
    run(engine, [rec(ATTACKER, 0, "/", agent=BROWSER)])
    assert engine.client_features(ATTACKER)["client_is_browser"] == 1.0
