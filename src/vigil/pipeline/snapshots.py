"""Behaviour windows (and the probe families each site serves) kept across restarts: restored
when a pipeline starts, written every `VIGIL_BEHAVIOUR_SNAPSHOT_SECONDS` while it runs and once
more after its last batch, so an attack in progress across a restart is still seen (see
vigil.detect.behaviour.engine).

Files are replaced whole (written beside, then renamed): a crash mid-write leaves the last
complete snapshot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from vigil.errors import VigilError
from vigil.pipeline.analyze import Analyzer

__all__ = ["SNAPSHOT_FILE", "SnapshotKeeper"]

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "vigil-behaviour.state"
SERVED_FILE = "vigil-served.json"


class SnapshotKeeper:
    """Restores and saves the analyzer's cross-batch state in `path` (and beside it)."""

    def __init__(self, analyzer: Analyzer, path: Path, every_seconds: float) -> None:
        self.analyzer = analyzer
        self.path = path
        self.served_path = path.with_name(SERVED_FILE)
        self.every_seconds = every_seconds
        self._last = time.monotonic()

    def restore(self) -> None:
        """Pick up the state where the last run left it (nothing if it left none)."""
        served = self.analyzer.served.served
        if self.served_path.exists():
            try:
                families = served.restore(self.served_path.read_bytes())
                log.info("event=served_probes_restored families=%d", families)
            except (OSError, VigilError) as exc:
                log.warning("event=served_restore_failed path=%s error=%s", self.served_path, exc)
        if not self.path.exists():
            return
        try:
            clients = self.analyzer.restore_behaviour(self.path.read_bytes())
        except (OSError, VigilError) as exc:
            log.warning("event=behaviour_restore_failed path=%s error=%s", self.path, exc)
            return
        log.info("event=behaviour_restored clients=%d", clients)

    def maybe_save(self, force: bool = False) -> None:
        """Save the state if the interval has passed since the last save (or `force`)."""
        now = time.monotonic()
        if not force and now - self._last < self.every_seconds:
            return
        self._last = now
        targets: list[tuple[Path, Callable[[], bytes]]] = [
            (self.path, self.analyzer.behaviour_snapshot),
            (self.served_path, self.analyzer.served.served.snapshot),
        ]
        for target, data in targets:
            tmp = target.with_name(target.name + ".tmp")
            try:
                tmp.write_bytes(data())
                tmp.replace(target)
            except OSError as exc:
                log.warning("event=behaviour_snapshot_failed path=%s error=%s", target, exc)
