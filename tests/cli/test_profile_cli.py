"""`vigil train --baseline FILE --site S`, `vigil profile show|export|reset` and the profile's
verdict in `vigil rules explain`, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from vigil.simulate.scenarios import format_combined
from vigil.simulate.site import site_day


def _vigil(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["VIGIL_DATABASE_URL"] = f"sqlite+aiosqlite:///{cwd / 'vigil.db'}"
    return subprocess.run(
        [sys.executable, "-m", "vigil", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def test_train_show_explain_export_reset(tmp_path: Path) -> None:
    log = tmp_path / "shop.log"
    log.write_text("\n".join(format_combined(r) for r in site_day(8000, day_seed=9)) + "\n")
    trained = _vigil("train", "--baseline", str(log), "--site", "shop", "--json", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    result = json.loads(trained.stdout)
    assert result["site"] == "shop" and result["records"] == 8000
    assert result["learned"] > 7000 and result["endpoints"] >= 40

    shown = _vigil("profile", "show", "--site", "shop", "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["judging"] and summary["trained"]
    login = next(
        e for e in summary["endpoints"] if e["template"] == "/tienda/publico/autenticar.jsp"
    )
    assert set(login["parameters"]) == {"modo", "login", "pwd", "remember", "B1"}
    assert login["parameters"]["remember"]["values"] == ["off", "on"]

    line = (
        '198.51.100.7 - - [02/Oct/2024:10:00:00 +0000] "GET /tienda/publico/autenticar.jsp?'
        'modo=entrar&login=ana1&pwdA=Xy7pQ2rTz&remember=on&B1=Entrar HTTP/1.1" 200 900 "-" "M"'
    )
    explained = _vigil("rules", "explain", line, "--site", "shop", "--json", cwd=tmp_path)
    assert explained.returncode == 0, explained.stderr
    profile = json.loads(explained.stdout)["profile"]
    assert profile["score"] >= 0.5
    assert profile["reasons"][0].startswith(
        "parameter `pwdA` never seen on `/tienda/publico/autenticar.jsp` in "
    )
    text = _vigil("rules", "explain", line, "--site", "shop", cwd=tmp_path)
    assert "parameter `pwdA` never seen" in text.stdout

    exported = _vigil("profile", "export", "--site", "shop", cwd=tmp_path)
    assert exported.returncode == 0 and json.loads(exported.stdout)["site"] == "shop"

    assert _vigil("profile", "reset", "--site", "shop", cwd=tmp_path).returncode == 0
    gone = _vigil("profile", "show", "--site", "shop", cwd=tmp_path)
    assert gone.returncode != 0 and "no profile stored for site 'shop'" in gone.stderr
    assert "Traceback" not in gone.stderr
