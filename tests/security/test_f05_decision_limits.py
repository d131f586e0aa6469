"""Finding 5: a site admin cannot block the world for everyone.

A site-scoped admin's decisions stay on its sites and may not be wider than the configured
limit; only an admin key for every site makes decisions for every site or forces a wide one;
a bouncer limited to some sites receives only their decisions (and the every-site ones).
"""

from __future__ import annotations

from tests.api.conftest import Api


async def test_a_site_admin_cannot_block_everything(api: Api) -> None:
    site_admin = await api.key("admin", ["a"])
    for value in ("0.0.0.0/0", "10.0.0.0/8", "::/0", "2001:db8::/16"):
        response = await api.client.post("/decisions", json={"value": value}, headers=site_admin)
        assert response.status_code == 422, (value, response.text)
        assert "wider" in response.json()["detail"]
    forced = await api.client.post(
        "/decisions", json={"value": "0.0.0.0/0", "force": True}, headers=site_admin
    )
    assert forced.status_code == 403
    everywhere = await api.client.post(
        "/decisions", json={"value": "203.0.113.9", "all_sites": True}, headers=site_admin
    )
    assert everywhere.status_code == 403
    other_site = await api.client.post(
        "/decisions", json={"value": "203.0.113.9", "site": "b"}, headers=site_admin
    )
    assert other_site.status_code == 403
    narrow = await api.client.post(
        "/decisions", json={"value": "198.51.100.0/24"}, headers=site_admin
    )
    assert narrow.status_code == 201 and narrow.json()["site"] == "a"

    stream = await api.client.get(
        "/v1/decisions/stream", params={"startup": "true"}, headers=await api.key("read", ["b"])
    )
    assert stream.json()["new"] is None  # site a's decision is not site b's bouncer's


async def test_a_global_admin_may_force_and_block_every_site(api: Api) -> None:
    forced = await api.client.post(
        "/decisions", json={"value": "10.0.0.0/8", "force": True}, headers=api.admin
    )
    assert forced.status_code == 201
    everywhere = await api.client.post(
        "/decisions", json={"value": "203.0.113.9", "all_sites": True}, headers=api.admin
    )
    assert everywhere.status_code == 201 and everywhere.json()["site"] is None
    stream = await api.client.get(
        "/v1/decisions/stream", params={"startup": "true"}, headers=await api.key("read", ["b"])
    )
    assert [d["value"] for d in stream.json()["new"]] == ["203.0.113.9"]
