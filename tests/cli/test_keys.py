"""`vigil keys create|list|revoke` against a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli.app import app
from vigil.config import get_settings
from vigil.db import migrate


def test_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    get_settings.cache_clear()
    try:
        migrate.upgrade("head", get_settings())
        runner = CliRunner()
        created = runner.invoke(
            app, ["keys", "create", "--name", "siem", "--scope", "read", "--site", "shop"]
        )
        assert created.exit_code == 0, created.output
        secret = created.stdout.strip().splitlines()[0]
        assert secret.startswith("vgl_")

        listed = runner.invoke(app, ["keys", "list", "--json"])
        rows = json.loads(listed.stdout)
        assert [(r["name"], r["scope"], r["sites"]) for r in rows] == [("siem", "read", ["shop"])]
        assert secret not in listed.stdout

        revoked = runner.invoke(app, ["keys", "revoke", rows[0]["prefix"]])
        assert revoked.exit_code == 0
        listed = json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)
        assert listed[0]["revoked_at"] is not None

        assert runner.invoke(app, ["keys", "revoke", "nope"]).exit_code == 1
        bad = runner.invoke(app, ["keys", "create", "--name", "x", "--scope", "root"])
        assert bad.exit_code == 2
    finally:
        get_settings.cache_clear()
