"""The behaviour stage: per-client sliding windows updated per batch, and detectors over them.

Time is event time (each record's `observed_at`, in whole seconds), never the wall clock, so
replaying a file behaves exactly like watching it live. A record without a timestamp is placed
at the latest time seen for its site.

Restart strategy: checkpointed state. `snapshot()` serializes every window, baseline, login
campaign and episode to bytes and `restore()` loads them back. vigil resumes reading at the
offset of the last committed batch and does not keep the requests it has already read (it
stores threats, not traffic), so the alternative, rebuilding windows from the last window of
records, would need data that is gone after a restart. A snapshot taken with each committed
checkpoint (or at least once per short window) hands the new process everything the windows
knew: an attack in progress keeps counting where it stopped, and state older than the snapshot
ages out by event time exactly as it would have live. If the snapshot lags the checkpoint by
at most one window, at most that window of evidence is lost, which the requirement allows.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from vigil.batch import LogRecord
from vigil.detect.behaviour import snapshot as snapshot_codec
from vigil.detect.behaviour import windows
from vigil.detect.behaviour.campaigns import LoginCampaign, stuffing_finding
from vigil.detect.behaviour.classify import (
    BOT,
    BROWSER,
    IS_ASSET,
    IS_HEALTH,
    IS_SENSITIVE,
    AgentClassifier,
    PathClassifier,
)
from vigil.detect.behaviour.config import BehaviourConfig
from vigil.detect.behaviour.detectors import Detectors, Finding
from vigil.detect.behaviour.events import BehaviourEvent
from vigil.detect.behaviour.site import SiteState
from vigil.detect.behaviour.slow import (
    HIT_FAILED,
    HIT_FOCUSED,
    HIT_LOGIN,
    HIT_SENSITIVE,
    Firing,
)
from vigil.detect.behaviour.windows import (
    ASSET,
    BYTES,
    EMPTY_GENERATION,
    GAP_N,
    GAP_SQ,
    GAP_SUM,
    HEAD,
    LOGIN_ATTEMPTS,
    LOGIN_FAILURES,
    LOGINS,
    NOT_FOUND,
    OTHER_METHOD,
    PATH_SET,
    POST,
    REQ,
    S5XX,
    S401,
    S403,
    SENSITIVE_HITS,
    SENSITIVE_SERVED,
    SENSITIVE_SET,
    UA_SET,
    UA_SWITCH,
    ClientState,
    LongWindow,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

try:
    from vigil.detect.behaviour import _kernel
except ImportError:  # not built: the Python loop below does the same work, slower
    _kernel = None  # type: ignore[assignment]

_log = logging.getLogger(__name__)

GroupOf = Callable[[LogRecord], str | None]
_Update = Callable[
    [
        "BehaviourEngine",
        "SiteState",
        Sequence[LogRecord],
        list[BehaviourEvent],
        Mapping[str, Mapping[str, Any]] | None,
        tzinfo,
        list[int | None] | None,
    ],
    None,
]

FEATURE_NAMES: tuple[str, ...] = (
    "short_requests",
    "long_requests",
    "long_distinct_paths",
    "long_not_found_ratio",
    "long_401_ratio",
    "long_403_ratio",
    "long_5xx_ratio",
    "long_login_attempts",
    "long_login_failure_ratio",
    "long_distinct_user_agents",
    "long_user_agent_switch_ratio",
    "long_post_ratio",
    "long_head_ratio",
    "long_other_method_ratio",
    "long_mean_bytes",
    "long_asset_ratio",
    "long_sensitive_hits",
    "long_interarrival_mean",
    "long_interarrival_cv",
    "flood_ratio",
    "client_is_browser",
    "client_is_bot",
    "good_bot_agent",
)

_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()
_LOOP_VERSION = 3


def _kernel_matches() -> bool:
    """Whether the compiled loop was built from this source's record and slot layout."""
    if _kernel is None:
        return False
    fields_ok = all(LogRecord._fields.index(f) == i for f, i in _kernel.RECORD_FIELDS.items())
    slots_ok = all(getattr(windows, name) == i for name, i in _kernel.SLOTS.items())
    # A build from before the long windows never calls them.
    loop_ok = getattr(_kernel, "LOOP_VERSION", 1) == _LOOP_VERSION
    if fields_ok and slots_ok and loop_ok:
        return True
    _log.warning("the compiled behaviour loop is out of date; using the Python loop (rebuild)")
    return False


