"""Reachability checks of the database and the broker, shared by `vigil health` and `/ready`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from vigil.config import Settings, redact_url
from vigil.db.session import open_database
from vigil.errors import VigilError


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


async def check_database(settings: Settings) -> Check:
    try:
        async with open_database(settings):
            pass
    except VigilError as exc:
        return Check("database", False, str(exc))
    return Check("database", True, redact_url(settings.database_url))


async def check_redis(settings: Settings) -> Check | None:
    """None when no Redis is configured (the in-process broker needs no check)."""
    if not settings.redis_url:
        return None
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    url = redact_url(settings.redis_url)
    client = Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.db_connect_timeout,
        socket_timeout=settings.db_connect_timeout,
    )
    try:
        async with asyncio.timeout(settings.db_connect_timeout + 1):
            await client.ping()
    except (RedisError, OSError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        return Check("redis", False, f"cannot reach Redis at {url}: {reason}")
    finally:
        await client.aclose()
    return Check("redis", True, url)


async def run_checks(settings: Settings) -> list[Check]:
    checks = [await check_database(settings)]
    redis_check = await check_redis(settings)
    if redis_check is not None:
        checks.append(redis_check)
    return checks
