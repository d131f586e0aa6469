"""GET /threats, GET /threats/{id}, PATCH /threats/{id}."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select

from tests.api.conftest import Api
from tests.api.factories import BASE_TIME, event_row, insert_events
from vigil.db.models import ThreatEvent
from vigil.db.session import get_db_context


async def test_lists_newest_first_with_the_event_shape(api: Api) -> None:
    ids = await insert_events([event_row(), event_row(severity="MEDIUM", score=0.55)])
    response = await api.client.get("/threats", headers=await api.key("read"))
    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["items"]] == ids[::-1]
    first = body["items"][0]
    assert first["severity"] == "MEDIUM"
    assert first["matched_rules"][0]["rule_id"] == "942100"
    assert first["observed_at"].endswith("Z") or "+00:00" in first["observed_at"]
    assert body["next_cursor"] is None


async def test_filters_narrow_the_list(api: Api) -> None:
    await insert_events(
        [
            event_row(severity="HIGH", client_ip="10.1.2.3", path="/admin/login"),
            event_row(severity="MEDIUM", score=0.6, categories=["xss"], rules=["941100"]),
            event_row(client_ip="2001:db8::7", path="/wp-login.php", site="beta"),
            event_row(reviewed=True, client_ip="192.0.2.1"),
        ]
    )
    headers = await api.key("read")

    async def ips(**params: object) -> list[str]:
        response = await api.client.get("/threats", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return sorted(item["client_ip"] for item in response.json()["items"])

    assert await ips(severity="medium") == ["203.0.113.5"]
    assert await ips(category="xss") == ["203.0.113.5"]
    assert await ips(rule_id="941100") == ["203.0.113.5"]
    assert await ips(client="10.0.0.0/8") == ["10.1.2.3"]
    assert await ips(client="10.1.2.3") == ["10.1.2.3"]
    assert await ips(client="2001:db8::/32") == ["2001:db8::7"]
    assert await ips(path="login.php") == ["2001:db8::7"]
    assert await ips(path="%") == []
    assert await ips(site="beta") == ["2001:db8::7"]
    assert await ips(reviewed="true") == ["192.0.2.1"]
    first = BASE_TIME - timedelta(days=1)
    assert len(await ips(since=first.isoformat())) == 4
    assert await ips(until=first.isoformat()) == []


async def test_get_one_and_404(api: Api) -> None:
    [event_id] = await insert_events([event_row()])
    headers = await api.key("read")
    response = await api.client.get(f"/threats/{event_id}", headers=headers)
    assert response.status_code == 200
    assert response.json()["id"] == event_id
    missing = await api.client.get(f"/threats/{event_id + 1000}", headers=headers)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no such threat event"}


async def test_review_marks_the_row_in_the_database(api: Api) -> None:
    [event_id] = await insert_events([event_row()])
    response = await api.client.patch(
        f"/threats/{event_id}",
        json={"label": "false_positive", "note": "our own scanner"},
        headers=await api.key("write"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["reviewed"] is True
    async with get_db_context() as session:
        row = (await session.scalars(select(ThreatEvent).where(ThreatEvent.id == event_id))).one()
    assert row.reviewed is True
    assert row.label == "false_positive"
    assert row.review_note == "our own scanner"
    assert row.reviewed_at is not None


async def test_review_needs_write_scope(api: Api) -> None:
    [event_id] = await insert_events([event_row()])
    response = await api.client.patch(
        f"/threats/{event_id}", json={"label": "true_positive"}, headers=await api.key("read")
    )
    assert response.status_code == 403
    assert "write" in response.json()["detail"]


async def test_validation_errors_are_422_json(api: Api) -> None:
    headers = await api.key("write")
    for params in (
        {"limit": 0},
        {"limit": 501},
        {"severity": "CRITICAL"},
        {"sort": "client_ip"},
        {"since": "yesterday"},
        {"client": "10.0.0.0/33"},
        {"reviewed": "perhaps"},
        {"cursor": "not-a-cursor"},
    ):
        response = await api.client.get("/threats", params=params, headers=headers)
        assert response.status_code == 422, (params, response.text)
        assert "detail" in response.json()
    [event_id] = await insert_events([event_row()])
    for body in ({"label": "maybe"}, {"note": "x"}, {"label": "true_positive", "extra": 1}):
        response = await api.client.patch(f"/threats/{event_id}", json=body, headers=headers)
        assert response.status_code == 422, body
    broken = await api.client.patch(
        f"/threats/{event_id}",
        content=b'{"label": "true_pos',
        headers={**headers, "content-type": "application/json"},
    )
    assert broken.status_code == 422
    assert (await api.client.get("/threats/abc", headers=headers)).status_code == 422
    assert (await api.client.get("/threats/0", headers=headers)).status_code == 422


async def test_cursor_of_another_sort_is_rejected(api: Api) -> None:
    await insert_events([event_row() for _ in range(3)])
    headers = await api.key("read")
    first = await api.client.get("/threats", params={"limit": 1}, headers=headers)
    cursor = first.json()["next_cursor"]
    response = await api.client.get(
        "/threats", params={"limit": 1, "sort": "-score", "cursor": cursor}, headers=headers
    )
    assert response.status_code == 422


async def _walk(api: Api, headers: dict[str, str], sort: str, insert_between: bool) -> list[int]:
    seen: list[int] = []
    cursor = None
    rng = random.Random(7)
    while True:
        params: dict[str, object] = {"limit": 7, "sort": sort}
        if cursor:
            params["cursor"] = cursor
        response = await api.client.get("/threats", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        seen.extend(item["id"] for item in body["items"])
        cursor = body["next_cursor"]
        if insert_between:
            # New rows arrive while the client pages: newer, older and with equal sort keys.
            await insert_events(
                [
                    event_row(observed_at=BASE_TIME + timedelta(seconds=rng.randint(-50, 500))),
                    event_row(score=round(rng.choice([0.5, 0.7, 0.9, 0.95]), 2)),
                ]
            )
        if cursor is None:
            return seen


async def test_pagination_walk_has_no_duplicates_or_gaps(api: Api) -> None:
    rng = random.Random(3)
    # Many equal sort keys, so the id tie-break is exercised.
    rows = [
        event_row(
            observed_at=BASE_TIME + timedelta(seconds=rng.randint(0, 20)),
            score=rng.choice([0.5, 0.7, 0.9]),
        )
        for _ in range(60)
    ]
    original = set(await insert_events(rows))
    headers = await api.key("read")
    for sort in ("-observed_at", "observed_at", "-score", "score"):
        seen = await _walk(api, headers, sort, insert_between=True)
        assert len(seen) == len(set(seen)), f"duplicates with sort {sort}"
        assert original <= set(seen), f"rows missing with sort {sort}"


async def test_rule_and_category_pages_follow_the_order_with_other_filters(api: Api) -> None:
    """A rule or category filter pages in (time, id) order, narrowed by the events' own
    filters, with no row twice or missing (PostgreSQL walks `event_rules` first); so does a
    site with a severity."""
    rng = random.Random(5)
    rows = [
        event_row(
            observed_at=BASE_TIME + timedelta(seconds=rng.randint(0, 15)),
            severity=rng.choice(["HIGH", "MEDIUM"]),
            site=rng.choice(["alpha", "beta"]),
            rules=rng.choice([["941100"], ["942100"], ["941100", "942100"]]),
        )
        for _ in range(50)
    ]
    ids = await insert_events(rows)
    headers = await api.key("read")
    cases: list[dict[str, str]] = [
        {"rule_id": "941100"},
        {"rule_id": "941100", "severity": "HIGH"},
        {"rule_id": "942100", "site": "beta"},
        {"category": "sqli", "severity": "MEDIUM"},
        # A site with a severity: the site's index drives, severity filters.
        {"site": "beta", "severity": "HIGH"},
        {"site": "alpha", "severity": "MEDIUM"},
        {"rule_id": "941100", "site": "alpha", "severity": "HIGH"},
    ]
    for params in cases:
        wanted_rule = params.get("rule_id")
        matching = [
            (row["observed_at"], event_id)
            for row, event_id in zip(rows, ids, strict=True)
            if (
                wanted_rule is None
                or any(r["rule_id"] == wanted_rule for r in row["matched_rules"])
            )
            and row["severity"] == params.get("severity", row["severity"])
            and row["site"] == params.get("site", row["site"])
        ]
        for sort in ("-observed_at", "observed_at"):
            expected = [i for _, i in sorted(matching, reverse=sort.startswith("-"))]
            seen: list[int] = []
            cursor = None
            while True:
                query: dict[str, object] = {**params, "limit": 4, "sort": sort}
                if cursor:
                    query["cursor"] = cursor
                response = await api.client.get("/threats", params=query, headers=headers)
                assert response.status_code == 200, response.text
                seen += [item["id"] for item in response.json()["items"]]
                cursor = response.json()["next_cursor"]
                if cursor is None:
                    break
            assert seen == expected, (params, sort)
