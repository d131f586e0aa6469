"""Finding 10: POST /models/retrain works under `vigil serve` (it answered 503 "training not
available in this process" although the README says retraining hot-swaps the model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.api.server import free_port

ADMIN = "retrain-admin-key-0123456789abcdef"


def _call(port: int, method: str, path: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method, headers={"X-API-Key": ADMIN}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_retrain_is_available_and_starts_under_serve(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "VIGIL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'vigil.db'}",
        "VIGIL_API_ADMIN_KEY": ADMIN,
        "VIGIL_PORT": str(port),
        "VIGIL_STATE_DIR": str(tmp_path),
        "VIGIL_MODEL_DIR": str(tmp_path / "models"),
        "VIGIL_LOG_PATHS": "",
    }
    vigil = str(Path(sys.executable).with_name("vigil"))
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([vigil, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _call(port, "GET", "/health")
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "vigil serve did not start"
                time.sleep(0.2)
        status, body = _call(port, "GET", "/models/status")
        assert status == 200 and body["retrain_available"] is True
        status, body = _call(port, "POST", "/models/retrain")
        assert status == 202, body
        job = body["job_id"]
        status, body = _call(port, "GET", "/models/status")
        assert body["retrain"]["id"] == job
        assert body["retrain"]["status"] in ("running", "succeeded"), body
    finally:
        server.terminate()
        server.wait(30)
