"""GET /incidents and GET /incidents/{id}."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import Api
from tests.api.factories import BASE_TIME, event_row, insert_events, insert_incident


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
