"""What the behaviour stage keeps for one site: its client table, login campaigns, site-wide
error counters, learned per-class baselines, and the long windows and campaign targets. The
engine updates it; the snapshot codec writes and reads it."""

from __future__ import annotations

from vigil.detect.behaviour.campaigns import CampaignTable
from vigil.detect.behaviour.config import SlowConfig
from vigil.detect.behaviour.slow import SlowWatch
from vigil.detect.behaviour.windows import ClientTable

__all__ = ["SiteState"]

# Baseline of a client class is trusted only after this many client windows were seen.
_BASELINE_MIN_SAMPLES = 50


class SiteState:
    """Everything the behaviour stage keeps for one site."""

    __slots__ = (
        "baseline_samples",
        "baselines",
        "campaigns",
        "clock",
        "err_5xx",
        "err_5xx_prev",
        "err_req",
        "err_req_prev",
        "err_start",
        "name",
        "slow",
        "table",
    )

    def __init__(self, name: str, max_groups: int, slow: SlowConfig | None = None) -> None:
        self.name = name
        self.slow = SlowWatch(slow or SlowConfig())
        self.table = ClientTable()
        self.clock = 0
        self.baselines: list[float] = [0.0, 0.0, 0.0]
        self.baseline_samples: list[int] = [0, 0, 0]
        self.campaigns = CampaignTable(max_groups)
        self.err_start = 0
        self.err_req = self.err_5xx = 0
        self.err_req_prev = self.err_5xx_prev = 0

    def roll_site(self, t: int, gen: int) -> None:
        """Start a new generation of the site-wide request and 5xx counters."""
        if t < self.err_start + 2 * gen:
            self.err_req_prev, self.err_5xx_prev = self.err_req, self.err_5xx
        else:
            self.err_req_prev = self.err_5xx_prev = 0
        self.err_req = self.err_5xx = 0
        self.err_start = t - t % gen

    def baseline(self, cls: int) -> float | None:
        """Learned requests per short window of a typical client of class `cls`."""
        if self.baseline_samples[cls] < _BASELINE_MIN_SAMPLES:
            return None
        return self.baselines[cls]
