"""The behaviour detectors: each turns one client's windows into a verdict with evidence.

A detector is only consulted when the counter it depends on has just changed and passed its
cheapest threshold, so benign traffic rarely reaches this module. Each check answers
`Finding(level, score, evidence)` or None; `level` is the detector's cheap trigger counter
(not-found answers, distinct probes, failures, short-window requests, distinct agents, 5xx
answers), which must grow by the escalation factor before it fires again within an episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vigil.detect.behaviour.classify import CLASS_NAMES
from vigil.detect.behaviour.config import BehaviourConfig
from vigil.detect.behaviour.events import epoch_to_iso, escalating_score
from vigil.detect.behaviour.windows import (
    ASSET,
    LOGIN_FAILURES,
    NOT_FOUND,
    REQ,
    S5XX,
    S401,
    S403,
    SENSITIVE_SERVED,
    UA_SWITCH,
    ClientState,
    LongWindow,
)


@dataclass(slots=True)
class Finding:
    """A detector's verdict that its condition holds now."""

    level: float
    score: float
    evidence: dict[str, Any]


def window_evidence(
    st: ClientState, win: LongWindow, t: int, seconds: int, gen: int
) -> dict[str, Any]:
    """The long-window counts every behaviour event carries."""
    start = st.long_start - (gen if win.prev is not None else 0)
    start = max(start, st.first_seen)
    requests = win.total(REQ)
    return {
        "window_seconds": seconds,
        "window_start": epoch_to_iso(start),
        "window_end": epoch_to_iso(t),
        "requests": requests,
        "not_found": win.total(NOT_FOUND),
        "status_401": win.total(S401),
        "status_403": win.total(S403),
        "status_5xx": win.total(S5XX),
        "distinct_paths": round(win.distinct_paths()),
        "distinct_user_agents": round(win.distinct_agents()),
        "client_class": CLASS_NAMES[st.cls],
        "good_bot_agent": st.good_bot,
        "samples": [
            {"at": epoch_to_iso(at), "method": method, "path": path, "status": status}
            for at, method, path, status in (st.samples or ())
        ],
    }


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