_USE_KERNEL = _kernel_matches()
_NOTHING_COVERED: frozenset[str] = frozenset()


def _covered(fired: dict[str, list[float]] | None) -> frozenset[str]:
    """The long-window detectors whose finding a short-window one made for this client."""
    if not fired:
        return _NOTHING_COVERED
    covered = set()
    if "scan" in fired or "probe-burst" in fired:
        covered.add("slow-scan")
    if "bruteforce" in fired:
        covered.add("slow-bruteforce")
    return frozenset(covered)


_MAX_CV_FEATURE = 10.0


class BehaviourEngine:
    """Per-client behaviour windows and the detectors that read them, one batch at a time."""

    def __init__(
        self,
        config: BehaviourConfig | None = None,
        *,
        max_clients: int = 100_000,
        group_of: GroupOf | None = None,
    ) -> None:
        if max_clients < 1:
            raise ValueError("max_clients must be at least 1")
        self.config = config or BehaviourConfig()
        self.max_clients = max_clients
        self._group_of = group_of
        cfg = self.config
        self._long_gen = max(1, cfg.windows.long_seconds // 2)
        self._short_gen = max(1, cfg.windows.short_seconds // 2)
        self._ttl = max(cfg.windows.long_seconds, cfg.cooldown_seconds)
        self._paths = PathClassifier(cfg)
        self._agents = AgentClassifier(cfg)
        self._detectors = Detectors(cfg)
        self._endpoints = cfg.bruteforce.endpoints
        self._endpoint_failures = tuple(frozenset(e.failure_statuses) for e in self._endpoints)
        self._endpoint_methods = tuple(frozenset(e.methods) for e in self._endpoints)
        self._not_found = frozenset(cfg.scan.not_found_statuses)
        self._slow_on = cfg.slow.enabled
        self._allow = tuple(
            ipaddress.ip_network(c, strict=False) for c in cfg.exclusions.allow_clients
        )
        self._flood_floor = min(cfg.flood.floor_per_minute.values(), default=300) * (
            cfg.windows.short_seconds / 60
        )
        self._short_scale = cfg.windows.short_seconds / self._short_gen
        self._class_floors = tuple(
            self._detectors.flood_threshold_for(cls, False, None)[1] for cls in range(3)
        )
        self._sites: dict[str, SiteState] = {}
        # The compiled loop when it is built, else the Python reference (same results).
        self._update: _Update = _kernel.update if _USE_KERNEL else _update_python
        self.records_seen = 0
        self.events_emitted = 0

    # -- the batch stage -------------------------------------------------------------------

    def process_batch(
        self,
        records: Sequence[LogRecord],
        site: str = "default",
        *,
        enrichment: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[BehaviourEvent]:
        """Update the windows with `records` (in time order) and return the detectors' firings.

        `enrichment`, keyed by client IP, may name each client's `asn` or `country`; login
        campaigns are then also tracked per group (see `StuffingConfig.group_by`).
        """
        s = self._sites.get(site)
        if s is None:
            s = self._sites[site] = SiteState(
                site, self.config.stuffing.max_groups, self.config.slow
            )
        events: list[BehaviourEvent] = []
        infos: list[int | None] | None = None
        if _USE_KERNEL:
            new, infos = _kernel.batch_paths(records, self._paths._cache)
            self._paths.classify_new(new)
        else:
            self._paths.classify_many([rec.path for rec in records])
        self._update(self, s, records, events, enrichment, UTC, infos)
        s.table.expire(s.clock, self._ttl)
        s.slow.expire(s.clock)
        self.records_seen += len(records)
        self.events_emitted += len(events)
        return events

    def _admit(self, s: SiteState, ip: str, t: int) -> ClientState:
        tracked = len(s.table) if len(self._sites) == 1 else self.tracked_clients()
        if tracked >= self.max_clients:
            victim = s if len(s.table) else max(self._sites.values(), key=lambda x: len(x.table))
            victim.table.evict_oldest(max(victim.clock, t))
        allowed = self._is_allowed(ip)
        st = ClientState(t, self._long_gen, self._short_gen, allowed)
        s.table.entries[ip] = st
        return st

    def _login(
        self,
        s: SiteState,
        st: ClientState,
        rec: LogRecord,
        index: int,
        t: int,
        endpoint: int,
        status: int | None,
        events: list[BehaviourEvent],
        enrichment: Mapping[str, Mapping[str, Any]] | None,
    ) -> None:
        if rec.method not in self._endpoint_methods[endpoint]:
            return
        failed = status in self._endpoint_failures[endpoint]
        cur = st.long_cur
        cur[LOGIN_ATTEMPTS] += 1
        logins = cur[LOGINS]
        if logins is None:
            logins = cur[LOGINS] = {}
        pair = logins.get(endpoint)
        if pair is None:
            pair = logins[endpoint] = [0, 0]
        pair[0] += 1
        endpoint_path = self._endpoints[endpoint].path
        cfg = self.config
        if failed:
            pair[1] += 1
            cur[LOGIN_FAILURES] += 1
            st.add_sample(t, rec.method, rec.path, status)
            win = LongWindow(cur, st.long_prev)
            failures = win.login(endpoint)[1]
            if (
                cfg.bruteforce.enabled
                and failures >= cfg.bruteforce.min_failures
                and self._may_fire(st, "bruteforce", t, failures)
            ):
                found = self._detectors.bruteforce(st, win, t, endpoint, endpoint_path)
                self._emit(s, st, rec, index, t, "bruteforce", found, events)
        if not cfg.stuffing.enabled or st.allowed:
            return
        group = self._group(rec, enrichment)
        keys: list[tuple[int, str | None]] = [(endpoint, None)]
        if group is not None:
            keys.append((endpoint, group))
        for key in keys:
            campaign = s.campaigns.get(key, t, self._long_gen)
            campaign.add(t, self._long_gen, rec.client_ip, failed, cfg.stuffing.max_clients_tracked)
            self._check_campaign(campaign, key[1], endpoint_path, rec, index, t, events, s)

    def _slow_hit(
        self,
        s: SiteState,
        st: ClientState,
        rec: LogRecord,
        index: int,
        t: int,
        pinfo: int,
        status: int | None,
        events: list[BehaviourEvent],
    ) -> None:
        """Count a failing request, login attempt or probe in the long windows and campaign
        targets (the Python loop calls this for exactly those records; the compiled loop does
        the same inline)."""
        if not self._slow_on or st.allowed or st.good_bot:
            # Named crawlers are left to the short windows, with their higher thresholds.
            return
        method = rec.method
        flags = HIT_FAILED if status is not None and status >= 400 else 0
        login = (pinfo >> 4 & 4095) - 1
        if login >= 0 and method in self._endpoint_methods[login]:
            flags |= HIT_LOGIN
            if status in self._endpoint_failures[login]:
                flags |= HIT_FAILED
        if pinfo & IS_SENSITIVE:
            flags |= HIT_SENSITIVE
        if not flags:
            return
        # Focused: no page assets around it in the last minutes, as a browser would load.
        cur, prev = st.long_cur, st.long_prev
        requests = cur[REQ] + (prev[REQ] if prev is not None else 0)
        assets = cur[ASSET] + (prev[ASSET] if prev is not None else 0)
        if assets * 10 <= requests:
            flags |= HIT_FOCUSED
        found = s.slow.record(
            rec.client_ip,
            t,
            method,
            rec.path,
            status,
            flags,
            _covered(st.fired),
            rec.user_agent,
            # The slow windows' 64-bit path bitmaps hash a path with the same CRC-32 as the
            # path classifier's 512-bit position: its low six bits are the slow bit.
            1 << (pinfo >> 16 & 63),
        )
        if found:
            self._slow_fired(s, rec, index, found, events)

    def _slow_fired(
        self,
        s: SiteState,
        rec: LogRecord,
        index: int,
        found: list[Firing],
        events: list[BehaviourEvent],
    ) -> None:
        """The events of what the long windows found at one record."""
        for detector, ip, score, evidence in found:
            events.append(self._event(detector, rec, index, score, evidence, s, client=ip))

    def _group(
        self, rec: LogRecord, enrichment: Mapping[str, Mapping[str, Any]] | None
    ) -> str | None:
        if self._group_of is not None:
            return self._group_of(rec)
        key = self.config.stuffing.group_by
        if enrichment is None or key is None:
            return None
        info = enrichment.get(rec.client_ip)
        if info is None:
            return None
        value = info.get(key)
        return None if value in (None, "") else f"{key}:{value}"

    def _check_campaign(
        self,
        campaign: LoginCampaign,
        group: str | None,
        endpoint_path: str,
        rec: LogRecord,
        index: int,
        t: int,
        events: list[BehaviourEvent],
        s: SiteState,
    ) -> None:
        cfg = self.config.stuffing
        clients = campaign.distinct
        if clients < cfg.min_clients:
            return
        state = campaign.fired
        if (
            state is not None
            and t - state[0] <= self.config.cooldown_seconds
            and clients < state[1] * self.config.escalation_factor
        ):
            state[0] = t
            return
        found = stuffing_finding(
            campaign,
            endpoint=endpoint_path,
            group=group,
            min_clients=cfg.min_clients,
            min_failure_ratio=cfg.min_failure_ratio,
            max_attempts_per_client=cfg.max_attempts_per_client,
            window_seconds=self.config.windows.long_seconds,
            t=t,
        )
        if found is None:
            return
        level, score, evidence = found
        campaign.fired, firing = self._episode(campaign.fired, t, level)
        if firing:
            evidence["episode_firing"] = firing
            events.append(self._event("credential-stuffing", rec, index, score, evidence, s))

    def _may_fire(self, st: ClientState, detector: str, t: int, level: float) -> bool:
        """Whether the detector needs a full check, or the client is excluded or mid-episode."""
        if st.allowed:
            return False
        fired = st.fired
        if fired is None:
            return True
        state = fired.get(detector)
        # Within an episode the trigger counter staying above its threshold keeps the episode
        # open; the full check runs again only when the counter may have escalated.
        if (
            state is not None
            and t - state[0] <= self.config.cooldown_seconds
            and level < state[1] * self.config.escalation_factor
        ):
            state[0] = t
            return False
        return True

    def _emit(
        self,
        s: SiteState,
        st: ClientState,
        rec: LogRecord,
        index: int,
        t: int,
        detector: str,
        finding: Finding | None,
        events: list[BehaviourEvent],
    ) -> None:
        if finding is None:
            return
        fired = st.fired
        if fired is None:
            fired = st.fired = {}
        fired[detector], firing = self._episode(fired.get(detector), t, finding.level)
        if firing:
            finding.evidence["episode_firing"] = firing
            events.append(self._event(detector, rec, index, finding.score, finding.evidence, s))

    def _episode(self, state: list[float] | None, t: int, level: float) -> tuple[list[float], int]:
        """Updated episode state and the firing number (0 when it must stay quiet)."""
        if state is None or t - state[0] > self.config.cooldown_seconds:
            return [float(t), float(level), 1.0], 1
        state[0] = t
        if level >= state[1] * self.config.escalation_factor:
            state[1] = level
            state[2] += 1
            return state, int(state[2])
        return state, 0

    def _event(
        self,
        detector: str,
        rec: LogRecord,
        index: int,
        score: float,
        evidence: dict[str, Any],
        s: SiteState,
        *,
        client: str | None = None,
    ) -> BehaviourEvent:
        # A campaign names each member, also those whose requests came in earlier batches.
        return BehaviourEvent(
            detector=detector,
            client_ip=client or rec.client_ip,
            score=score,
            record_index=index,
            evidence=evidence,
            observed_at=rec.observed_at,
            site=s.name,
            event_key=rec.event_key,
        )

    # -- features for the models -----------------------------------------------------------

    def client_features(self, client_ip: str, site: str = "default") -> dict[str, float]:
        """The window values of one client as of the site's latest event time."""
        s = self._sites.get(site)
        st = s.table.entries.get(client_ip) if s is not None else None
        if s is None or st is None:
            return dict.fromkeys(FEATURE_NAMES, 0.0)
        return dict(zip(FEATURE_NAMES, self._feature_row(s, st), strict=True))

    def features_for(
        self, records: Sequence[LogRecord], site: str = "default"
    ) -> list[dict[str, float]]:
        """One feature dict per record: its client's windows after the last processed batch."""
        names = FEATURE_NAMES
        array, _ = self.features_array(records, site)
        return [dict(zip(names, row.tolist(), strict=True)) for row in array]

    def features_array(
        self, records: Sequence[LogRecord], site: str = "default"
    ) -> tuple[npt.NDArray[np.float64], tuple[str, ...]]:
        """Features of every record as a (len(records), len(FEATURE_NAMES)) array and names."""
        # Imported here: only the models and training want arrays, and numpy is a good part
        # of a start-up that scores no request (`vigil scan` of an empty file).
        import numpy as np

        out = np.zeros((len(records), len(FEATURE_NAMES)), dtype=np.float64)
        s = self._sites.get(site)
        if s is None:
            return out, FEATURE_NAMES
        memo: dict[str, list[float] | None] = {}
        entries = s.table.entries
        for row, rec in enumerate(records):
            ip = rec.client_ip
            if ip in memo:
                values = memo[ip]
            else:
                st = entries.get(ip)
                values = memo[ip] = self._feature_row(s, st) if st is not None else None
            if values is not None:
                out[row] = values
        return out, FEATURE_NAMES

    def _feature_row(self, s: SiteState, st: ClientState) -> list[float]:
        now = max(s.clock, st.last_seen)
        short_req = st.short_requests(now, self._short_gen)
        cur, prev = st.long_view(now, self._long_gen)
        win = LongWindow(cur, prev)
        requests = win.total(REQ)
        per = 1.0 / requests if requests else 0.0
        attempts = win.total(LOGIN_ATTEMPTS)
        mean_gap, cv, _ = win.interarrival()
        threshold = self._detectors.flood_threshold(st, s.baseline(st.cls))[0]
        return [
            float(short_req),
            float(requests),
            win.distinct_paths(),
            win.total(NOT_FOUND) * per,
            win.total(S401) * per,
            win.total(S403) * per,
            win.total(S5XX) * per,
            float(attempts),
            win.total(LOGIN_FAILURES) / attempts if attempts else 0.0,
            win.distinct_agents(),
            win.total(UA_SWITCH) / max(requests - 1, 1),
            win.total(POST) * per,
            win.total(HEAD) * per,
            win.total(OTHER_METHOD) * per,
            win.total(BYTES) * per,
            win.total(ASSET) * per,
            float(win.total(SENSITIVE_HITS)),
            mean_gap,
            min(cv, _MAX_CV_FEATURE),
            short_req / threshold if threshold else 0.0,
            1.0 if st.cls == BROWSER else 0.0,
            1.0 if st.cls == BOT else 0.0,
            1.0 if st.good_bot else 0.0,
        ]

    # -- observability and restart ---------------------------------------------------------

    def tracked_clients(self) -> int:
        """Clients currently held in the windows, over all sites."""
        return sum(len(s.table) for s in self._sites.values())

    def stats(self) -> dict[str, int]:
        """Counters for metrics: tracked clients, evictions, expiries, records, events."""
        return {
            "tracked_clients": self.tracked_clients(),
            "max_clients": self.max_clients,
            "evicted": sum(s.table.evicted for s in self._sites.values()),
            "expired": sum(s.table.expired for s in self._sites.values()),
            "login_campaigns": sum(len(s.campaigns.entries) for s in self._sites.values()),
            "long_window_clients": sum(len(s.slow.clients) for s in self._sites.values()),
            "campaign_targets": sum(len(s.slow.targets) for s in self._sites.values()),
            "records": self.records_seen,
            "events": self.events_emitted,
            "sites": len(self._sites),
        }

    def snapshot(self) -> bytes:
        """All window state as bytes, to be written beside the ingest checkpoint."""
        return snapshot_codec.encode(self.config, self._sites)

    def restore(self, data: bytes) -> int:
        """Replace all window state with a snapshot; returns how many clients it held.

        Raises `InputError` when the bytes are not a behaviour snapshot or were made with
        different window lengths.
        """
        sites = snapshot_codec.decode(self.config, data)
        for s in sites.values():
            for ip, st in s.table.entries.items():
                st.allowed = self._is_allowed(ip)
        self._sites = sites
        while self.tracked_clients() > self.max_clients:
            largest = max(self._sites.values(), key=lambda x: len(x.table))
            largest.table.evict_oldest(largest.clock)
        return self.tracked_clients()

    def _is_allowed(self, ip: str) -> bool:
        if not self._allow:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in net for net in self._allow)


def _update_python(
    engine: BehaviourEngine,
    s: SiteState,
    records: Sequence[LogRecord],
    events: list[BehaviourEvent],
    enrichment: Mapping[str, Mapping[str, Any]] | None,
    utc: tzinfo,
    infos: list[int | None] | None = None,
) -> None:
    """The per-record window update of `process_batch`, in Python.

    `infos`, when given, holds per record its path's classification if it was cached before
    the batch (None for the batch's new paths), which spares looking it up again.

    `_kernel.pyx` is the same loop compiled; this one is the reference it is tested against
    and the fallback where the compiled module is not built.
    """
    cfg = engine.config
    entries = s.table.entries
    get_client = entries.get
    path_cache = engine._paths._cache
    classify_path = engine._paths.classify
    agent_cache = engine._agents._cache
    classify_agent = engine._agents.classify
    long_gen = engine._long_gen
    short_gen = engine._short_gen
    not_found_statuses = engine._not_found
    scan_min = cfg.scan.min_not_found if cfg.scan.enabled else 1 << 62
    probe_min = cfg.probe.min_distinct_probes if cfg.probe.enabled else 1 << 62
    error_min = cfg.error_spike.min_errors if cfg.error_spike.enabled else 1 << 62
    agents_min = cfg.ua_rotation.cycling_min_uas if cfg.ua_rotation.enabled else 1 << 62
    flood_min = engine._flood_floor if cfg.flood.enabled else float(1 << 62)
    floors = engine._class_floors
    empty_generation = EMPTY_GENERATION.copy
    short_scale = engine._short_scale
    alpha = cfg.flood.ewma_alpha
    baselines = s.baselines
    samples = s.baseline_samples
    clock = s.clock
    site_end = s.err_start + long_gen
    site_requests = 0

    last_ts: datetime | None = None
    last_t = 0
    for index, rec in enumerate(records):
        ts = rec.observed_at
        if ts is None:
            t = clock
        else:
            if ts is last_ts:
                # The parser hands out one datetime per distinct timestamp text.
                t = last_t
            elif ts.tzinfo is utc:
                # Four times cheaper than ts.timestamp() for the UTC times parsers give.
                t = (ts.toordinal() - _EPOCH_ORDINAL) * 86400 + (
                    ts.hour * 3600 + ts.minute * 60 + ts.second
                )
            else:
                t = int(ts.timestamp())
            last_ts, last_t = ts, t
            if t > clock:
                clock = t
        path = rec.path
        pinfo = infos[index] if infos is not None else None
        if pinfo is None:
            pinfo = path_cache.get(path)
            if pinfo is None:
                pinfo = classify_path(path)
        path_flags = pinfo & 15
        ip = rec.client_ip
        st = get_client(ip)
        if st is None:
            st = engine._admit(s, ip, t)
        elif t < st.last_seen:
            t = st.last_seen
        if path_flags & IS_HEALTH:
            # Monitors keep their entry alive but are invisible to every detector.
            if t > st.last_seen:
                st.last_seen = t
            continue
        agent = rec.user_agent
        ainfo = agent_cache.get(agent)
        if ainfo is None:
            ainfo = classify_agent(agent)

        # Generation rolls, inlined: on a quiet site nearly every request starts one.
        if t >= st.long_start + long_gen:
            st.long_prev = st.long_cur if t < st.long_start + 2 * long_gen else None
            cur = st.long_cur = empty_generation()
            st.long_start = t - t % long_gen
            st.agent = None
        else:
            cur = st.long_cur
        if t >= st.short_start + short_gen:
            count = st.short_req
            if count and st.fired is None and not st.allowed:
                # One finished short generation is one sample of how busy a client of this
                # class is; clipped at the floor, and flagged clients are left out, so an
                # attacker cannot drag the baseline (and the threshold) upwards.
                cls = ainfo[1]
                sample = count * short_scale
                if sample > floors[cls]:
                    sample = floors[cls]
                n = samples[cls]
                baselines[cls] = (
                    sample if n == 0 else baselines[cls] + alpha * (sample - baselines[cls])
                )
                samples[cls] = n + 1
            st.short_req_prev = count if t < st.short_start + 2 * short_gen else 0
            st.short_req = 0
            st.short_start = t - t % short_gen
        if t >= site_end:
            s.err_req += site_requests
            site_requests = 0
            s.roll_site(t, long_gen)
            site_end = s.err_start + long_gen
        site_requests += 1

        cur[REQ] += 1
        last = st.last_seen
        if last >= 0:
            gap = t - last
            if gap <= long_gen:
                cur[GAP_N] += 1
                if gap:
                    cur[GAP_SUM] += gap
                    cur[GAP_SQ] += gap * gap
        st.last_seen = t
        st.short_req += 1
        sent = rec.bytes_sent
        if sent:
            cur[BYTES] += sent
        method = rec.method
        if method != "GET":
            if method == "POST":
                cur[POST] += 1
            elif method == "HEAD":
                cur[HEAD] += 1
            else:
                cur[OTHER_METHOD] += 1
        if path_flags & IS_ASSET:
            cur[ASSET] += 1
        path_bit = 1 << (pinfo >> 16)
        bits = cur[PATH_SET]
        if not bits & path_bit:
            cur[PATH_SET] = bits | path_bit

        new_agent = False
        previous_agent = st.agent
        if ainfo is not previous_agent:
            agent_bit = ainfo[0]
            if previous_agent is None or agent_bit != previous_agent[0]:
                if previous_agent is not None:
                    switches = cur[UA_SWITCH] = cur[UA_SWITCH] + 1
                    # Cycling through known agents adds none: look again every 8th switch.
                    new_agent = not switches & 7
                bits = cur[UA_SET]
                if not bits & agent_bit:
                    cur[UA_SET] = bits | agent_bit
                    prev = st.long_prev
                    new_agent = new_agent or prev is None or not prev[UA_SET] & agent_bit
            st.agent = ainfo

        status = rec.status
        if path_flags & IS_SENSITIVE:
            cur[SENSITIVE_HITS] += 1
            if status is not None and 200 <= status < 300:
                cur[SENSITIVE_SERVED] += 1
            st.add_sample(t, method, path, status)
            cur[SENSITIVE_SET] |= path_bit
            win = LongWindow(cur, st.long_prev)
            probes = win.distinct_sensitive()
            if probes >= probe_min and engine._may_fire(st, "probe-burst", t, probes):
                found = engine._detectors.probe(st, win, t)
                engine._emit(s, st, rec, index, t, "probe-burst", found, events)
        if status is not None and status >= 400:
            if status in not_found_statuses:
                cur[NOT_FOUND] += 1
                if not path_flags & IS_SENSITIVE:
                    st.add_sample(t, method, path, status)
                prev = st.long_prev
                nf = cur[NOT_FOUND] + (prev[NOT_FOUND] if prev is not None else 0)
                if nf >= scan_min and engine._may_fire(st, "scan", t, nf):
                    win = LongWindow(cur, prev)
                    found = engine._detectors.scan(st, win, t)
                    engine._emit(s, st, rec, index, t, "scan", found, events)
            elif status == 401:
                cur[S401] += 1
            elif status == 403:
                cur[S403] += 1
            if status >= 500:
                cur[S5XX] += 1
                s.err_5xx += 1
                st.add_sample(t, method, path, status)
                prev = st.long_prev
                errors = cur[S5XX] + (prev[S5XX] if prev is not None else 0)
                if errors >= error_min and engine._may_fire(st, "error-spike", t, errors):
                    s.err_req += site_requests
                    site_requests = 0
                    win = LongWindow(cur, prev)
                    found = engine._detectors.error_spike(
                        st, win, t, s.err_req + s.err_req_prev, s.err_5xx + s.err_5xx_prev
                    )
                    engine._emit(s, st, rec, index, t, "error-spike", found, events)
        if pinfo & 0xFFF0:
            login = (pinfo >> 4 & 4095) - 1
            engine._login(s, st, rec, index, t, login, status, events, enrichment)
        if pinfo & 0xFFF2 or (status is not None and status >= 400):
            engine._slow_hit(s, st, rec, index, t, pinfo, status, events)
        if new_agent:
            prev = st.long_prev
            agents = (cur[UA_SET] | (prev[UA_SET] if prev is not None else 0)).bit_count()
            if agents >= agents_min and engine._may_fire(st, "ua-rotation", t, agents):
                win = LongWindow(cur, prev)
                found = engine._detectors.ua_rotation(st, win, t)
                engine._emit(s, st, rec, index, t, "ua-rotation", found, events)
        short = st.short_req + st.short_req_prev
        if short >= flood_min and engine._may_fire(st, "flood", t, short):
            st.add_sample(t, method, path, status)
            win = LongWindow(cur, st.long_prev)
            found = engine._detectors.flood(st, win, t, short, s.baseline(ainfo[1]))
            engine._emit(s, st, rec, index, t, "flood", found, events)

    s.err_req += site_requests
    s.clock = clock
