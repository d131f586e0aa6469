"""Hostile values in every filter: normal results or 422, never a 500 or another site's rows."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tests.api.factories import event_row, insert_decision, insert_events, insert_incident

PAYLOADS = [
    "' OR 1=1--",
    "1; DROP TABLE threat_events;--",
    '" OR ""="',
    "%00",
    "\x00",
    "a\x00b",
    "%",
    "_",
    "\\",
    "*",
    "10.0.0.0/8' OR '1'='1",
    "999.1.1.1/24",
    "::::/200",
    "0.0.0.0/0",
    "x" * 5000,
    "😀" * 100,
    "-1",
    "1e309",
    "9" * 40,
]
ROUTES = {
    "/threats": [
        "severity",
        "category",
        "rule_id",
        "client",
        "path",
        "site",
        "since",
        "until",
        "reviewed",
        "label",
        "incident_id",
        "sort",
        "limit",
        "cursor",
    ],
    "/incidents": [
        "site",
        "status",
        "severity",
        "client",
        "since",
        "until",
        "sort",
        "limit",
        "cursor",
    ],
    "/stats": ["range", "from", "to", "site", "top"],
    "/blocklist": ["site", "format"],
    "/allowlist": ["site"],
    "/exclusions": ["site"],
}


@pytest.fixture
async def other_site(api: Api) -> None:
    incident = await insert_incident(site="beta", client_ip="203.0.113.66")
    await insert_events([event_row(site="beta", client_ip="203.0.113.66", incident_id=incident)])
    await insert_decision(site="beta", value="203.0.113.66")


async def test_hostile_filter_values(api: Api, other_site: None) -> None:
    headers = await api.key("read", ["alpha"])
    for path, params in ROUTES.items():
        for name in params:
            for payload in PAYLOADS:
                response = await api.client.get(path, params={name: payload}, headers=headers)
                assert response.status_code in (200, 403, 422), (path, name, payload, response.text)
                assert "203.0.113.66" not in response.text, (path, name, payload)
                if response.status_code != 200:
                    assert "detail" in response.json()
            # Percent-escapes that decode to invalid UTF-8 and to NUL, sent verbatim.
            for raw in ("%ED%A0%80%FF", "%00", "%27%20OR%201%3D1--"):
                response = await api.client.get(f"{path}?{name}={raw}", headers=headers)
                assert response.status_code in (200, 403, 422), (path, name, raw, response.text)
                assert "203.0.113.66" not in response.text


async def test_hostile_path_ids(api: Api) -> None:
    headers = await api.key("write")
    for ident in ("1 OR 1=1", "-1", "0", "9" * 30, "1.5", "%00", "..%2F..%2Fetc"):
        for method in ("GET", "PATCH"):
            response = await api.client.request(
                method, f"/threats/{ident}", json={"label": "true_positive"}, headers=headers
            )
            assert response.status_code in (404, 422), (ident, response.status_code)


async def test_hostile_json_bodies(api: Api) -> None:
    bodies = [
        b"",
        b"null",
        b"[]",
        b'{"label": null}',
        b'{"label": "true_positive", "note": "' + b"n" * 3000 + b'"}',
        b'{"label": "true_positive", "note": "\\ud800"}',
        b'{"label": "true_positive", "note": "\\u0000"}',
        b"{" * 10000,
        b'{"label": 1e999}',
    ]
    [event_id] = await insert_events([event_row()])
    headers = {**(await api.key("write")), "content-type": "application/json"}
    for body in bodies:
        response = await api.client.patch(f"/threats/{event_id}", content=body, headers=headers)
        assert 400 <= response.status_code < 500, (body[:40], response.status_code)
        assert "detail" in response.json()
