"""Shared fixtures: a fresh database per test on SQLite, and on a uniquely named PostgreSQL
database when VIGIL_TEST_POSTGRES_URL is set (CI and `make test` set it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from vigil.config import Settings, load_settings

POSTGRES_ADMIN_URL = os.environ.get("VIGIL_TEST_POSTGRES_URL", "")
REDIS_TEST_URL = os.environ.get("VIGIL_TEST_REDIS_URL", "")


def unique_redis_prefix() -> str:
    """A key and channel prefix of its own, so test runs sharing one Redis never see each
    other's alerts (pub/sub ignores database numbers)."""
    return f"vigil-test-{uuid.uuid4().hex[:12]}"


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _require_postgres() -> str:
    if not POSTGRES_ADMIN_URL:
        pytest.fail(
            "VIGIL_TEST_POSTGRES_URL is not set; run the suite through `make test`, "
            "which points it at the local PostgreSQL"
        )
    return POSTGRES_ADMIN_URL


async def _admin_execute(sql: str) -> None:
    import asyncpg

    url = make_url(_require_postgres())
    conn = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database or "postgres",
        timeout=5,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def fresh_postgres() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    name = f"vigil_test_{uuid.uuid4().hex[:16]}"
    await _admin_execute(f'CREATE DATABASE "{name}"')
    url = make_url(_require_postgres()).set(drivername="postgresql+asyncpg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def postgres_database() -> AsyncIterator[str]:
    async with fresh_postgres() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'vigil-test.db'}"
        return
    async with fresh_postgres() as url:
        yield url


def make_settings(database_url: str, **overrides: object) -> Settings:
    return load_settings(database_url=database_url, **overrides)


@asynccontextmanager
async def configured_with_schema(settings: Settings) -> AsyncIterator[Settings]:
    """The session module configured for `settings`' database, with the schema created."""
    from vigil.db.models import Base
    from vigil.db.session import close_db, configure_db, get_engine

    configure_db(settings)
    async with get_engine().begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield settings
    finally:
        await close_db()
        configure_db(None)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Settings]:
    """The session module configured for a fresh database with the schema created."""
    async with configured_with_schema(make_settings(database_url)) as settings:
        yield settings