class Detectors:
    """Threshold checks of every behaviour detector for one configuration."""

    def __init__(self, config: BehaviourConfig) -> None:
        self.config = config
        self.long_seconds = config.windows.long_seconds
        self.long_gen = max(1, config.windows.long_seconds // 2)
        self.short_seconds = config.windows.short_seconds
        self.bot_factor = config.exclusions.good_bot_factor

    def _evidence(self, st: ClientState, win: LongWindow, t: int) -> dict[str, Any]:
        return window_evidence(st, win, t, self.long_seconds, self.long_gen)

    def scan(self, st: ClientState, win: LongWindow, t: int) -> Finding | None:
        """Many distinct paths, mostly answered not-found."""
        cfg = self.config.scan
        factor = self.bot_factor if st.good_bot else 1.0
        not_found = win.total(NOT_FOUND)
        if not_found < cfg.min_not_found * factor:
            return None
        requests = win.total(REQ)
        ratio = _ratio(not_found, requests)
        if ratio < cfg.min_not_found_ratio:
            return None
        paths = win.distinct_paths()
        needed = cfg.min_distinct_paths * factor
        if paths < needed:
            return None
        evidence = self._evidence(st, win, t)
        evidence.update(
            not_found_ratio=round(ratio, 3),
            threshold_distinct_paths=needed,
            threshold_not_found=cfg.min_not_found * factor,
        )
        return Finding(not_found, escalating_score(0.6, paths, needed), evidence)

    def probe(self, st: ClientState, win: LongWindow, t: int) -> Finding | None:
        """Several distinct sensitive-file probes."""
        cfg = self.config.probe
        probes = win.distinct_sensitive()
        if probes < cfg.min_distinct_probes:
            return None
        served = win.total(SENSITIVE_SERVED)
        score = escalating_score(0.6, probes, cfg.min_distinct_probes)
        if served:
            # A sensitive file answered 2xx may have leaked: that is worth a look at once.
            score = max(score, 0.85)
        evidence = self._evidence(st, win, t)
        evidence.update(
            distinct_sensitive_paths=probes,
            sensitive_served_2xx=served,
            threshold_distinct_probes=cfg.min_distinct_probes,
        )
        return Finding(probes, score, evidence)

    def bruteforce(
        self, st: ClientState, win: LongWindow, t: int, endpoint: int, path: str
    ) -> Finding | None:
        """Many failed logins by one client at one endpoint, with few successes."""
        cfg = self.config.bruteforce
        attempts, failures = win.login(endpoint)
        if failures < cfg.min_failures:
            return None
        ratio = _ratio(failures, attempts)
        if ratio < cfg.min_failure_ratio:
            return None
        evidence = self._evidence(st, win, t)
        evidence.update(
            endpoint=path,
            login_attempts=attempts,
            login_failures=failures,
            failure_ratio=round(ratio, 3),
            threshold_failures=cfg.min_failures,
        )
        return Finding(failures, escalating_score(0.7, failures, cfg.min_failures), evidence)

    def flood_threshold(self, st: ClientState, baseline: float | None) -> tuple[float, float]:
        """(threshold, floor) of requests per short window for this client's class."""
        return self.flood_threshold_for(st.cls, st.good_bot, baseline)

    def flood_threshold_for(
        self, cls: int, good_bot: bool, baseline: float | None
    ) -> tuple[float, float]:
        """(threshold, floor) of requests per short window for a class of client."""
        cfg = self.config.flood
        floor = float(cfg.floor_per_minute.get(CLASS_NAMES[cls], 300))
        floor *= self.short_seconds / 60
        threshold = floor
        if baseline is not None:
            threshold = max(floor, cfg.baseline_factor * baseline)
        if good_bot:
            threshold *= self.bot_factor
        return threshold, floor

    def flood(
        self, st: ClientState, win: LongWindow, t: int, requests: int, baseline: float | None
    ) -> Finding | None:
        """Request rate in the short window far above the class baseline and above the floor."""
        cfg = self.config.flood
        threshold, floor = self.flood_threshold(st, baseline)
        if requests < threshold:
            return None
        crowd = 1.0
        if _ratio(win.total(ASSET), win.total(REQ)) >= cfg.crowd_min_asset_ratio:
            crowd = min(max(win.distinct_agents(), 1.0), cfg.crowd_max_factor)
            threshold *= crowd
            if requests < threshold:
                return None
        evidence = self._evidence(st, win, t)
        evidence.update(
            short_window_seconds=self.short_seconds,
            short_window_requests=requests,
            threshold=round(threshold, 1),
            floor=round(floor, 1),
            class_baseline=round(baseline, 2) if baseline is not None else None,
            crowd_factor=round(crowd, 1),
        )
        return Finding(requests, escalating_score(0.6, requests, threshold), evidence)

    def ua_rotation(self, st: ClientState, win: LongWindow, t: int) -> Finding | None:
        """Many user agents used briefly, or a few switched on nearly every regular request."""
        cfg = self.config.ua_rotation
        agents = win.distinct_agents()
        if agents < cfg.cycling_min_uas:
            return None
        requests = win.total(REQ)
        if _ratio(win.total(ASSET), requests) > cfg.max_asset_ratio:
            return None
        per_agent = requests / agents
        switch_ratio = _ratio(win.total(UA_SWITCH), max(requests - 1, 1))
        mean_gap, cv, _ = win.interarrival()
        mode = ""
        if agents >= cfg.min_distinct_uas and per_agent <= cfg.max_requests_per_ua:
            mode = "spraying"
            needed: float = cfg.min_distinct_uas
        elif (
            requests >= cfg.cycling_min_requests
            and switch_ratio >= cfg.cycling_min_switch_ratio
            and cv <= cfg.cycling_max_cv
        ):
            mode = "cycling"
            needed = cfg.cycling_min_uas
        else:
            return None
        evidence = self._evidence(st, win, t)
        evidence.update(
            mode=mode,
            requests_per_user_agent=round(per_agent, 2),
            user_agent_switch_ratio=round(switch_ratio, 3),
            interarrival_mean_seconds=round(mean_gap, 3),
            interarrival_cv=round(cv, 3) if cv != float("inf") else None,
            threshold_distinct_user_agents=needed,
        )
        return Finding(agents, escalating_score(0.55, agents, needed), evidence)

    def error_spike(
        self, st: ClientState, win: LongWindow, t: int, site_requests: int, site_errors: int
    ) -> Finding | None:
        """A client driving 5xx answers while the rest of the site is mostly healthy."""
        cfg = self.config.error_spike
        errors = win.total(S5XX)
        if errors < cfg.min_errors:
            return None
        requests = win.total(REQ)
        ratio = _ratio(errors, requests)
        if ratio < cfg.min_error_ratio:
            return None
        other_requests = max(site_requests - requests, 0)
        other_ratio = _ratio(max(site_errors - errors, 0), other_requests)
        if ratio < cfg.site_ratio_factor * other_ratio:
            return None
        evidence = self._evidence(st, win, t)
        evidence.update(
            error_ratio=round(ratio, 3),
            rest_of_site_error_ratio=round(other_ratio, 3),
            threshold_errors=cfg.min_errors,
        )
        return Finding(errors, escalating_score(0.55, errors, cfg.min_errors), evidence)

    def login_failures(self, win: LongWindow) -> int:
        """Failed logins over the window at all endpoints (for features)."""
        return win.total(LOGIN_FAILURES)
