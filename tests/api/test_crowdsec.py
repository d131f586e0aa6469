"""The CrowdSec-compatible decision endpoints, as a bouncer calls them."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.factories import insert_decision


async def test_stream_startup_then_changes(api: Api) -> None:
    await insert_decision(site="alpha", value="192.0.2.10")
    await insert_decision(site="beta", value="192.0.2.20")
    await insert_decision(site="alpha", value="192.0.2.30", simulated=True)
    bouncer = {"X-Api-Key": (await api.key("read", ["alpha"]))["X-API-Key"]}

    first = await api.client.get(
        "/v1/decisions/stream", params={"startup": "true"}, headers=bouncer
    )
    assert first.status_code == 200
    body = first.json()
    assert [d["value"] for d in body["new"]] == ["192.0.2.10"]
    assert body["new"][0]["type"] == "ban" and body["new"][0]["scope"] == "Ip"
    assert body["deleted"] is None

    await insert_decision(site="alpha", value="192.0.2.11")
    await insert_decision(site="beta", value="192.0.2.21")
    second = (await api.client.get("/v1/decisions/stream", headers=bouncer)).json()
    # Changes of the last few seconds are sent again (a decision stamped before its commit
    # must not be missed); a repeat is harmless to a bouncer.
    values = {d["value"] for d in second["new"]}
    assert "192.0.2.11" in values and not values & {"192.0.2.20", "192.0.2.21", "192.0.2.30"}


async def test_live_mode_lookup_and_auth(api: Api) -> None:
    await insert_decision(site="alpha", value="198.51.100.0/24")
    headers = await api.key("read")
    hit = await api.client.get("/v1/decisions", params={"ip": "198.51.100.77"}, headers=headers)
    assert hit.status_code == 200
    assert hit.json()[0]["scope"] == "Range"
    miss = await api.client.get("/v1/decisions", params={"ip": "203.0.113.1"}, headers=headers)
    assert miss.json() is None
    bad = await api.client.get("/v1/decisions", params={"ip": "not-an-ip"}, headers=headers)
    assert bad.status_code == 400 and "message" in bad.json()
    anonymous = await api.client.get("/v1/decisions/stream")
    assert anonymous.status_code == 403
    assert anonymous.json() == {"message": "access forbidden"}
