"""POST /ingest/batch: accepted into the pipeline, or refused loudly (413, 429, 503)."""

from __future__ import annotations

import httpx

from tests.api.conftest import Api
from vigil.api.app import create_app
from vigil.config import Settings


async def test_lines_reach_the_pipeline(api: Api) -> None:
    response = await api.client.post(
        "/ingest/batch",
        json={"source": "edge-1", "lines": ['1.2.3.4 - - "GET / HTTP/1.1" 200 1', "é\x00"]},
        headers=await api.key("write"),
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 2, "site": api.settings.site}
    source, lines, site = api.pipeline.submitted[0]
    assert source == "edge-1" and site == api.settings.site
    assert lines[1] == "é\x00".encode()


async def test_site_limited_key_ingests_into_its_site(api: Api) -> None:
    headers = await api.key("write", ["alpha"])
    ok = await api.client.post(
        "/ingest/batch", json={"source": "a", "lines": ["x"]}, headers=headers
    )
    assert ok.json()["site"] == "alpha"
    other = await api.client.post(
        "/ingest/batch", json={"source": "a", "lines": ["x"], "site": "beta"}, headers=headers
    )
    assert other.status_code == 403


async def test_saturated_pipeline_answers_429_with_retry_after(api: Api) -> None:
    api.pipeline.accept = False
    response = await api.client.post(
        "/ingest/batch", json={"source": "a", "lines": ["x"]}, headers=await api.key("write")
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert "retry" in response.json()["detail"]


async def test_too_many_lines_or_bytes_is_413(api: Api) -> None:
    headers = await api.key("write")
    lines = await api.client.post(
        "/ingest/batch", json={"source": "a", "lines": ["x"] * 101}, headers=headers
    )
    assert lines.status_code == 413
    big = await api.client.post(
        "/ingest/batch", json={"source": "a", "lines": ["x" * 70_000]}, headers=headers
    )
    assert big.status_code == 413
    assert "limit" in big.json()["detail"]

    async def chunks():  # no Content-Length: the limit holds for streamed bodies too
        yield b'{"source": "a", "lines": ["'
        for _ in range(100):
            yield b"y" * 1000
        yield b'"]}'

    streamed = await api.client.post(
        "/ingest/batch",
        content=chunks(),
        headers={**headers, "content-type": "application/json"},
    )
    assert streamed.status_code == 413
    assert api.pipeline.submitted == []


async def test_bad_bodies_are_422(api: Api) -> None:
    headers = await api.key("write")
    for body in (
        {"lines": ["x"]},
        {"source": "a"},
        {"source": "a", "lines": "x"},
        {"source": "a", "lines": [1]},
        {"source": "../../etc", "lines": ["x"]},
        {"source": "a", "lines": ["x"], "site": "' OR 1=1--"},
    ):
        response = await api.client.post("/ingest/batch", json=body, headers=headers)
        assert response.status_code == 422, body
    garbage = await api.client.post(
        "/ingest/batch",
        content=b"\xff\xfe{",
        headers={**headers, "content-type": "application/json"},
    )
    assert garbage.status_code in (400, 422)
    assert "detail" in garbage.json()


async def test_without_a_pipeline_is_503(db: Settings) -> None:
    from pydantic import SecretStr

    app = create_app(db.model_copy(update={"api_admin_key": SecretStr("k" * 20)}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                "/ingest/batch",
                json={"source": "a", "lines": ["x"]},
                headers={"X-API-Key": "k" * 20},
            )
    assert response.status_code == 503
