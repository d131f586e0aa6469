"""Process-wide tuning for long batch workloads.

vigil allocates millions of short-lived records, and CPython's default collector thresholds
then spend a third of the parse time walking objects that live forever (compiled rules, user
agent tables, models). Freezing what exists after start-up and collecting the young
generation less often removes that cost; objects still die by reference counting as usual.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

GEN0_THRESHOLD = 50_000
OLDER_THRESHOLD = 50


def tune_gc() -> None:
    """Move everything alive now out of the collector's sight and raise its thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)


def cache_dir() -> Path:
    """Where vigil keeps what it can rebuild but would rather not at every start (compiled
    matcher databases): `VIGIL_CACHE_DIR`, else `$XDG_CACHE_HOME/vigil`, else
    `~/.cache/vigil`."""
    explicit = os.environ.get("VIGIL_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vigil"
