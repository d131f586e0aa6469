"""Changes through the API leave an audit entry naming the key; scopes refuse with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.conftest import Api
from tests.api.factories import event_row, insert_decision, insert_events, insert_incident
from vigil.db.models import ModelMetadata
from vigil.db.session import get_db_context


async def _audit(api: Api, **params: str) -> list[dict[str, object]]:
    response = await api.client.get("/audit", params=params, headers=api.admin)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def test_each_action_is_audited_with_the_key_name(api: Api) -> None:
    created = await api.client.post(
        "/keys", json={"name": "night-ops", "scope": "admin"}, headers=api.admin
    )
    assert created.status_code == 201, created.text
    ops = {"X-API-Key": created.json()["key"]}

    block = await api.client.post(
        "/decisions", json={"value": "198.51.100.0/24", "site": "alpha"}, headers=ops
    )
    assert block.status_code == 201, block.text
    unblock = await api.client.delete(f"/decisions/{block.json()['id']}", headers=ops)
    assert unblock.status_code == 204
    allow = await api.client.post(
        "/allowlist", json={"kind": "ip", "value": "192.0.2.10", "site": "alpha"}, headers=ops
    )
    assert allow.status_code == 201, allow.text
    assert (
        await api.client.delete(f"/allowlist/{allow.json()['id']}", headers=ops)
    ).status_code == 204
    exclusion = await api.client.post(
        "/exclusions",
        json={"rule_id": "942100", "site": "alpha", "path_prefix": "/search", "argument": "q"},
        headers=ops,
    )
    assert exclusion.status_code == 201, exclusion.text
    incident = await insert_incident(site="alpha", client_ip="203.0.113.9")
    reviewed = await api.client.patch(
        f"/incidents/{incident}", json={"status": "reviewed", "note": "pen test"}, headers=ops
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["status"] == "reviewed"

    entries = await _audit(api)
    assert [e["action"] for e in entries] == [
        "incident.review",
        "exclusion.add",
        "allowlist.delete",
        "allowlist.add",
        "decision.delete",
        "decision.create",
        "key.create",
    ]
    assert {e["key_name"] for e in entries[:-1]} == {"night-ops"}
    assert entries[-1]["key_name"] == "bootstrap-admin"
    assert entries[1]["target"] == "rule 942100 on path /search, argument q"
    assert entries[4]["target"] == "198.51.100.0/24" and entries[4]["site"] == "alpha"
    assert entries[0]["detail"] == {"status": "reviewed", "note": "pen test"}
    assert all(created.json()["key"] not in str(e) for e in entries)

    only = await _audit(api, action="decision.create")
    assert [e["id"] for e in only] == [entries[5]["id"]]


async def test_audit_pages_and_site_limits(api: Api) -> None:
    for value in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        response = await api.client.post(
            "/decisions", json={"value": value, "site": "alpha"}, headers=api.admin
        )
        assert response.status_code == 201
    await api.client.post(
        "/decisions", json={"value": "192.0.2.4", "site": "beta"}, headers=api.admin
    )
    first = await api.client.get("/audit", params={"limit": 2}, headers=api.admin)
    second = await api.client.get(
        "/audit", params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=api.admin
    )
    values = [e["target"] for e in first.json()["items"] + second.json()["items"]]
    assert values == ["192.0.2.4", "192.0.2.3", "192.0.2.2", "192.0.2.1"]
    assert second.json()["next_cursor"] is None

    alpha_admin = await api.key("admin", ["alpha"])
    seen = await api.client.get("/audit", headers=alpha_admin)
    assert [e["site"] for e in seen.json()["items"]] == ["alpha"] * 3
    refused = await api.client.get("/audit", headers=await api.key("write"))
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this needs a key with scope 'admin'; this key has 'write'"


async def test_scopes_refuse_actions_with_a_clear_message(api: Api) -> None:
    read = await api.key("read")
    incident = await insert_incident(site="alpha")
    decision = await insert_decision(site="alpha")
    for method, path, body in (
        ("POST", "/decisions", {"value": "192.0.2.9", "site": "alpha"}),
        ("DELETE", f"/decisions/{decision}", None),
        ("POST", "/allowlist", {"kind": "ip", "value": "192.0.2.9"}),
        ("POST", "/exclusions", {"rule_id": "942100"}),
        ("PATCH", f"/incidents/{incident}", {"status": "reviewed"}),
        ("POST", "/models/activate", {"version": "v1"}),
        ("POST", "/keys", {"name": "x", "scope": "read"}),
    ):
        response = await api.client.request(method, path, json=body, headers=read)
        assert response.status_code == 403, (path, response.text)
        assert "this key has 'read'" in response.json()["detail"]
    site_admin = await api.key("admin", ["alpha"])
    for path, body in (
        ("/models/rollback", {}),
        ("/keys", {"name": "x", "scope": "read"}),
    ):
        response = await api.client.post(path, json=body, headers=site_admin)
        assert response.status_code == 403
        assert "admin key for every site" in response.json()["detail"]
    assert await _audit(api) == []


async def test_models_activate_and_roll_back(api: Api) -> None:
    async with get_db_context() as session:
        session.add(ModelMetadata(model_type="classifier", version="c1", is_active=False))
        session.add(ModelMetadata(model_type="classifier", version="c2", is_active=True))
        session.add(
            ModelMetadata(
                model_type="classifier",
                version="c3",
                is_active=False,
                metrics={"gates_passed": False},
            )
        )
    refused = await api.client.post("/models/activate", json={"version": "c3"}, headers=api.admin)
    assert refused.status_code == 422
    assert "failed its validation gates" in refused.json()["detail"]
    missing = await api.client.post("/models/activate", json={"version": "c9"}, headers=api.admin)
    assert missing.status_code == 422 and "no model with version 'c9'" in missing.json()["detail"]

    rolled = await api.client.post("/models/rollback", json={}, headers=api.admin)
    assert rolled.status_code == 200 and rolled.json()["version"] == "c1"
    forced = await api.client.post(
        "/models/activate", json={"version": "c3", "force": True}, headers=api.admin
    )
    assert forced.status_code == 200 and forced.json()["is_active"] is True
    status = (await api.client.get("/models/status", headers=api.admin)).json()
    assert [m["version"] for m in status["models"] if m["is_active"]] == ["c3"]
    assert [(e["action"], e["target"]) for e in await _audit(api)] == [
        ("model.activate", "classifier c3"),
        ("model.rollback", "classifier c1"),
    ]


async def test_who_am_i(api: Api) -> None:
    me = await api.client.get("/keys/me", headers=await api.key("write", ["alpha", "beta"]))
    assert me.status_code == 200
    assert me.json() == {
        "id": me.json()["id"],
        "name": "test-write",
        "scope": "write",
        "sites": ["alpha", "beta"],
    }
    boot = (await api.client.get("/keys/me", headers=api.admin)).json()
    assert boot == {"id": None, "name": "bootstrap-admin", "scope": "admin", "sites": None}
    assert (await api.client.get("/keys/me")).status_code == 401


async def test_incident_detail_has_its_decisions_and_review_closes_it(api: Api) -> None:
    now = datetime.now(UTC)
    incident = await insert_incident(site="alpha", client_ip="203.0.113.44", last_seen=now)
    await insert_events(
        [
            event_row(
                site="alpha",
                client_ip="203.0.113.44",
                incident_id=incident,
                observed_at=now - timedelta(minutes=1),
            )
        ]
    )
    async with get_db_context() as session:
        from vigil.db.models import Decision

        session.add(
            Decision(
                site="alpha",
                value="203.0.113.44",
                scope="ip",
                reason="policy: HIGH",
                origin="vigil",
                incident_id=incident,
            )
        )
    detail = await api.client.get(f"/incidents/{incident}", headers=await api.key("read"))
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert [d["value"] for d in body["decisions"]] == ["203.0.113.44"]
    assert len(body["events"]) == 1
    other_site = await api.key("write", ["beta"])
    hidden = await api.client.patch(f"/incidents/{incident}", json={}, headers=other_site)
    assert hidden.status_code == 404
