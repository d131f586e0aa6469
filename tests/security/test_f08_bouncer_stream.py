"""Finding 8: the decision stream behaves as CrowdSec's Local API does for bouncers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from tests.api.conftest import ADMIN_KEY, Api
from vigil.api.app import create_app

STREAM = "/v1/decisions/stream"


async def _decide(api: Api, value: str, **extra: Any) -> int:
    body = {"value": value, "site": "a", **extra}
    response = await api.client.post("/decisions", json=body, headers=api.admin)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _values(items: list[dict[str, Any]] | None) -> list[str]:
    return sorted(item["value"] for item in items or [])


async def test_startup_sends_one_decision_per_address_the_longest(api: Api) -> None:
    bouncer = await api.key("read")
    await _decide(api, "203.0.113.50", duration_minutes=60)
    await _decide(api, "203.0.113.50", duration_minutes=600)
    start = (await api.client.get(STREAM, params={"startup": "true"}, headers=bouncer)).json()
    assert len(start["new"]) == 1
    assert start["new"][0]["duration"].startswith(("9h59m", "10h0m"))


async def test_two_decisions_for_one_address_one_deleted(api: Api) -> None:
    bouncer = await api.key("read")
    short = await _decide(api, "203.0.113.50", duration_minutes=60)
    await _decide(api, "203.0.113.50", duration_minutes=600)
    await api.client.get(STREAM, params={"startup": "true"}, headers=bouncer)
    assert (await api.client.delete(f"/decisions/{short}", headers=api.admin)).status_code == 204
    later = (await api.client.get(STREAM, headers=bouncer)).json()
    # Another decision still covers the address: it must not be unblocked.
    assert "203.0.113.50" not in _values(later["deleted"])


async def test_the_last_pull_survives_a_restart(api: Api) -> None:
    bouncer = await api.key("read")
    kept = await _decide(api, "198.51.100.1")
    lifted = await _decide(api, "198.51.100.2")
    start = (await api.client.get(STREAM, params={"startup": "true"}, headers=bouncer)).json()
    assert _values(start["new"]) == ["198.51.100.1", "198.51.100.2"]
    assert kept and (await api.client.delete(f"/decisions/{lifted}", headers=api.admin)).is_success

    # A second app on the same database: vigil restarted between two pulls.
    restarted = create_app(api.settings.model_copy(update={"api_admin_key": SecretStr(ADMIN_KEY)}))
    async with restarted.router.lifespan_context(restarted):
        transport = httpx.ASGITransport(app=restarted)
        async with httpx.AsyncClient(transport=transport, base_url="http://vigil.test") as client:
            after = (await client.get(STREAM, headers=bouncer)).json()
    assert _values(after["deleted"]) == ["198.51.100.2"]


async def test_filters_and_lookup(api: Api) -> None:
    bouncer = await api.key("read")
    await _decide(api, "192.0.2.0/24", reason="scan")
    await _decide(api, "192.0.2.7", reason="sqli attack")
    await _decide(api, "2001:db8::1", reason="xss attack")

    async def stream(**params: str) -> list[str]:
        body = (
            await api.client.get(STREAM, params={"startup": "true", **params}, headers=bouncer)
        ).json()
        return _values(body["new"])

    assert await stream(scopes="range") == ["192.0.2.0/24"]
    assert await stream(scopes="Ip") == ["192.0.2.7", "2001:db8::1"]
    assert await stream(origins="vigil") == []
    assert len(await stream(origins="api,vigil")) == 3
    assert await stream(scenarios_containing="attack") == ["192.0.2.7", "2001:db8::1"]
    assert await stream(scenarios_not_containing="sqli,scan") == ["2001:db8::1"]

    async def lookup(**params: str) -> list[str]:
        response = await api.client.get("/v1/decisions", params=params, headers=bouncer)
        assert response.status_code == 200
        return _values(response.json())

    assert await lookup(ip="192.0.2.7") == ["192.0.2.0/24", "192.0.2.7"]
    assert await lookup(scope="range", value="192.0.2.0/24") == ["192.0.2.0/24"]
    assert await lookup(range="192.0.2.0/25") == ["192.0.2.0/24"]
    assert await lookup(range="192.0.2.0/24", contains="false") == [
        "192.0.2.0/24",
        "192.0.2.7",
    ]
    assert await lookup(ip="198.51.100.1") == []


async def test_the_local_api_answers(api: Api) -> None:
    bouncer = await api.key("read")
    empty = await api.client.get(STREAM, params={"startup": "true"}, headers=bouncer)
    assert empty.json() == {"new": None, "deleted": None}
    assert (await api.client.get("/v1/decisions", headers=bouncer)).json() is None
    for path in (STREAM, "/v1/decisions"):
        assert (await api.client.head(path, headers=bouncer)).status_code == 200
        refused = await api.client.get(path, headers={"X-Api-Key": "wrong"})
        assert refused.status_code == 403 and set(refused.json()) == {"message"}
    bad = await api.client.get("/v1/decisions", params={"ip": "nope"}, headers=bouncer)
    assert bad.status_code == 400 and set(bad.json()) == {"message"}


async def test_no_expiry_is_capped_at_what_ipset_accepts(api: Api) -> None:
    await _decide(api, "203.0.113.77")
    body = (
        await api.client.get(STREAM, params={"startup": "true"}, headers=await api.key("read"))
    ).json()
    [decision] = body["new"]
    hours = int(decision["duration"].split("h")[0])
    assert hours <= 2_147_483 // 3600  # ipset's largest timeout, in whole hours
    until = datetime.fromisoformat(decision["until"])
    assert until - datetime.now(UTC) <= timedelta(seconds=2_147_483)
