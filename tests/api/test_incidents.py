"""GET /incidents and GET /incidents/{id}."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import Api
from tests.api.factories import (
    BASE_TIME,
    event_row,
    insert_campaign,
    insert_events,
    insert_incident,
)


async def test_list_detail_and_filters(api: Api) -> None:
    first = await insert_incident(client_ip="10.0.0.1", last_seen=BASE_TIME)
    second = await insert_incident(client_ip="192.0.2.7", last_seen=BASE_TIME + timedelta(hours=1))
    await insert_events([event_row(incident_id=second, client_ip="192.0.2.7") for _ in range(3)])
    headers = await api.key("read")

    listed = await api.client.get("/incidents", headers=headers)
    assert listed.status_code == 200
    assert [i["id"] for i in listed.json()["items"]] == [second, first]

    narrowed = await api.client.get("/incidents", params={"client": "10.0.0.0/24"}, headers=headers)
    assert [i["id"] for i in narrowed.json()["items"]] == [first]
    later = await api.client.get(
        "/incidents",
        params={"since": (BASE_TIME + timedelta(minutes=30)).isoformat()},
        headers=headers,
    )
    assert [i["id"] for i in later.json()["items"]] == [second]

    detail = await api.client.get(f"/incidents/{second}", headers=headers)
    assert detail.status_code == 200
    assert detail.json()["client_ip"] == "192.0.2.7"
    assert len(detail.json()["events"]) == 3
    assert (await api.client.get("/incidents/424242", headers=headers)).status_code == 404


async def test_pagination_walk(api: Api) -> None:
    ids = {await insert_incident(last_seen=BASE_TIME + timedelta(seconds=i % 4)) for i in range(25)}
    headers = await api.key("read")
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        body = (await api.client.get("/incidents", params=params, headers=headers)).json()
        seen.extend(i["id"] for i in body["items"])
        await insert_incident(last_seen=BASE_TIME + timedelta(seconds=2))
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert ids <= set(seen)


async def test_validation(api: Api) -> None:
    headers = await api.key("read")
    for params in ({"limit": 1000}, {"severity": "x"}, {"client": "nope"}, {"sort": "id"}):
        response = await api.client.get("/incidents", params=params, headers=headers)
        assert response.status_code == 422, params


async def test_campaign_members_are_listed_paged_and_scoped_to_the_site(api: Api) -> None:
    campaign = await insert_campaign(members=25)
    single = await insert_incident(client_ip="192.0.2.7")
    other_site = await insert_campaign(site="beta", members=4)
    headers = await api.key("read", sites=["alpha"])

    listed = (await api.client.get("/incidents", headers=headers)).json()["items"]
    by_id = {i["id"]: i for i in listed}
    assert set(by_id) == {campaign, single}
    row = by_id[campaign]
    assert row["campaign"] == "POST /xmlrpc.php 404"
    assert row["summary"].startswith("campaign: 25 clients")
    assert row["member_count"] == 25
    # A few of the most recently seen members in a list; newest first, then by address.
    previews = row["members"]
    assert len(previews) == 10
    assert [m["last_seen"] for m in previews] == sorted(
        (m["last_seen"] for m in previews), reverse=True
    )
    assert by_id[single]["member_count"] == 0 and by_id[single]["members"] == []

    detail = (await api.client.get(f"/incidents/{campaign}", headers=headers)).json()
    assert detail["member_count"] == 25 and len(detail["members"]) == 25
    assert detail["members_next_cursor"] is None

    # Paged: every member once, in a stable order, whatever the page size.
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        response = await api.client.get(
            f"/incidents/{campaign}/members", params=params, headers=headers
        )
        assert response.status_code == 200
        body = response.json()
        seen += [m["client_ip"] for m in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [m["client_ip"] for m in detail["members"]]
    assert len(set(seen)) == 25

    # Another site's campaign: neither its incident nor its members.
    hidden = await api.client.get(f"/incidents/{other_site}/members", headers=headers)
    assert hidden.status_code == 404
    assert (await api.client.get(f"/incidents/{other_site}", headers=headers)).status_code == 404
    bad = await api.client.get(
        f"/incidents/{campaign}/members", params={"cursor": "nope"}, headers=headers
    )
    assert bad.status_code == 422
    # A cursor of the incident list is not a member cursor.
    walked = await api.client.get("/incidents", params={"limit": 1}, headers=headers)
    wrong = await api.client.get(
        f"/incidents/{campaign}/members",
        params={"cursor": walked.json()["next_cursor"]},
        headers=headers,
    )
    assert wrong.status_code == 422
