"""Finding 3: inputs that made the API answer 500 (and drop the keep-alive connection) are
4xx with a message, and an unexpected error leaves the connection usable."""

from __future__ import annotations

import asyncio
import base64

import orjson
from pydantic import SecretStr

from tests.api.conftest import Api
from tests.api.server import serving
from vigil.api.app import create_app
from vigil.config import Settings

ADMIN = "keepalive-admin-key-0123456789abcdef"


def cursor(sort: str, value: object, row_id: int = 1) -> str:
    raw = orjson.dumps([sort, value, row_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_cursor_with_a_date_out_of_range_is_422(api: Api) -> None:
    late = "9999-12-31T23:59:59-14:00"
    for path, sort in (("/threats", "-observed_at"), ("/incidents", "-last_seen")):
        response = await api.client.get(
            path, params={"cursor": cursor(sort, late), "sort": sort}, headers=api.admin
        )
        assert response.status_code == 422, (path, response.text)
        assert "cursor" in response.json()["detail"]


async def test_blank_key_name_is_422(api: Api) -> None:
    for name in ("   ", "\t"):
        response = await api.client.post(
            "/keys", json={"name": name, "scope": "read"}, headers=api.admin
        )
        assert response.status_code == 422, response.text


async def _exchange(host: str, requests: list[bytes]) -> list[bytes]:
    """Send requests one after another on one connection; returns each response's head."""
    address, port = host.split(":")
    reader, writer = await asyncio.open_connection(address, int(port))
    heads: list[bytes] = []
    try:
        for request in requests:
            writer.write(request)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await asyncio.wait_for(reader.readexactly(length), 10)
            heads.append(head)
    finally:
        writer.close()
    return heads


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: vigil\r\nX-API-Key: {ADMIN}\r\n\r\n".encode()


async def test_the_connection_survives_a_refused_request_and_an_internal_error(
    db: Settings,
) -> None:
    app = create_app(db.model_copy(update={"api_admin_key": SecretStr(ADMIN)}))

    @app.get("/boom", include_in_schema=False)
    async def boom() -> None:
        raise RuntimeError("a bug")

    bad_cursor = cursor("-observed_at", "9999-12-31T23:59:59-14:00")
    async with serving(app) as host:
        heads = await _exchange(
            host,
            [_get(f"/threats?cursor={bad_cursor}"), _get("/boom"), _get("/health")],
        )
    assert heads[0].startswith(b"HTTP/1.1 422")
    assert heads[1].startswith(b"HTTP/1.1 500")
    assert heads[2].startswith(b"HTTP/1.1 200")
