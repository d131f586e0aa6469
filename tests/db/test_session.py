"""The session contract of DESIGN.md §3, on SQLite and real PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.conftest import make_settings
from vigil.config import Settings
from vigil.db.models import Site
from vigil.db.session import (
    SessionDep,
    close_db,
    configure_db,
    get_db_context,
    get_engine,
    init_db,
)
from vigil.errors import DatabaseUnavailableError


class Boom(RuntimeError):
    pass


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/sites/{name}")
    async def create(name: str, session: SessionDep) -> dict[str, str]:
        session.add(Site(name=name))
        await session.flush()
        return {"name": name}

    @app.post("/sites/{name}/fail")
    async def create_then_fail(name: str, session: SessionDep) -> dict[str, str]:
        session.add(Site(name=name))
        await session.flush()
        raise Boom("after the write")

    return app


async def _count(name: str) -> int:
    async with get_db_context() as session:
        return int(await session.scalar(select(func.count()).where(Site.name == name)) or 0)


def _checked_out() -> int:
    return int(get_engine().pool.checkedout())  # type: ignore[attr-defined]


async def test_get_db_commits_when_endpoint_succeeds(db: Settings) -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/sites/alpha")
    assert response.status_code == 200
    assert await _count("alpha") == 1
    assert _checked_out() == 0


async def test_get_db_rolls_back_when_endpoint_raises(db: Settings) -> None:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/sites/beta/fail")
    assert response.status_code == 500
    assert await _count("beta") == 0
    assert _checked_out() == 0


async def test_get_db_context_commits_on_success(db: Settings) -> None:
    async with get_db_context() as session:
        session.add(Site(name="gamma"))
    assert await _count("gamma") == 1
    assert _checked_out() == 0


async def test_get_db_context_rolls_back_and_reraises(db: Settings) -> None:
    with pytest.raises(Boom):
        async with get_db_context() as session:
            session.add(Site(name="delta"))
            await session.flush()
            raise Boom("inside the context")
    assert await _count("delta") == 0
    assert _checked_out() == 0


async def test_close_db_allows_reinitialising(db: Settings) -> None:
    await init_db()
    await close_db()
    await init_db()
    async with get_db_context() as session:
        session.add(Site(name="epsilon"))
    assert await _count("epsilon") == 1


async def _silent_server() -> tuple[asyncio.AbstractServer, int]:
    """A TCP server that accepts connections and never answers: a hung database."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port


@pytest.mark.parametrize("hung", [False, True], ids=["refused", "no-answer"])
async def test_init_db_fails_fast_on_unreachable_postgres(hung: bool) -> None:
    server = None
    port = 1
    if hung:
        server, port = await _silent_server()
    settings = make_settings(
        f"postgresql+asyncpg://vigil:s3cret@127.0.0.1:{port}/vigil", db_connect_timeout=2.0
    )
    configure_db(settings)
    started = time.monotonic()
    try:
        with pytest.raises(DatabaseUnavailableError) as info:
            await init_db()
    finally:
        elapsed = time.monotonic() - started
        await close_db()
        configure_db(None)
        if server is not None:
            server.close()
    message = str(info.value)
    assert elapsed < 5.0
    assert f"127.0.0.1:{port}/vigil" in message
    assert "s3cret" not in message
    assert "***" in message
