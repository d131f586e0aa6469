"""The one place where database engines and sessions are made (DESIGN.md §3).

The engine is created lazily from settings on first use. `open_database` is the one way a
process opens its database (configured, checked, closed at the end); every driver (`vigil
scan` and `serve` through `open_pipeline`, the API's start-up, the worker, the CLI's database
commands) goes through it. `get_db` is the FastAPI dependency, `get_db_context` the same
contract for the CLI, background tasks and the pipeline: commit on success, roll back and
re-raise on error, always close.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from vigil.config import Settings, get_settings, redact_url
from vigil.errors import DatabaseUnavailableError

PG_SETTINGS = {
    # asyncpg prepares every statement; after five runs PostgreSQL may switch to a generic plan,
    # made without the parameter values, which for a skewed column (a site filter, a rare
    # severity) can be orders of magnitude slower than the custom plan it replaced. Planning each
    # run costs well under a millisecond here.
    "plan_cache_mode": "force_custom_plan",
    # JIT compilation costs tens of milliseconds and pays only for long analytic scans, which
    # vigil's reads (index ranges and rollups) never are.
    "jit": "off",
}


@dataclass
class _DbState:
    settings: Settings | None = None
    engine: AsyncEngine | None = None
    maker: async_sessionmaker[AsyncSession] | None = None
    users: int = 0
    """Open `open_database` blocks: the outermost one opens and closes the engine."""


_state = _DbState()


def configure_db(settings: Settings | None) -> None:
    """Use these settings for the next engine; `None` goes back to the process settings.

    Must be called before the engine exists or after `close_db()`.
    """
    if _state.engine is not None:
        raise RuntimeError("configure_db() called while an engine is open; call close_db() first")
    _state.settings = settings


def _settings() -> Settings:
    return _state.settings if _state.settings is not None else get_settings()


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_conn.cursor()
        # WAL lets the API read while the pipeline writes; the busy timeout makes a writer
        # wait for the other instead of failing at once.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    return on_connect


def build_engine(settings: Settings) -> AsyncEngine:
    """A new async engine for `settings`; callers other than this module should use `get_engine`."""
    url = settings.database_url
    if settings.is_sqlite:
        engine = create_async_engine(
            url,
            pool_pre_ping=settings.db_pool_pre_ping,
            pool_recycle=settings.db_pool_recycle,
            connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000},
        )
        event.listen(
            engine.sync_engine, "connect", _sqlite_pragmas(settings.sqlite_busy_timeout_ms)
        )
        return engine
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=settings.db_pool_pre_ping,
        pool_timeout=max(settings.db_connect_timeout, 1.0),
        connect_args={"timeout": settings.db_connect_timeout, "server_settings": PG_SETTINGS},
    )


def get_engine() -> AsyncEngine:
    """The process engine, created on first use."""
    if _state.engine is None:
        _state.engine = build_engine(_settings())
    return _state.engine


def get_sessionmaker() -> async_sessionmaker[AsyncSession]:
    """The process session factory, bound to `get_engine()`."""
    if _state.maker is None:
        _state.maker = async_sessionmaker(
            get_engine(), expire_on_commit=False, autoflush=False, class_=AsyncSession
        )
    return _state.maker


def async_session_maker() -> AsyncSession:
    """A new session from the process factory (the caller owns it)."""
    return get_sessionmaker()()


@asynccontextmanager
async def get_db_context() -> AsyncIterator[AsyncSession]:
    """A session that commits on success, rolls back and re-raises on error, always closes."""
    session = get_sessionmaker()()
    try:
        yield session
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    finally:
        await session.close()


async def get_db() -> AsyncIterator[AsyncSession]:
    """FastAPI dependency with the contract of `get_db_context`."""
    async with get_db_context() as session:
        yield session


if TYPE_CHECKING:
    from fastapi import Depends

    SessionDep = Annotated[AsyncSession, Depends(get_db)]
    """What endpoints declare to get a session with the contract of `get_db`."""


def __getattr__(name: str) -> Any:
    # SessionDep is built on first use, so that the CLI and the pipeline, which never serve
    # HTTP, do not import FastAPI (a good part of a second at start-up).
    if name == "SessionDep":
        from fastapi import Depends

        dependency = Annotated[AsyncSession, Depends(get_db)]
        globals()["SessionDep"] = dependency
        return dependency
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


async def init_db() -> None:
    """Check the database answers `SELECT 1`; fail fast with a message naming the redacted URL."""
    settings = _settings()
    engine = get_engine()
    timeout = settings.db_connect_timeout + 1.0
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except (TimeoutError, OSError, SQLAlchemyError) as exc:
        reason = _short_reason(exc)
        await close_db()
        raise DatabaseUnavailableError(
            f"cannot reach the database at {redact_url(settings.database_url)}: {reason}. "
            "Check VIGIL_DATABASE_URL and that the server is running."
        ) from None


async def close_db() -> None:
    """Dispose of the engine; the next use creates a new one."""
    engine, _state.engine, _state.maker = _state.engine, None, None
    if engine is not None:
        await engine.dispose()


@asynccontextmanager
async def open_database(
    settings: Settings | None = None,
    *,
    prepare: Callable[[Settings], Awaitable[None]] | None = None,
) -> AsyncIterator[None]:
    """The process database, open for the block: configured for `settings` (None: the
    configured or process settings), checked to answer (`init_db`), then `prepare(settings)`
    (e.g. a schema check) run; the engine is closed when the block ends.

    Within an open block for the same database (the API started inside `vigil serve`'s
    pipeline), a nested block shares it and the outer one closes it; another database while
    one is open is a programming error.
    """
    settings = settings or _settings()
    if _state.users:
        if settings.database_url != _settings().database_url:
            raise RuntimeError("open_database(): another database is already open")
        if prepare is not None:
            await prepare(settings)
        _state.users += 1
        try:
            yield
        finally:
            _state.users -= 1
        return
    # An engine made on first use (before any block) belongs to no one: it is replaced.
    await close_db()
    _state.settings = settings
    try:
        await init_db()
        if prepare is not None:
            await prepare(settings)
        _state.users = 1
        try:
            yield
        finally:
            _state.users = 0
    finally:
        # The settings stay configured: sessions made after the block (a test reading what
        # a run stored) open the same database again.
        await close_db()


def _short_reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer (timed out)"
    orig = getattr(exc, "orig", None) or exc.__cause__ or exc
    text_ = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return text_[:200]
