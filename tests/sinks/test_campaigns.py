"""Campaign incidents through the real commands: a slow botnet's log scanned into a fresh
database (SQLite and PostgreSQL, schema by the migrations), one campaign incident listing its
members, each member blocked with the campaign as its reason, and `vigil incidents` showing it.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vigil.simulate.scenarios import ScenarioRequest, format_combined

START = datetime(2026, 3, 2, tzinfo=UTC)


def _vigil(*args: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(VIGIL_DATABASE_URL=database_url, VIGIL_RETENTION_DAYS="0")
    result = subprocess.run(
        [sys.executable, "-m", "vigil", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def _write_botnet(path: Path, clients: int, *, late: int = 0) -> set[str]:
    """`clients` addresses POSTing /xmlrpc.php (404) a few times an hour over two days, and
    `late` more that start on the third day."""
    rng = random.Random(21)
    requests = []
    members = set()
    for n in range(clients + late):
        ip = f"198.18.{n % 200}.{n // 200 + 1}"
        members.add(ip)
        t = START + timedelta(seconds=rng.uniform(0, 6 * 3600) + (50 * 3600 if n >= clients else 0))
        for _ in range(rng.randint(8, 20)):
            requests.append(
                ScenarioRequest(t, ip, "POST", "/xmlrpc.php", 404, 150, "Mozilla/5.0 (X11)")
            )
            t += timedelta(seconds=rng.uniform(900, 5400))
    # Ordinary visitors on the same site.
    for n in range(40):
        t = START + timedelta(seconds=rng.uniform(0, 50 * 3600))
        ip = f"192.0.2.{n + 1}"
        for page in ("/", "/static/site.css", "/blog/post-1", "/login"):
            requests.append(ScenarioRequest(t, ip, "GET", page, 200, 900, "Mozilla/5.0 (X11)"))
            t += timedelta(seconds=4)
        requests.append(ScenarioRequest(t, ip, "POST", "/login", 302, 0, "Mozilla/5.0 (X11)"))
    requests.sort(key=lambda r: r.at)
    path.write_text("".join(format_combined(r) + "\n" for r in requests))
    return members


def _show(incident: int, database_url: str, cwd: Path) -> dict[str, Any]:
    shown = _vigil("incidents", "show", str(incident), "--json", database_url=database_url, cwd=cwd)
    return dict(json.loads(shown.stdout))


def test_a_slow_botnet_is_one_campaign_incident_and_every_member_is_blocked(
    database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    members = _write_botnet(log, 30, late=4)
    _vigil("db", "upgrade", database_url=database_url, cwd=tmp_path)
    _vigil("scan", str(log), database_url=database_url, cwd=tmp_path)

    listed = _vigil(
        "incidents", "list", "--campaigns", "--json", database_url=database_url, cwd=tmp_path
    )
    campaigns = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [c["campaign"] for c in campaigns] == ["POST /xmlrpc.php 404"]
    shown = _show(campaigns[0]["id"], database_url, tmp_path)
    assert shown["client"] == "*"
    assert shown["severity"] == "HIGH"
    # Every member, including the four that joined on the third day, and nobody else.
    assert {m["client"] for m in shown["members"]} == members
    assert all(m["hits"] >= 3 for m in shown["members"])
    blocked = {d["value"]: d["reason"] for d in shown["decisions"]}
    assert set(blocked) == members
    assert all(r.startswith(f"campaign #{shown['id']}: ") for r in blocked.values())
    assert shown["summary"].startswith("campaign: 34 clients, ")
    assert "POST /xmlrpc.php → 404" in shown["summary"]

    # The visitors are in no incident, and the blocklist holds exactly the members.
    exported = _vigil(
        "blocklist", "export", "--format", "json", database_url=database_url, cwd=tmp_path
    )
    values = {json.loads(line)["value"] for line in exported.stdout.splitlines()}
    assert not any(v.startswith("192.0.2.") for v in values)
    text = _vigil("incidents", "show", str(shown["id"]), database_url=database_url, cwd=tmp_path)
    assert "campaign POST /xmlrpc.php 404" in text.stdout
    assert "members (34)" in text.stdout


def test_scanning_the_log_again_adds_no_members_or_decisions(
    database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    _write_botnet(log, 12)
    _vigil("db", "upgrade", database_url=database_url, cwd=tmp_path)
    _vigil("scan", str(log), database_url=database_url, cwd=tmp_path)
    listed = _vigil(
        "incidents", "list", "--campaigns", "--json", database_url=database_url, cwd=tmp_path
    )
    first = _show(json.loads(listed.stdout.splitlines()[0])["id"], database_url, tmp_path)
    _vigil("scan", str(log), database_url=database_url, cwd=tmp_path)
    again = _show(first["id"], database_url, tmp_path)
    assert again["events"] == first["events"]
    assert len(again["decisions"]) == len(first["decisions"]) == 12
    assert [m["client"] for m in again["members"]] == [m["client"] for m in first["members"]]


def test_show_of_a_missing_incident_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'v.db'}"
    _vigil("db", "upgrade", database_url=url, cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["VIGIL_DATABASE_URL"] = url
    result = subprocess.run(
        [sys.executable, "-m", "vigil", "incidents", "show", "999"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "no incident 999"
