"""Finding 1: one site's allowlist entry must never hide another site's attacks."""

from __future__ import annotations

from tests.security.conftest import LiveApi, access_line

ATTACKER = "203.0.113.66"
SQLI = "/item.php?id=1%27%20UNION%20SELECT%20username,password%20FROM%20users--"


async def _stored(live: LiveApi, site: str) -> list[dict[str, object]]:
    response = await live.client.get("/threats", params={"site": site}, headers=live.admin)
    assert response.status_code == 200
    return list(response.json()["items"])


async def test_an_ip_allowlisted_on_site_a_is_still_reported_on_site_b(live: LiveApi) -> None:
    admin_a = await live.key("admin", ["a"])
    created = await live.client.post(
        "/allowlist", json={"kind": "ip", "value": ATTACKER, "site": "a"}, headers=admin_a
    )
    assert created.status_code == 201, created.text

    await live.ingest("a", [access_line(ATTACKER, SQLI)])
    await live.ingest("b", [access_line(ATTACKER, SQLI, second=1)])

    assert await _stored(live, "a") == []  # allowlisted where the entry was made
    on_b = await _stored(live, "b")
    assert [event["client_ip"] for event in on_b] == [ATTACKER]


async def test_a_user_agent_allowlisted_on_site_b_is_still_reported_on_site_a(
    live: LiveApi,
) -> None:
    admin_b = await live.key("admin", ["b"])
    created = await live.client.post(
        "/allowlist", json={"kind": "user_agent", "value": "sqlmap", "site": "b"}, headers=admin_b
    )
    assert created.status_code == 201, created.text

    agent = "sqlmap/1.7.2#stable (https://sqlmap.org)"
    await live.ingest("a", [access_line(ATTACKER, SQLI, agent=agent)])
    await live.ingest("b", [access_line(ATTACKER, SQLI, agent=agent, second=1)])

    assert len(await _stored(live, "a")) == 1
    assert await _stored(live, "b") == []
