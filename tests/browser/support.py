"""What every browser test needs: the Chromium to drive, its flags, where screenshots go."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def chromium() -> str:
    """The browser to drive: `$VIGIL_CHROMIUM`, else `chromium` on the PATH (which `make test`
    installs from Debian's package where it can). Missing, the test skips with the reason, or
    fails where `VIGIL_BROWSER_REQUIRED=1` (CI), so CI never passes without running it."""
    configured = os.environ.get("VIGIL_CHROMIUM")
    if configured:
        found = configured if os.access(configured, os.X_OK) else None
        reason = f"VIGIL_CHROMIUM={configured} is not an executable file"
    else:
        found = shutil.which("chromium")
        reason = "no Chromium: install Debian's chromium package or set VIGIL_CHROMIUM"
    if found is not None:
        return found
    if os.environ.get("VIGIL_BROWSER_REQUIRED") == "1":
        pytest.fail(reason)
    pytest.skip(reason)
