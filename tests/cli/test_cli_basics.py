"""The CLI skeleton as a user runs it: exit codes and one-line errors, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _vigil(
    *args: str, env: dict[str, str] | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "vigil", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=60,
    )


def test_bad_setting_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _vigil("config", env={"VIGIL_PORT": "not-a-port"}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "VIGIL_PORT" in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_database_url_names_what_is_allowed(tmp_path: Path) -> None:
    result = _vigil("health", env={"VIGIL_DATABASE_URL": "mysql://x"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "VIGIL_DATABASE_URL" in result.stderr
    assert "postgresql+asyncpg" in result.stderr


def test_config_redacts_secrets(tmp_path: Path) -> None:
    env = {
        "VIGIL_DATABASE_URL": "postgresql+asyncpg://vigil:hunter2@db.example:5432/vigil",
        "VIGIL_API_ADMIN_KEY": "topsecretkey",
    }
    result = _vigil("config", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout
    assert "topsecretkey" not in result.stdout
    assert "vigil:***@db.example" in result.stdout


def test_health_and_migrations_on_embedded_default(tmp_path: Path) -> None:
    upgraded = _vigil("db", "upgrade", cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (tmp_path / "vigil.db").exists()
    current = _vigil("db", "current", cwd=tmp_path)
    assert "up to date" in current.stdout
    healthy = _vigil("health", cwd=tmp_path)
    assert healthy.returncode == 0, healthy.stderr
    assert "ok" in healthy.stdout


def test_health_reports_unreachable_database(tmp_path: Path) -> None:
    env = {"VIGIL_DATABASE_URL": "postgresql+asyncpg://u:pw@127.0.0.1:1/x"}
    result = _vigil("health", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot reach the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_version(tmp_path: Path) -> None:
    result = _vigil("version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("vigil ")


def test_db_prune_removes_what_is_past_retention(tmp_path: Path) -> None:
    log = tmp_path / "old.log"
    log.write_text(
        '203.0.113.7 - - [01/Mar/2024:10:00:00 +0000] "GET /search?q=%27%20union%20select%20'
        'password%20from%20users-- HTTP/1.1" 200 10 "-" "sqlmap/1.7"\n'
    )
    scanned = _vigil(
        "scan", str(log), "-o", "json", env={"VIGIL_DETECTION_MODE": "rules"}, cwd=tmp_path
    )
    assert scanned.returncode == 0, scanned.stderr
    assert '"stored_events": 1' in scanned.stdout
    forever = {"VIGIL_RETENTION_DAYS": "0", "VIGIL_ROLLUP_RETENTION_DAYS": "0"}
    kept = _vigil("db", "prune", "--json", env=forever, cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr
    assert '"rows_deleted": {}' in kept.stdout
    pruned = _vigil("db", "prune", cwd=tmp_path)
    assert pruned.returncode == 0, pruned.stderr
    assert "rows deleted from threat_events: 1" in pruned.stdout


def test_bad_retention_names_both_settings(tmp_path: Path) -> None:
    env = {"VIGIL_RETENTION_DAYS": "30", "VIGIL_ROLLUP_RETENTION_DAYS": "7"}
    result = _vigil("config", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert (
        "VIGIL_ROLLUP_RETENTION_DAYS" in result.stderr and "VIGIL_RETENTION_DAYS" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_simulate_writes_the_day_asked_for(tmp_path: Path) -> None:
    result = _vigil(
        "simulate", "--out", "a.log", "--lines", "200", "--seed", "3", "--start", "2025-01-02",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "a.log").read_text().splitlines()
    assert lines
    assert all("/Jan/2025:" in line for line in lines)
    assert lines[0].split("[", 1)[1].startswith("02/Jan/2025:00:00")


def test_simulate_rejects_a_start_that_is_not_a_day(tmp_path: Path) -> None:
    result = _vigil("simulate", "--out", "a.log", "--start", "next tuesday", cwd=tmp_path)
    assert result.returncode == 2
    assert "--start" in result.stderr
    assert "YYYY-MM-DD" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "a.log").exists()
