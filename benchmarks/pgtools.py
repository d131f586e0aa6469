"""Throwaway PostgreSQL databases for the benchmarks that store events."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url


async def connect(url: str) -> Any:
    """A raw asyncpg connection to `url` (any SQLAlchemy-style PostgreSQL URL)."""
    u = make_url(url)
    return await asyncpg.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password,
        database=u.database or "postgres",
    )


async def execute(url: str, sql: str) -> None:
    conn = await connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def fetchval(url: str, sql: str) -> Any:
    conn = await connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def create_database(admin_url: str) -> tuple[str, str]:
    """A new, empty database on the server of `admin_url`: its name and async URL."""
    name = f"vigil_bench_{uuid.uuid4().hex[:10]}"
    # The name is made here from hex digits only, so quoting it is safe.
    await execute(admin_url, f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(drivername="postgresql+asyncpg", database=name)
    return name, url.render_as_string(hide_password=False)


async def drop_database(admin_url: str, name: str) -> None:
    await execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def vigil_env(**settings: str) -> dict[str, str]:
    """This process's environment without its own VIGIL_ settings, plus `settings`
    (VIGIL_DATABASE_URL=…): what a benchmark runs `vigil` with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(settings)
    return env


def migrate(env: dict[str, str]) -> None:
    """`vigil db upgrade` on the database `env` names."""
    subprocess.run(
        [sys.executable, "-m", "vigil", "db", "upgrade"], env=env, check=True, capture_output=True
    )
