"""GET/POST/DELETE /keys: managed by admin keys that see every site."""

from __future__ import annotations

from tests.api.conftest import Api


async def test_create_use_list_and_revoke(api: Api) -> None:
    created = await api.client.post(
        "/keys", json={"name": "siem", "scope": "read", "sites": ["alpha"]}, headers=api.admin
    )
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["key"]
    assert secret.startswith("vgl_") and body["prefix"] in secret
    assert body["sites"] == ["alpha"]
    assert (await api.client.get("/threats", headers={"X-API-Key": secret})).status_code == 200

    listed = await api.client.get("/keys", headers=api.admin)
    assert listed.status_code == 200
    assert all("key" not in row and "key_hash" not in row for row in listed.json())
    assert [row["prefix"] for row in listed.json()] == [body["prefix"]]

    revoked = await api.client.delete(f"/keys/{body['id']}", headers=api.admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert (await api.client.get("/threats", headers={"X-API-Key": secret})).status_code == 401
    assert (await api.client.delete("/keys/999999", headers=api.admin)).status_code == 404


async def test_a_site_limited_admin_cannot_manage_keys(api: Api) -> None:
    headers = await api.key("admin", ["alpha"])
    response = await api.client.post(
        "/keys", json={"name": "wider", "scope": "admin"}, headers=headers
    )
    assert response.status_code == 403
    assert (await api.client.get("/keys", headers=headers)).status_code == 403


async def test_bad_key_requests_are_422(api: Api) -> None:
    for body in (
        {"name": "", "scope": "read"},
        {"name": "n", "scope": "root"},
        {"name": "n", "scope": "read", "sites": ["' OR 1=1--"]},
        {"name": "n\x00", "scope": "read"},
    ):
        response = await api.client.post("/keys", json=body, headers=api.admin)
        assert response.status_code == 422, body
