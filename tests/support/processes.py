"""Stopping a `vigil serve` started by a test the way an operator would."""

from __future__ import annotations

import signal
import subprocess


def terminate(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM (a graceful stop that drains the pipeline), then SIGKILL if it hangs."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
