"""The per-site profile: what it learns, what it flags and why, and what it refuses to learn."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from vigil.batch import LogRecord
from vigil.detect.profile import ProfileJudge, SiteProfile
from vigil.detect.profile import model as profile_model
from vigil.detect.profile.shapes import (
    _DATE,
    _DEC,
    _EMAIL,
    _INT,
    _TOKEN,
    char_classes,
    class_names,
    decode_value,
    extension_of,
    fold_segment,
    folded_extension,
    value_type,
)

START = datetime(2024, 10, 1, tzinfo=UTC)


def _ip(i: int) -> str:
    return f"81.{i // 250 % 250}.{i % 250}.{i % 7 + 1}"


def _name(c: int) -> str:
    return f"{chr(65 + c % 26)}{chr(97 + c // 3 % 26)}l"


def _learn_shop(profile: SiteProfile, clients: int = 120, rounds: int = 6) -> None:
    n = 0
    for r in range(rounds):
        for c in range(clients):
            client = profile_model.client_id(_ip(c))
            at = START + timedelta(seconds=n)
            n += 1
            item = (c * 7 + r) % 90 + 1
            profile.learn_one(
                "GET",
                "/shop/login.jsp",
                f"modo=entrar&login=user{c}&pwd=Secr3t{c}x&B1=Entrar",
                200,
                client,
                at,
            )
            profile.learn_one(
                "GET", "/shop/item.jsp", f"id={item}&cantidad={r % 5 + 1}", 200, client, at
            )
            profile.learn_one("GET", f"/shop/img/prod_{item}.gif", "", 200, client, at)
            profile.learn_one(
                "GET",
                "/shop/register.jsp",
                f"email=user{c}%40mail.es&cp={28000 + c:05d}&nombre=Mar%EDa+{_name(c)}",
                200,
                client,
                at,
            )
            profile.learn_one(
                "GET", f"/api/orders/{c:08x}-1234-4abc-8def-{c:012x}", "", 200, client, at
            )
            profile.learn_one(
                "GET", f"/blog/post-{chr(97 + c % 26)}{chr(97 + c // 26)}", "", 200, client, at
            )


@pytest.fixture(scope="module")
def judge() -> ProfileJudge:
    profile = SiteProfile("shop")
    _learn_shop(profile)
    profile.trained = True
    profile.version += 1
    return ProfileJudge(profile)


def test_path_segments_fold_ids_uuids_hashes_and_dates() -> None:
    assert fold_segment("12345") == "{n}"
    assert fold_segment("3f2a9c81-1d2e-4abc-8def-0123456789ab") == "{uuid}"
    assert fold_segment("app.3f2a9c81d2e4.js") == "app.{hex}.js"
    assert fold_segment("2024-10-01") == "{date}"
    assert fold_segment("boots-3359") == "boots-{n}"
    assert fold_segment("facade") == "facade"  # hex letters without a digit stay a word
    assert extension_of("carrito.jsp.java") == "java"
    assert extension_of("carrito.jsp~") == "jsp~"
    assert extension_of("README") == ""


def test_the_extension_of_a_folded_segment_is_its_folded_extension() -> None:
    # A dynamic directory's children are not folded, only their extension: the two must agree.
    for segment in (
        "x.3f2a9c81d2e4", "app.3f2a9c81d2e4.js", "report.2024-10-01", "a.b12c", "v.1.2",
        "deadbeef-dead-beef-dead-beefdeadbeef.deadbeef-dead-beef-dead-beefdeadbeef",
        "p.ABCDEF1234567890ABCDEF", ".hidden", "trailing.", "plain", "a.JSP", "id.12345",
    ):  # fmt: skip
        assert folded_extension(segment) == extension_of(fold_segment(segment)), segment


def test_templates_under_a_dynamic_directory_keep_the_folded_extension() -> None:
    profile = SiteProfile("shop")
    client = profile_model.client_id("198.51.100.7")
    for i in range(profile_model.FANOUT + 5):
        profile.learn_one("GET", f"/u/{chr(97 + i % 26)}{chr(97 + i // 26)}/a", "", 200, client)
    assert profile.directories["/u/"].dynamic
    assert profile.template("/u/zz/report.2024-10-01") == "/u/{*}/report.{date}"
    assert profile.template("/u/new-person-42") == "/u/{*}"
    assert profile.template("/u/new-person.v2") == "/u/{*}.v{n}"


def test_value_type_is_the_first_pattern_that_matches_the_whole_value() -> None:
    ordered = (("int", _INT), ("dec", _DEC), ("date", _DATE), ("email", _EMAIL), ("token", _TOKEN))
    for value in (
        b"42", b"-7", b"4.5", b",5", b"2024-10-01", b"1/2/2024", b"2024-10-01T10:00",
        b"a@b.es", b"a@b", b"x_y-z.1", b"x y", b"1+", b"12.", b"0" * 19, b"1.2.3",
    ):  # fmt: skip
        first = next((name for name, pattern in ordered if pattern.fullmatch(value)), "text")
        assert value_type(value) == first, value


def test_absolute_form_targets_are_their_path() -> None:
    profile = SiteProfile("shop")
    assert profile.template("http://localhost:8080/tienda1/a.jsp") == "/tienda{n}/a.jsp"
    assert profile.template("https://shop.example") == "/"


def test_value_shapes() -> None:
    assert value_type(b"42") == "int"
    assert value_type(b"4.5") == "dec"
    assert value_type(b"ana@mail.es") == "email"
    assert value_type(b"ana@@mail.es@x") == "text"
    assert value_type(b"2024-10-01") == "date"
    assert value_type(b"") == "empty"
    assert decode_value("Mar%EDa+L") == b"Mar\xeda L"
    assert class_names(char_classes(b"a'")) == ["lower-case letters", "`'`"]


def test_normal_requests_are_not_flagged(judge: ProfileJudge) -> None:
    for method, path, query in (
        ("GET", "/shop/login.jsp", "modo=entrar&login=user777&pwd=Secr3t777x&B1=Entrar"),
        ("GET", "/shop/item.jsp", "id=17&cantidad=2"),
        ("GET", "/shop/img/prod_3.gif", ""),
        ("GET", "/api/orders/00000fff-1234-4abc-8def-000000000fff", ""),
        ("GET", "/blog/post-zz", ""),  # a new slug of a directory of slugs
        ("GET", "/shop/register.jsp", "email=ana%40mail.es&cp=28123&nombre=Mar%EDa+L%F3pez"),
    ):
        verdict = judge.judge_request(method, path, query)
        assert verdict.score < 0.5, (path, query, verdict)


def test_unknown_parameter_says_which_and_where(judge: ProfileJudge) -> None:
    verdict = judge.judge_request(
        "GET", "/shop/login.jsp", "modo=entrar&login=user7&pwdA=Secr3t7x&B1=Entrar"
    )
    assert verdict.score >= 0.5
    assert "parameter `pwdA` never seen on `/shop/login.jsp` in 720 requests from 120 clients" in (
        verdict.reasons
    )


def test_values_of_the_wrong_shape_are_flagged(judge: ProfileJudge) -> None:
    wrong_int = judge.judge_request("GET", "/shop/item.jsp", "id=1+&cantidad=2")
    assert wrong_int.score >= 0.7 and "is not an integer" in wrong_int.reasons[0]
    emails = judge.judge_request(
        "GET", "/shop/register.jsp", "email=a%40b%40c%40mail.es&cp=28001&nombre=Ana"
    )
    assert emails.score >= 0.5 and any("`email`" in reason for reason in emails.reasons)
    long_cp = judge.judge_request("GET", "/shop/register.jsp", "email=a%40m.es&cp=280011&nombre=A")
    assert long_cp.score >= 0.5
    overlong = judge.judge_request("GET", "/shop/item.jsp", "id=" + "9" * 300 + "&cantidad=1")
    assert overlong.score >= 0.7
    quote = judge.judge_request("GET", "/shop/item.jsp", "id=5&cantidad=2%27")
    assert quote.score >= 0.7 and "`'`" in " ".join(quote.reasons)


def test_extensions_and_foreign_paths_are_flagged(judge: ProfileJudge) -> None:
    appended = judge.judge_request("GET", "/shop/login.jsp.java", "", status=404)
    assert appended.score >= 0.7 and ".java never served" in appended.reasons[0]
    script_in_images = judge.judge_request("GET", "/shop/img/upload.jsp", "", status=200)
    assert script_in_images.score >= 0.5
    assert any("never served in `/shop/img/`" in reason for reason in script_in_images.reasons)
    unknown = judge.judge_request("GET", "/shop/debug.jsp", "", status=200)
    assert unknown.score >= 0.5 and "answered" in " ".join(unknown.reasons)
    # A 404 for an icon the site never had is what browsers cause; it stays LOW.
    assert judge.judge_request("GET", "/favicon.ico", "", status=404).score < 0.5
    method = judge.judge_request("DELETE", "/shop/item.jsp", "id=5&cantidad=1")
    assert method.score >= 0.5 and "method DELETE never seen" in method.reasons[0]


def test_one_client_repeating_a_value_does_not_make_it_normal() -> None:
    profile = SiteProfile("shop")
    attacker = profile_model.client_id("203.0.113.66")
    for i in range(10_000):
        profile.learn_one(
            "GET", "/shop/item.jsp", "id=1%27+OR+1%3D1&cantidad=1&debugA=1", 200, attacker,
            START + timedelta(milliseconds=i),
        )  # fmt: skip
        profile.learn_one(
            "GET", "/shop/hidden.jsp", "", 200, attacker, START + timedelta(milliseconds=i)
        )
    _learn_shop(profile)
    profile.trained = True
    profile.version += 1
    judge = ProfileJudge(profile)
    poisoned = judge.judge_request("GET", "/shop/item.jsp", "id=1%27+OR+1%3D1&cantidad=1&debugA=1")
    assert poisoned.score >= 0.7
    text = " ".join(poisoned.reasons)
    assert "`debugA`" in text and "is not an integer" in text
    assert judge.judge_request("GET", "/shop/hidden.jsp", "", status=200).score >= 0.5


def test_nothing_is_judged_without_support_or_during_learning() -> None:
    profile = SiteProfile("young", learning_period=timedelta(days=1))
    _learn_shop(profile, clients=60, rounds=3)
    judge = ProfileJudge(profile)
    assert not profile.judging
    assert judge.judge_request("GET", "/shop/item.jsp", "id=abc'&x=1").score == 0.0
    # A day later the learning period is over and the same request is judged.
    profile.learn_one("GET", "/shop/item.jsp", "id=5&cantidad=1", 200, 1, START + timedelta(days=1))
    assert profile.judging
    assert judge.judge_request("GET", "/shop/item.jsp", "id=abc'&x=1").score >= 0.5
    # Two clients (of 60) are too few to make an endpoint known, however often they call it.
    for i in range(300):
        profile.learn_one("GET", "/rare.jsp", "a=1", 200, 1 + i % 2, START + timedelta(days=1))
    profile.version += 1
    rare = judge.judge_request("GET", "/rare.jsp", "a=1")
    assert rare.score >= 0.5 and "`/rare.jsp` never seen" in rare.reasons[0]


def test_profile_round_trips_through_json(judge: ProfileJudge) -> None:
    data = json.loads(json.dumps(judge.profile.to_json()))
    restored = ProfileJudge(SiteProfile.from_json(data))
    for query in ("id=1+&cantidad=2", "id=5&cantidad=2", "id=5&zz=1"):
        assert restored.judge_request("GET", "/shop/item.jsp", query) == judge.judge_request(
            "GET", "/shop/item.jsp", query
        )
    assert restored.profile.to_json() == judge.profile.to_json()


def test_decay_forgets_what_the_site_stopped_doing() -> None:
    profile = SiteProfile("shop")
    _learn_shop(profile, clients=30, rounds=1)
    assert ("GET", "/shop/item.jsp") in profile.endpoints
    profile.decay(days=60)
    assert not profile.endpoints and profile.param_count == 0


def test_memory_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profile_model, "MAX_ENDPOINTS", 50)
    profile = SiteProfile("big")
    for i in range(150):
        profile.learn_one(
            "GET", f"/section{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}/x", "", 200, i
        )
    assert len(profile.endpoints) == 50 and profile.full
    # A full profile does not call what it could not learn unknown.
    profile.trained = True
    profile.version += 1
    assert ProfileJudge(profile).judge_request("GET", "/zzz/new", "").score < 0.5


def test_a_reviewed_false_positive_is_learned_live() -> None:
    from vigil.detect.profile.stage import ProfileStage

    profile = SiteProfile("shop")
    _learn_shop(profile)
    profile.trained = True
    stage = ProfileStage([profile], learn=True)
    query = "modo=entrar&login=user7&pwd=Secr3t7x&sso=on&B1=Entrar"
    assert stage.explain("shop", "GET", "/shop/login.jsp", query, 200).score >= 0.5
    stage.teach("shop", "GET", "/shop/login.jsp", query, ["198.51.100.9"])
    assert stage.explain("shop", "GET", "/shop/login.jsp", query, 200).score < 0.5
    assert stage.dirty == {"shop"}


def _request(
    method: str, path: str, query: str, status: int | None, malformed: bool = False
) -> LogRecord:
    target = f"{path}?{query}" if query else path
    return LogRecord(
        "test", "f", 0, "203.0.113.9", None, method, target, path, query, "HTTP/1.1", status,
        100, "", "Mozilla/5.0", malformed=malformed,
    )  # fmt: skip


def test_a_batch_is_judged_as_each_request_alone(judge: ProfileJudge) -> None:
    requests = [
        ("GET", "/shop/item.jsp", "id=1+&cantidad=2", 200),
        ("GET", "/shop/item.jsp", "id=1+&cantidad=2", 302),
        ("GET", "/shop/item.jsp", "id=1+&cantidad=2", 404),
        ("GET", "/shop/item.jsp", "id=3&cantidad=2", 500),
        ("GET", "/shop/item.jsp", "id=3&cantidad=2", 503),
        ("GET", "/shop/item.jsp", "id=3&cantidad=2", None),
        ("POST", "/shop/item.jsp", "id=3&cantidad=2", 200),
        ("GET", "/shop/debug.jsp", "", 200),
        ("GET", "/shop/debug.jsp", "", 404),
        ("GET", "/api/orders/00000abc-1234-4abc-8def-000000000abc", "", 200),
    ]
    records = [_request(*r) for r in requests] * 2
    verdicts = judge.judge_batch(records)
    expected = [judge.judge_request(*r) for r in requests] * 2
    assert verdicts == expected
    # Each 5xx is named in its own verdict, whichever came first.
    assert any("answered 500" in reason for reason in verdicts[3].reasons)
    assert any("answered 503" in reason for reason in verdicts[4].reasons)


def test_a_malformed_request_shares_no_verdict_with_a_wellformed_one(judge: ProfileJudge) -> None:
    method, path, query = "GET", "/shop/item.jsp", "id=7%27&cantidad=1"
    malformed = judge.judge_batch([_request(method, path, query, 200, malformed=True)])
    wellformed = judge.judge_batch([_request(method, path, query, 200)])
    assert malformed[0].score == 0.0
    assert wellformed[0] == judge.judge_request(method, path, query, 200)
    assert wellformed[0].score >= 0.5
