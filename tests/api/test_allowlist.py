"""Allowlist entries and exclusions: stored, listed, deleted, and pushed to the pipeline."""

from __future__ import annotations

from sqlalchemy import select

from tests.api.conftest import Api
from vigil.db.models import AllowlistEntry
from vigil.db.session import get_db_context


async def test_allowlist_round_trip_reaches_the_pipeline(api: Api) -> None:
    created = await api.client.post(
        "/allowlist",
        json={"kind": "cidr", "value": "10.1.2.3/16", "site": "alpha", "reason": "office"},
        headers=api.admin,
    )
    assert created.status_code == 201, created.text
    entry = created.json()
    assert entry["value"] == "10.1.0.0/16"
    exclusions, allow = api.pipeline.exclusions["alpha"]
    assert exclusions == [] and [a["value"] for a in allow] == ["10.1.0.0/16"]
    async with get_db_context() as session:
        stored = (await session.scalars(select(AllowlistEntry))).all()
    assert [(e.site, e.kind, e.reason) for e in stored] == [("alpha", "cidr", "office")]

    listed = await api.client.get("/allowlist", headers=await api.key("read"))
    assert [e["id"] for e in listed.json()] == [entry["id"]]

    deleted = await api.client.delete(f"/allowlist/{entry['id']}", headers=api.admin)
    assert deleted.status_code == 204
    assert api.pipeline.exclusions["alpha"] == ([], [])
    assert (
        await api.client.delete(f"/allowlist/{entry['id']}", headers=api.admin)
    ).status_code == 404


async def test_user_agent_entry_for_every_site(api: Api) -> None:
    created = await api.client.post(
        "/allowlist",
        json={"kind": "user_agent", "value": "UptimeRobot", "expires_at": "2099-01-01T00:00:00Z"},
        headers=api.admin,
    )
    assert created.status_code == 201
    assert created.json()["site"] is None
    _, allow = api.pipeline.exclusions[None]
    assert allow[0]["value"] == "UptimeRobot" and allow[0]["expires_at"].startswith("2099")


async def test_expired_entries_are_not_listed(api: Api) -> None:
    await api.client.post(
        "/allowlist",
        json={"kind": "ip", "value": "192.0.2.1", "expires_at": "2000-01-01T00:00:00Z"},
        headers=api.admin,
    )
    assert (await api.client.get("/allowlist", headers=api.admin)).json() == []


async def test_exclusion_round_trip(api: Api) -> None:
    created = await api.client.post(
        "/exclusions",
        json={
            "rule_id": "942100",
            "site": "alpha",
            "path_prefix": "/search",
            "argument": "q",
            "reason": "search box",
        },
        headers=api.admin,
    )
    assert created.status_code == 201, created.text
    exclusions, _ = api.pipeline.exclusions["alpha"]
    assert exclusions[0]["rule_id"] == "942100" and exclusions[0]["argument"] == "q"
    listed = await api.client.get("/exclusions", params={"site": "alpha"}, headers=api.admin)
    assert len(listed.json()) == 1
    ident = created.json()["id"]
    assert (await api.client.delete(f"/exclusions/{ident}", headers=api.admin)).status_code == 204
    assert api.pipeline.exclusions["alpha"] == ([], [])


async def test_stored_entries_are_applied_at_start(api: Api) -> None:
    await api.client.post(
        "/exclusions", json={"rule_id": "941100", "site": "beta"}, headers=api.admin
    )
    api.pipeline.exclusions.clear()
    async with api.app.router.lifespan_context(api.app):
        assert api.pipeline.exclusions["beta"][0][0]["rule_id"] == "941100"


async def test_bad_entries_are_422(api: Api) -> None:
    for body in (
        {"kind": "ip", "value": "10.0.0.0/8"},
        {"kind": "cidr", "value": "banana"},
        {"kind": "host", "value": "x"},
        {"kind": "user_agent", "value": ""},
        {"kind": "ip", "value": "10.0.0.1", "expires_at": "soon"},
    ):
        response = await api.client.post("/allowlist", json=body, headers=api.admin)
        assert response.status_code == 422, body
    for body in (
        {"rule_id": "942100", "path_regex": "(unclosed"},
        {"rule_id": "' OR 1=1--"},
        {"path_prefix": "/x"},
    ):
        response = await api.client.post("/exclusions", json=body, headers=api.admin)
        assert response.status_code == 422, body
