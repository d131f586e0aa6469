"""A fresh SQLite database per browser test, made through the real session layer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import make_settings
from vigil.db.models import Base
from vigil.db.session import close_db, configure_db, get_engine


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dashboard.db'}"
    configure_db(make_settings(url))
    async with get_engine().begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield url
    finally:
        await close_db()
        configure_db(None)
