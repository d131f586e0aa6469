"""API keys: 401 without a valid key, 403 for a scope too small, and the failure counter."""

from __future__ import annotations

import logging

import pytest

from tests.api.conftest import Api
from tests.api.factories import event_row, insert_events, make_key
from vigil import metrics
from vigil.db.session import get_db_context
from vigil.services.keys import revoke_key

# (method, path, json body, scope the route needs)
ROUTES: list[tuple[str, str, object, str]] = [
    ("GET", "/threats", None, "read"),
    ("GET", "/threats/1", None, "read"),
    ("PATCH", "/threats/1", {"label": "true_positive"}, "write"),
    ("GET", "/incidents", None, "read"),
    ("GET", "/incidents/1", None, "read"),
    ("GET", "/stats", None, "read"),
    ("GET", "/models/status", None, "read"),
    ("POST", "/models/retrain", None, "admin"),
    ("POST", "/ingest/batch", {"source": "app", "lines": ["x"]}, "write"),
    ("GET", "/blocklist", None, "read"),
    ("POST", "/decisions", {"value": "192.0.2.9"}, "admin"),
    ("DELETE", "/decisions/1", None, "admin"),
    ("GET", "/allowlist", None, "read"),
    ("POST", "/allowlist", {"kind": "ip", "value": "192.0.2.1"}, "admin"),
    ("DELETE", "/allowlist/1", None, "admin"),
    ("GET", "/exclusions", None, "read"),
    ("POST", "/exclusions", {"rule_id": "942100", "path_prefix": "/search"}, "admin"),
    ("DELETE", "/exclusions/1", None, "admin"),
    ("GET", "/keys", None, "admin"),
    ("POST", "/keys", {"name": "n", "scope": "read"}, "admin"),
    ("DELETE", "/keys/1", None, "admin"),
]
SMALLER = {"read": None, "write": "read", "admin": "write"}


def failures() -> float:
    return metrics.REGISTRY.get_sample_value("vigil_auth_failures_total") or 0.0


async def test_every_keyed_route_refuses_a_missing_or_wrong_key(api: Api) -> None:
    before = failures()
    for method, path, body, _ in ROUTES:
        for headers in ({}, {"X-API-Key": "vgl_000000000000_" + "A" * 43}, {"X-API-Key": "x"}):
            response = await api.client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert "X-API-Key" in response.json()["detail"]
    assert failures() == before + 3 * len(ROUTES)


async def test_every_route_refuses_a_scope_too_small(api: Api) -> None:
    keys = {scope: await api.key(scope) for scope in ("read", "write")}
    for method, path, body, needed in ROUTES:
        smaller = SMALLER[needed]
        if smaller is None:
            continue
        response = await api.client.request(method, path, json=body, headers=keys[smaller])
        assert response.status_code == 403, (method, path, response.text)
        assert isinstance(response.json()["detail"], str)


async def test_scopes_include_the_smaller_ones(api: Api) -> None:
    await insert_events([event_row()])
    for scope in ("read", "write", "admin"):
        response = await api.client.get("/threats", headers=await api.key(scope))
        assert response.status_code == 200
    assert (await api.client.get("/threats", headers=api.admin)).status_code == 200


async def test_a_revoked_key_stops_working(api: Api) -> None:
    secret = await make_key("read")
    headers = {"X-API-Key": secret}
    assert (await api.client.get("/threats", headers=headers)).status_code == 200
    async with get_db_context() as session:
        await revoke_key(session, secret.split("_")[1])
    assert (await api.client.get("/threats", headers=headers)).status_code == 401


async def test_a_key_with_a_changed_secret_is_refused(api: Api) -> None:
    secret = await make_key("admin")
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    response = await api.client.get("/threats", headers={"X-API-Key": forged})
    assert response.status_code == 401


async def test_keys_never_reach_the_logs(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = await make_key("admin")
    await api.client.get("/threats", headers={"X-API-Key": secret})
    await api.client.get("/threats", headers={"X-API-Key": secret + "x"})
    await api.client.post("/keys", json={"name": "ops", "scope": "read"}, headers=api.admin)
    assert secret not in caplog.text
    assert api.settings.api_admin_key is not None
    assert api.settings.api_admin_key.get_secret_value() not in caplog.text


async def test_public_routes_need_no_key(api: Api) -> None:
    for path in ("/health", "/ready", "/metrics", "/"):
        response = await api.client.get(path)
        assert response.status_code == 200, path
