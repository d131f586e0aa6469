"""Site-wide windows over one login endpoint, for credential stuffing across many clients.

One window is kept per endpoint for the whole site and, when enrichment names a group (an ASN
or a country), one per endpoint and group; group windows are capped and dropped least recently
used first. Clients per generation are capped too, so a run over millions of addresses costs a
bounded amount of memory (the distinct count then saturates at the cap, which is far above any
threshold).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from vigil.detect.behaviour.events import epoch_to_iso, escalating_score

SAMPLE_CLIENTS = 10


class LoginCampaign:
    """Attempts, failures and distinct clients at one endpoint over a long window."""

    __slots__ = (
        "attempts",
        "attempts_prev",
        "clients",
        "clients_prev",
        "distinct",
        "failures",
        "failures_prev",
        "fired",
        "start",
    )

    def __init__(self, t: int, gen: int) -> None:
        self.start = t - t % gen
        self.attempts = self.failures = 0
        self.attempts_prev = self.failures_prev = 0
        self.clients: dict[str, int] = {}
        self.clients_prev: dict[str, int] = {}
        self.distinct = 0
        # [last time the condition held, level at last firing, firings] once it fired.
        self.fired: list[float] | None = None

    def add(self, t: int, gen: int, client: str, failed: bool, cap: int) -> None:
        """Count one login attempt by `client` at event time `t`."""
        if t >= self.start + gen:
            if t < self.start + 2 * gen:
                self.attempts_prev, self.failures_prev = self.attempts, self.failures
                self.clients_prev = self.clients
            else:
                self.attempts_prev = self.failures_prev = 0
                self.clients_prev = {}
            self.attempts = self.failures = 0
            self.clients = {}
            self.distinct = len(self.clients_prev)
            self.start = t - t % gen
        self.attempts += 1
        if failed:
            self.failures += 1
        seen = self.clients.get(client)
        if seen is not None:
            self.clients[client] = seen + 1
        elif len(self.clients) < cap:
            self.clients[client] = 1
            if client not in self.clients_prev:
                self.distinct += 1

    def totals(self) -> tuple[int, int, int]:
        """(attempts, failures, distinct clients) over the window."""
        return (
            self.attempts + self.attempts_prev,
            self.failures + self.failures_prev,
            self.distinct,
        )

    def sample_clients(self) -> list[str]:
        """A few of the clients seen, most recent generation first."""
        out: list[str] = []
        for table in (self.clients, self.clients_prev):
            for ip in table:
                if len(out) >= SAMPLE_CLIENTS:
                    return out
                if ip not in out:
                    out.append(ip)
        return out

    def to_state(self) -> list[Any]:
        return [
            self.start,
            self.attempts,
            self.failures,
            self.attempts_prev,
            self.failures_prev,
            self.clients,
            self.clients_prev,
            self.distinct,
            self.fired,
        ]

    @classmethod
    def from_state(cls, state: list[Any], gen: int) -> LoginCampaign:
        campaign = cls(int(state[0]), gen)
        campaign.start = int(state[0])
        campaign.attempts, campaign.failures = int(state[1]), int(state[2])
        campaign.attempts_prev, campaign.failures_prev = int(state[3]), int(state[4])
        campaign.clients = {str(k): int(v) for k, v in state[5].items()}
        campaign.clients_prev = {str(k): int(v) for k, v in state[6].items()}
        campaign.distinct = int(state[7])
        campaign.fired = episode_state(state[8]) if state[8] is not None else None
        return campaign


def episode_state(values: list[Any]) -> list[float]:
    """An episode's [last time, level, firings] from a snapshot, numbers kept as they were.

    Live episodes hold ints and floats side by side (times are whole seconds); keeping each
    number's type makes a restored state encode to the same bytes as the one it came from.
    """
    out: list[float] = []
    for x in values:
        if type(x) is not int and type(x) is not float:
            raise ValueError(f"episode value {x!r} is not a number")
        out.append(x)
    return out


def stuffing_finding(
    campaign: LoginCampaign,
    *,
    endpoint: str,
    group: str | None,
    min_clients: int,
    min_failure_ratio: float,
    max_attempts_per_client: float,
    window_seconds: int,
    t: int,
) -> tuple[float, float, dict[str, Any]] | None:
    """(level, score, evidence) when the campaign looks like credential stuffing, else None."""
    attempts, failures, clients = campaign.totals()
    if clients < min_clients or attempts == 0:
        return None
    ratio = failures / attempts
    per_client = attempts / clients
    if ratio < min_failure_ratio or per_client > max_attempts_per_client:
        return None
    evidence: dict[str, Any] = {
        "window_seconds": window_seconds,
        "window_end": epoch_to_iso(t),
        "endpoint": endpoint,
        "group": group,
        "distinct_clients": clients,
        "login_attempts": attempts,
        "login_failures": failures,
        "failure_ratio": round(ratio, 3),
        "attempts_per_client": round(per_client, 2),
        "threshold_clients": min_clients,
        "sample_clients": campaign.sample_clients(),
    }
    return clients, escalating_score(0.75, clients, min_clients), evidence


class CampaignTable:
    """Login campaigns of one site, keyed by (endpoint index, group or None)."""

    def __init__(self, max_groups: int) -> None:
        self.entries: OrderedDict[tuple[int, str | None], LoginCampaign] = OrderedDict()
        self.max_groups = max_groups
        self.grouped = 0

    def get(self, key: tuple[int, str | None], t: int, gen: int) -> LoginCampaign:
        """The campaign under `key`, created if new; grouped ones beyond the cap go LRU."""
        campaign = self.entries.get(key)
        if campaign is not None:
            self.entries.move_to_end(key)
            return campaign
        campaign = LoginCampaign(t, gen)
        self.entries[key] = campaign
        if key[1] is not None:
            self.grouped += 1
            if self.grouped > self.max_groups:
                for old in self.entries:
                    if old[1] is not None:
                        del self.entries[old]
                        self.grouped -= 1
                        break
        return campaign
