"""A key limited to site alpha never sees site beta's data, through any route."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.api.conftest import Api
from tests.api.factories import event_row, insert_decision, insert_events, insert_incident

ALPHA_IP = "198.51.100.10"
BETA_IP = "203.0.113.66"


@dataclass
class Seeded:
    alpha_event: int
    beta_event: int
    alpha_incident: int
    beta_incident: int
    beta_decision: int
    beta_allow: int
    beta_exclusion: int


@pytest.fixture
async def seeded(api: Api) -> Seeded:
    alpha_incident = await insert_incident(site="alpha", client_ip=ALPHA_IP)
    beta_incident = await insert_incident(site="beta", client_ip=BETA_IP)
    alpha_event, beta_event = await insert_events(
        [
            event_row(site="alpha", client_ip=ALPHA_IP, path="/a", incident_id=alpha_incident),
            event_row(
                site="beta",
                client_ip=BETA_IP,
                path="/b",
                rules=["b-rule"],
                categories=["b-cat"],
                incident_id=beta_incident,
            ),
        ]
    )
    await insert_decision(site="alpha", value=ALPHA_IP)
    beta_decision = await insert_decision(site="beta", value=BETA_IP)
    allow = await api.client.post(
        "/allowlist", json={"kind": "ip", "value": BETA_IP, "site": "beta"}, headers=api.admin
    )
    exclusion = await api.client.post(
        "/exclusions", json={"rule_id": "b-rule", "site": "beta"}, headers=api.admin
    )
    return Seeded(
        alpha_event,
        beta_event,
        alpha_incident,
        beta_incident,
        beta_decision,
        allow.json()["id"],
        exclusion.json()["id"],
    )


async def test_read_routes_show_only_alpha(api: Api, seeded: Seeded) -> None:
    headers = await api.key("read", ["alpha"])
    get = api.client.get

    threats = (await get("/threats", params={"limit": 500}, headers=headers)).json()
    assert {t["site"] for t in threats["items"]} == {"alpha"}
    for params in (
        {"client": BETA_IP},
        {"rule_id": "b-rule"},
        {"category": "b-cat"},
        {"path": "/b"},
    ):
        assert (await get("/threats", params=params, headers=headers)).json()["items"] == []
    assert (await get(f"/threats/{seeded.beta_event}", headers=headers)).status_code == 404
    assert (await get(f"/threats/{seeded.alpha_event}", headers=headers)).status_code == 200

    incidents = (await get("/incidents", headers=headers)).json()
    assert [i["id"] for i in incidents["items"]] == [seeded.alpha_incident]
    assert (await get(f"/incidents/{seeded.beta_incident}", headers=headers)).status_code == 404

    stats = (
        await get(
            "/stats",
            params={"from": "2026-01-01T00:00:00Z", "to": "2026-06-01T00:00:00Z"},
            headers=headers,
        )
    ).json()
    assert stats["totals"]["HIGH"] == 1
    assert [r["value"] for r in stats["top_ips"]] == [ALPHA_IP]
    assert "b-rule" not in {r["value"] for r in stats["top_rules"]}
    assert "b-cat" not in stats["categories"]

    blocklist = (await get("/blocklist", headers=headers)).json()
    assert [d["value"] for d in blocklist["items"]] == [ALPHA_IP]
    text = (await get("/blocklist", params={"format": "text"}, headers=headers)).text
    assert BETA_IP not in text

    assert (await get("/allowlist", headers=headers)).json() == []
    assert (await get("/exclusions", headers=headers)).json() == []


async def test_naming_another_site_is_403(api: Api, seeded: Seeded) -> None:
    headers = await api.key("admin", ["alpha"])
    for path in ("/threats", "/incidents", "/stats", "/blocklist", "/allowlist", "/exclusions"):
        response = await api.client.get(path, params={"site": "beta"}, headers=headers)
        assert response.status_code == 403, path
    for path, body in (
        ("/allowlist", {"kind": "ip", "value": "192.0.2.1", "site": "beta"}),
        ("/allowlist", {"kind": "ip", "value": "192.0.2.1"}),
        ("/exclusions", {"rule_id": "x1", "site": "beta"}),
        ("/decisions", {"value": "192.0.2.1", "site": "beta"}),
        ("/ingest/batch", {"source": "s", "lines": ["x"], "site": "beta"}),
    ):
        response = await api.client.post(path, json=body, headers=headers)
        if body.get("site") is None:
            # A one-site key writes into its own site, never into "every site".
            assert response.status_code == 201 and response.json()["site"] == "alpha"
        else:
            assert response.status_code == 403, (path, response.text)


async def test_writes_cannot_touch_beta(api: Api, seeded: Seeded) -> None:
    headers = await api.key("admin", ["alpha"])
    assert (
        await api.client.patch(
            f"/threats/{seeded.beta_event}", json={"label": "false_positive"}, headers=headers
        )
    ).status_code == 404
    for path in (
        f"/decisions/{seeded.beta_decision}",
        f"/allowlist/{seeded.beta_allow}",
        f"/exclusions/{seeded.beta_exclusion}",
    ):
        assert (await api.client.delete(path, headers=headers)).status_code == 404, path
    beta = await api.client.get(f"/threats/{seeded.beta_event}", headers=api.admin)
    assert beta.json()["reviewed"] is False
    assert len((await api.client.get("/allowlist", headers=api.admin)).json()) == 1
