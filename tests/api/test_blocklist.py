"""GET /blocklist (JSON and text) and manual decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.conftest import Api
from tests.api.factories import insert_decision


async def test_only_active_real_decisions_are_listed(api: Api) -> None:
    await insert_decision(value="192.0.2.1")
    await insert_decision(value="192.0.2.2", simulated=True)
    await insert_decision(value="192.0.2.3", deleted=True)
    await insert_decision(value="192.0.2.4", expires_at=datetime.now(UTC) - timedelta(minutes=1))
    headers = await api.key("read")
    body = (await api.client.get("/blocklist", headers=headers)).json()
    assert [d["value"] for d in body["items"]] == ["192.0.2.1"]
    assert body["count"] == 1

    text = await api.client.get("/blocklist", params={"format": "text"}, headers=headers)
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text == "192.0.2.1\n"
    accepted = await api.client.get("/blocklist", headers={**headers, "Accept": "text/plain"})
    assert accepted.text == "192.0.2.1\n"
    bad = await api.client.get("/blocklist", params={"format": "xml"}, headers=headers)
    assert bad.status_code == 422


async def test_manual_block_and_lift(api: Api) -> None:
    created = await api.client.post(
        "/decisions",
        json={
            "value": "198.51.100.0/24",
            "site": "alpha",
            "reason": "abuse report",
            "duration_minutes": 60,
        },
        headers=api.admin,
    )
    assert created.status_code == 201, created.text
    decision = created.json()
    assert decision["scope"] == "range" and decision["expires_at"] is not None
    listed = (await api.client.get("/blocklist", params={"format": "text"}, headers=api.admin)).text
    assert "198.51.100.0/24" in listed

    lifted = await api.client.delete(f"/decisions/{decision['id']}", headers=api.admin)
    assert lifted.status_code == 204
    listed = (await api.client.get("/blocklist", params={"format": "text"}, headers=api.admin)).text
    assert "198.51.100.0/24" not in listed
    again = await api.client.delete(f"/decisions/{decision['id']}", headers=api.admin)
    assert again.status_code == 404


async def test_bad_decisions_are_422(api: Api) -> None:
    for body in ({"value": "not-an-ip"}, {"value": "10.0.0.1", "duration_minutes": 0}, {}):
        response = await api.client.post("/decisions", json=body, headers=api.admin)
        assert response.status_code == 422, body
