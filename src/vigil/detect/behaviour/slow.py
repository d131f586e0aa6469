"""Long windows: what a client did over hours and days, and campaigns across many clients.

The 1- and 10-minute windows cannot see a client that sends one failing request every half
hour for three days, nor a botnet of such clients. This module keeps, per site:

* a **slow table** of the clients that did something failing (a 4xx/5xx answer, a login
  attempt, a sensitive-path probe): a ring of daily buckets of a few counters each (login
  attempts and failures, not-found answers, probes, distinct failing paths and probes as
  small bitmaps) and a ring of hourly counts of failing requests. Nothing is kept for clients
  whose requests all succeed, so ordinary visitors cost nothing here. A client idle for longer
  than the horizon is dropped; the table is capped and drops the least recently seen first.
* **targets**: per endpoint template × method × outcome (`POST /xmlrpc.php 404`) for logins and
  writes, and the probe family `* (sensitive files) 4xx`, the clients that hit it with a failing
  answer (failing GETs of ordinary pages are broken links, not targets). A client is a
  *member* once it has repeated the failing thing at least `member_min_hits` times with
  focused traffic (no page assets around it, as browsers load). When the members within the
  horizon reach `max(min_clients, baseline_factor × baseline)` (the baseline being the members
  a target normally has over the horizon, sampled once a day while no campaign is open) and
  come from at least `min_member_prefixes` networks (/24 or /48), the target is a
  **campaign**: one event per member, and one more for every member that joins later. Its
  explanation gives the spread of the members' networks and user agents.

Everything here is called from the per-record loop only for failing requests (both the compiled
loop and its Python twin make the same call), so the work on a healthy site is nil.
"""

from __future__ import annotations

import ipaddress
import re
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from vigil.detect.behaviour.config import SlowConfig
from vigil.detect.behaviour.events import epoch_to_iso, escalating_score
from vigil.detect.behaviour.windows import distinct

HOUR = 3600
DAY = 86_400
TEN_MINUTES = 600

# Counters of one bucket (hourly and daily rings share the layout).
ATTEMPTS = 0
FAILURES = 1
NOT_FOUND = 2
PROBES = 3
FAILING = 4
PATHS = 5  # bitmap of distinct failing paths (64 bits)
PROBE_SET = 6  # bitmap of distinct sensitive paths (64 bits)
FOCUSED_HITS = 7  # failing requests with no page assets around them
FIELDS = 8
BITMAPS = (PATHS, PROBE_SET)
HOUR_FAILING = 0  # the hourly ring's one counter: failing requests

# What one hit is, for `_count_python` (and the compiled `slow_count`).
HIT_LOGIN = 1
HIT_FAILED = 2
HIT_NOT_FOUND = 4
HIT_SENSITIVE = 8
HIT_FOCUSED = 16

SENSITIVE_FAMILY = "(sensitive files)"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_MASK64 = (1 << 64) - 1
_NO_PERIOD = -(1 << 62)
_TEMPLATE_CACHE_LIMIT = 16_384
_SAMPLE_MEMBERS = 20

_NUMBER = re.compile(r"^\d+$")
_HEXLIKE = re.compile(r"^(?=[^/]*\d)[0-9a-f]{8,}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def endpoint_template(path: str) -> str:
    """The path with its identifiers folded: `/Users/123/` → `/users/{n}`."""
    lowered = path.lower()
    if len(lowered) > 1:
        lowered = lowered.rstrip("/") or "/"
    parts = lowered.split("/")
    for i, part in enumerate(parts):
        if not part:
            continue
        if _NUMBER.match(part):
            parts[i] = "{n}"
        elif _UUID.match(part) or _HEXLIKE.match(part):
            parts[i] = "{id}"
    return "/".join(parts)[:200]


def _bit(text: str) -> int:
    # CRC-32 (unlike `hash()`) is the same in every process, so a restored bitmap counts the
    # same paths as the same.
    return 1 << (zlib.crc32(text.encode("utf-8", "surrogatepass")) & 63)


class Ring:
    """Layout helpers of one ring of buckets inside a flat `array('q')`.

    A ring of `count` buckets of `span` seconds: `count` period stamps, then `count × fields`
    counters. A bucket whose stamp is not the current period is stale and reset on write.
    """

    __slots__ = ("base", "count", "fields", "span")

    def __init__(self, base: int, count: int, span: int, fields: int = FIELDS) -> None:
        self.base = base
        self.count = count
        self.span = span
        self.fields = fields

    @property
    def size(self) -> int:
        return self.count * (1 + self.fields)

    def bucket(self, data: array[int], t: int) -> int:
        """Offset of the counters of the bucket holding `t` (reset if it held older time)."""
        period = t // self.span
        slot = period % self.count
        stamp = self.base + slot
        counters = self.base + self.count + slot * self.fields
        if data[stamp] != period:
            data[stamp] = period
            for i in range(self.fields):
                data[counters + i] = 0
        return counters

    def totals(self, data: array[int], t: int) -> list[int]:
        """Every field summed (bitmaps: united) over the buckets still in the ring at `t`."""
        period = t // self.span
        fields = self.fields
        out = [0] * fields
        base = self.base
        count = self.count
        for slot in range(count):
            if period - count < data[base + slot] <= period:
                at = base + count + slot * fields
                for field in range(fields):
                    v = data[at + field]
                    if field in BITMAPS:
                        out[field] |= v & _MASK64
                    else:
                        out[field] += v
        return out

    def total(self, data: array[int], t: int, field: int) -> int:
        """Sum (or, for bitmaps, union) of a field over the buckets still in the ring at `t`."""
        period = t // self.span
        value = 0
        bitmap = field in BITMAPS
        for slot in range(self.count):
            if period - self.count < data[self.base + slot] <= period:
                v = data[self.base + self.count + slot * self.fields + field]
                value = value | (v & _MASK64) if bitmap else value + v
        return value


class SlowClient:
    """Hourly and daily buckets of one client's failing activity."""

    __slots__ = ("data", "fired", "first_seen", "last_seen")

    def __init__(self, t: int, empty: array[int]) -> None:
        self.first_seen = t
        self.last_seen = t
        self.data = array("q", empty)
        # Per long-window detector (`CLIENT_DETECTORS`), three numbers: last time its condition
        # held, level at its last firing, firings; None until one fires.
        self.fired: array[int] | None = None


# One client's entry in a target (an `array('q')`, no Python object per number): hits, focused
# hits, first and last time, hits in the ten minutes of its last hit, most hits in any ten
# minutes, when it was last announced, whether it is a member. Eight numbers: 64 bytes, the
# allocator's size class below the next (a ninth would cost 16 bytes more per entry).
(HITS, FOCUSED, FIRST, LAST, WIN_HITS, WIN_MAX, ANNOUNCED, MEMBER) = range(8)
ENTRY_SIZE = 8
_NEW_ENTRY = array("q", [0, 0, 0, 0, 0, 0, -1, 0])
# Entries of older snapshots, by size: the indexes they had that are read and dropped (the
# start of the ten minutes, now that of the last hit; a bitmap of distinct paths).
_OLD_ENTRY_FIELDS = {9: (4,), 10: (4, 7)}


class Target:
    """The clients failing the same way at one endpoint template (or probe family).

    The members' totals (hits, first and last time, busiest ten minutes, and the spread of
    their network prefixes and user agents as 64-bit bitmaps) are kept up to date as they
    change, so an event's explanation costs nothing however many members there are; they are
    counted again only when stale clients are dropped, once a day.
    """

    __slots__ = (
        "agents",
        "baseline",
        "baseline_days",
        "clients",
        "day",
        "family",
        "fired",
        "first",
        "hits",
        "key",
        "last",
        "member_first",
        "member_hits",
        "member_last",
        "member_pace",
        "members",
        "prefixes",
        "recent",
    )

    def __init__(self, key: str, family: bool, t: int) -> None:
        self.key = key
        self.family = family
        self.clients: dict[str, array[int]] = {}
        self.members = 0
        # The latest members to join, for the explanation.
        self.recent: list[str] = []
        self.member_hits = 0
        self.member_first = t
        self.member_last = t
        self.member_pace = 0
        self.prefixes = 0
        self.agents = 0
        self.hits = 0
        self.first = t
        self.last = t
        self.day = t // DAY
        self.baseline = 0.0
        self.baseline_days = 0
        # [last time the campaign held, members at last firing, firings] while it is open.
        self.fired: list[int] | None = None

    def recount(self) -> None:
        """Members and their totals from the entries (after stale ones were dropped)."""
        members = [e for e in self.clients.values() if e[MEMBER]]
        self.members = len(members)
        self.member_hits = sum(e[HITS] for e in members)
        self.member_first = min((e[FIRST] for e in members), default=self.last)
        self.member_last = max((e[LAST] for e in members), default=self.last)
        self.member_pace = max((e[WIN_MAX] for e in members), default=0)
        prefixes = 0
        for ip, entry in self.clients.items():
            if entry[MEMBER]:
                prefixes |= _bit(network_prefix(ip))
        self.prefixes = prefixes
        self.recent = [ip for ip in self.recent if ip in self.clients]

    def to_state(self) -> list[Any]:
        return [
            self.key,
            self.family,
            {ip: list(entry) for ip, entry in self.clients.items()},
            self.recent,
            self.hits,
            self.first,
            self.last,
            self.day,
            self.baseline,
            self.baseline_days,
            self.fired,
            self.agents,
        ]

    @classmethod
    def from_state(cls, state: list[Any]) -> Target:
        target = cls(str(state[0]), bool(state[1]), int(state[5]))
        for ip, entry in state[2].items():
            dropped = _OLD_ENTRY_FIELDS.get(len(entry), ())
            if dropped:
                entry = [x for i, x in enumerate(entry) if i not in dropped]
            if len(entry) != ENTRY_SIZE:
                raise ValueError("campaign entry of unexpected size")
            target.clients[str(ip)] = array("q", (int(x) for x in entry))
        target.recent = [str(ip) for ip in state[3]]
        target.hits = int(state[4])
        target.last = int(state[6])
        target.day = int(state[7])
        target.baseline = float(state[8])
        target.baseline_days = int(state[9])
        target.fired = [int(x) for x in state[10]] if state[10] is not None else None
        # Older snapshots have no agents bitmap: the members' agents are unknown until more join.
        target.agents = int(state[11]) if len(state) > 11 else 0
        target.recount()
        return target


CLIENT_DETECTORS = ("slow-bruteforce", "slow-scan")


# (detector, client, score, evidence) for the engine to turn into events.
Firing = tuple[str, str, float, dict[str, Any]]


class SlowWatch:
    """The long windows and campaign targets of one site."""

    def __init__(self, config: SlowConfig) -> None:
        self.config = config
        # The hourly ring counts failing requests only (all the explanation shows of it); the
        # daily one every field the detectors read.
        self.hours = Ring(0, config.hours, HOUR, fields=1)
        self.days = Ring(self.hours.size, config.days, DAY)
        self.size = self.hours.size + self.days.size
        # Stamps that no period equals (not even one before 1970), counters at zero.
        empty = array("q", [0]) * self.size
        for ring in (self.hours, self.days):
            for slot in range(ring.count):
                empty[ring.base + slot] = _NO_PERIOD
        self._empty = empty
        self.horizon = config.days * DAY
        # Plain dicts keep insertion order, which is least recently seen first when a client is
        # re-inserted on each hit (an OrderedDict costs a linked-list node per entry more).
        self.clients: dict[str, SlowClient] = {}
        self.targets: OrderedDict[str, Target] = OrderedDict()
        self.evicted = 0
        self._templates: dict[str, str] = {}

    # -- the hit -------------------------------------------------------------------------

    def record(
        self,
        ip: str,
        t: int,
        method: str,
        path: str,
        status: int | None,
        flags: int,
        covered: frozenset[str],
        agent: str,
        path_bit: int,
    ) -> list[Firing]:
        """Count one interesting request; returns what fires because of it.

        `flags` say what the request is (`HIT_LOGIN`, `HIT_FAILED`, `HIT_SENSITIVE`,
        `HIT_FOCUSED`; the not-found one is added here) and `path_bit` is its path's `_bit`:
        positional arguments, as both per-record loops call this for every failing request.
        `covered` names the long-window detectors whose finding the short windows already
        reported for this client (its episode is opened without another event); `agent` is the
        request's user agent (for a campaign's spread of agents).
        """
        cfg = self.config
        # The client's entry, re-inserted so the table stays least recently seen first.
        clients = self.clients
        client = clients.pop(ip, None)
        if client is None:
            if len(clients) >= cfg.max_clients:
                del clients[next(iter(clients))]
                self.evicted += 1
            client = SlowClient(t, self._empty)
        clients[ip] = client
        if t > client.last_seen:
            client.last_seen = t
        if status in cfg.not_found_statuses:
            flags |= HIT_NOT_FOUND
        totals = _count(client.data, self.hours.count, self.days.count, t, path_bit, flags)
        out: list[Firing] = []
        if totals is not None and totals[FOCUSED_HITS] * 2 >= totals[FAILING]:
            # Failing mostly amid page loads is people behind one address (a NAT), not a robot.
            self._client_checks(ip, client, t, out, covered, totals)
        focused = flags & HIT_FOCUSED != 0
        failed = flags & HIT_FAILED
        sensitive = flags & HIT_SENSITIVE
        login = flags & HIT_LOGIN
        if not focused or (not failed and not sensitive):
            # Only focused hits can make a member: a browser's misses amid its page loads
            # (most 404s on a real site) cost no target work.
            return out
        if not sensitive and not login and method in _SAFE_METHODS:
            # Many clients failing to GET the same page is a broken link, a stale bookmark or a
            # crawler's guess (`/ads.txt`, `/.well-known/...`), not an attack: only logins,
            # writes and probes for sensitive files make campaign targets.
            return out
        outcome = str(status) if status is not None else "-"
        # A sensitive path counts for its family only: probes are one-off paths, and a target
        # per probe would be an entry per client for nothing.
        keys: list[tuple[str, bool]] = []
        if sensitive:
            keys.append((f"* {SENSITIVE_FAMILY} {_status_class(status)}", True))
        else:
            keys.append((f"{method} {self._template(path)} {outcome}", False))
        for key, family in keys:
            self._target_hit(key, family, ip, t, agent, focused, out)
        return out

    def _template(self, path: str) -> str:
        template = self._templates.get(path)
        if template is None:
            if len(self._templates) >= _TEMPLATE_CACHE_LIMIT:
                self._templates.clear()
            template = self._templates[path] = endpoint_template(path)
        return template

    # -- one client over days ------------------------------------------------------------

    def _client_checks(
        self,
        ip: str,
        client: SlowClient,
        t: int,
        out: list[Firing],
        covered: frozenset[str],
        totals: list[int],
    ) -> None:
        """Run the long-window detectors of one client on its daily `totals` at `t` (a client
        whose failing requests were mostly focused)."""
        cfg = self.config
        failures = totals[FAILURES]
        if cfg.bruteforce_min_failures <= failures:
            attempts = totals[ATTEMPTS]
            ratio = failures / attempts if attempts else 0.0
            if (
                ratio >= cfg.bruteforce_min_failure_ratio
                and self._may_fire(client, "slow-bruteforce", t, failures)
                and "slow-bruteforce" not in covered
            ):
                evidence = self._client_evidence(client, t)
                evidence.update(
                    failure_ratio=round(ratio, 3),
                    threshold_failures=cfg.bruteforce_min_failures,
                )
                score = escalating_score(0.7, failures, cfg.bruteforce_min_failures)
                out.append(("slow-bruteforce", ip, score, evidence))
        not_found = totals[NOT_FOUND]
        probes = _distinct(totals[PROBE_SET])
        scanning = not_found >= cfg.scan_min_not_found and (
            _distinct(totals[PATHS]) >= cfg.scan_min_distinct_paths
        )
        if (
            (scanning or probes >= cfg.scan_min_distinct_probes)
            and self._may_fire(client, "slow-scan", t, max(not_found, probes))
            and "slow-scan" not in covered
        ):
            evidence = self._client_evidence(client, t)
            evidence.update(
                threshold_not_found=cfg.scan_min_not_found,
                threshold_distinct_paths=cfg.scan_min_distinct_paths,
                threshold_distinct_probes=cfg.scan_min_distinct_probes,
            )
            out.append(("slow-scan", ip, 0.7, evidence))

    def _may_fire(self, client: SlowClient, detector: str, t: int, level: int) -> bool:
        """Once per episode, again when the level grew fourfold; an episode lasts while the
        condition keeps holding within the horizon."""
        fired = client.fired
        if fired is None:
            fired = client.fired = array("q", [0, 0, 0] * len(CLIENT_DETECTORS))
        at = 3 * CLIENT_DETECTORS.index(detector)
        if not fired[at + 2] or t - fired[at] > self.horizon:
            fired[at], fired[at + 1], fired[at + 2] = t, level, 1
            return True
        fired[at] = t
        if level >= fired[at + 1] * 4:
            fired[at + 1] = level
            fired[at + 2] += 1
            return True
        return False

    def _client_evidence(self, client: SlowClient, t: int) -> dict[str, Any]:
        data = client.data
        days, hours = self.days, self.hours
        return {
            "window": "long",
            "window_seconds": self.horizon,
            "window_start": epoch_to_iso(max(client.first_seen, t - self.horizon)),
            "window_end": epoch_to_iso(t),
            "login_attempts": days.total(data, t, ATTEMPTS),
            "login_failures": days.total(data, t, FAILURES),
            "not_found": days.total(data, t, NOT_FOUND),
            "failing_requests": days.total(data, t, FAILING),
            "focused_failing_requests": days.total(data, t, FOCUSED_HITS),
            "distinct_failing_paths": _distinct(days.total(data, t, PATHS)),
            "distinct_probes": _distinct(days.total(data, t, PROBE_SET)),
            "sensitive_probes": days.total(data, t, PROBES),
            "failing_last_hours": hours.total(data, t, HOUR_FAILING),
            "hours_in_ring": hours.count,
            "first_seen": epoch_to_iso(client.first_seen),
        }

    # -- many clients, one target --------------------------------------------------------

    def _target_hit(
        self,
        key: str,
        family: bool,
        ip: str,
        t: int,
        agent: str,
        focused: bool,
        out: list[Firing],
    ) -> None:
        cfg = self.config
        target = self.targets.get(key)
        if target is None:
            target = self._new_target(key, family, t)
        else:
            self.targets.move_to_end(key)
        day = t // DAY
        if day > target.day:
            self._roll_day(target, day, t)
        target.hits += 1
        if t > target.last:
            target.last = t
        entry = target.clients.get(ip)
        if entry is None:
            if len(target.clients) >= cfg.max_clients_per_target and not self._make_room(target):
                return
            entry = target.clients[ip] = array("q", _NEW_ENTRY)
            entry[FIRST] = entry[LAST] = t
        entry[HITS] += 1
        if focused:
            entry[FOCUSED] += 1
        last = entry[LAST]
        if t - t % TEN_MINUTES != last - last % TEN_MINUTES:
            entry[WIN_HITS] = 0  # ten minutes other than those of the last hit
        if t > last:
            entry[LAST] = t
        entry[WIN_HITS] += 1
        if entry[WIN_HITS] > entry[WIN_MAX]:
            entry[WIN_MAX] = entry[WIN_HITS]
        joined = False
        if entry[MEMBER]:
            target.member_hits += 1
        elif entry[FOCUSED] >= cfg.member_min_hits:
            entry[MEMBER] = 1
            joined = True
            if not target.members:
                target.member_first = entry[FIRST]
            target.members += 1
            target.member_hits += entry[HITS]
            target.member_first = min(target.member_first, entry[FIRST])
            target.prefixes |= _bit(network_prefix(ip))
            target.agents |= _bit(agent)
            target.recent.append(ip)
            if len(target.recent) > _SAMPLE_MEMBERS:
                del target.recent[0]
        else:
            return
        target.member_last = max(target.member_last, t)
        target.member_pace = max(target.member_pace, entry[WIN_MAX])
        count = target.members
        if count < self.threshold(target) or (_distinct(target.prefixes) < cfg.min_member_prefixes):
            # Too few, or all from a handful of networks: one office behind a proxy pool or
            # one provider's fleet, not clients spread over the internet.
            return
        fired = target.fired
        if fired is None or t - fired[0] > self.horizon:
            # The campaign opens: every member so far is announced.
            target.fired = [t, count, 1]
            summary = self.summary(target, t)
            for member, member_entry in target.clients.items():
                if member_entry[MEMBER]:
                    self._announce(target, member, t, summary, out)
            return
        fired[0] = t
        if joined or t - entry[ANNOUNCED] >= cfg.reannounce_seconds:
            self._announce(target, ip, t, self.summary(target, t), out)

    @staticmethod
    def _make_room(target: Target) -> bool:
        """Drop the oldest non-member among the first few entries of a full target: members
        stay (they must be blocked as the campaign grows), passers-by make way."""
        for count, (ip, entry) in enumerate(target.clients.items()):
            if count >= 64:
                return False
            if not entry[MEMBER]:
                del target.clients[ip]
                return True
        return False

    def threshold(self, target: Target) -> float:
        """Members a target needs to be a campaign: the floor, or far above its baseline."""
        cfg = self.config
        if target.baseline_days < cfg.baseline_min_days:
            return float(cfg.min_clients)
        return max(float(cfg.min_clients), cfg.baseline_factor * target.baseline)

    def _announce(
        self, target: Target, ip: str, t: int, summary: dict[str, Any], out: list[Firing]
    ) -> None:
        entry = target.clients[ip]
        entry[ANNOUNCED] = t
        evidence = dict(summary)
        evidence["member"] = {
            "client": ip,
            "hits": entry[HITS],
            "first_seen": epoch_to_iso(entry[FIRST]),
            "last_seen": epoch_to_iso(entry[LAST]),
            "most_in_ten_minutes": entry[WIN_MAX],
        }
        score = escalating_score(0.75, summary["members"], summary["threshold_members"])
        out.append(("campaign", ip, score, evidence))

    def summary(self, target: Target, t: int) -> dict[str, Any]:
        """The campaign's evidence: its target, members, volume, span and pace."""
        method, rest = target.key.split(" ", 1)
        endpoint, outcome = rest.rsplit(" ", 1)
        count = target.members
        hits = target.member_hits
        first, last, pace = target.member_first, target.member_last, target.member_pace
        hours = (last - first) / HOUR
        listed = list(target.recent)
        networks = _distinct(target.prefixes)
        agents = _distinct(target.agents)
        text = (
            f"campaign: {count} clients, {hits:,} {method} {endpoint} → {outcome} over "
            f"{hours:.0f} h, at most {pace} per client per 10 min, from about {networks} "
            f"networks with about {agents} user agents; members "
            f"{', '.join(listed)}{' …' if count > len(listed) else ''}"
        )
        return {
            "campaign": target.key,
            "method": method,
            "endpoint": endpoint,
            "outcome": outcome,
            "family": target.family,
            "members": count,
            "member_hits": hits,
            "target_hits": target.hits,
            "first_seen": epoch_to_iso(first),
            "last_seen": epoch_to_iso(last),
            "span_hours": round(hours, 1),
            "most_per_client_per_10_min": pace,
            "member_networks": networks,
            "member_user_agents": agents,
            "threshold_members": round(self.threshold(target), 1),
            "baseline_members": round(target.baseline, 2),
            "sample_members": listed,
            "explanation": text,
        }

    def _new_target(self, key: str, family: bool, t: int) -> Target:
        cfg = self.config
        targets = self.targets
        if len(targets) >= cfg.max_targets:
            # Drop the least recently hit target that is not an open campaign.
            victim = next((k for k, v in targets.items() if v.fired is None), next(iter(targets)))
            del targets[victim]
        target = targets[key] = Target(key, family, t)
        return target

    def _roll_day(self, target: Target, day: int, t: int) -> None:
        """A new day for `target`: learn the baseline and forget clients past the horizon."""
        cfg = self.config
        cutoff = t - self.horizon
        stale = [ip for ip, e in target.clients.items() if e[LAST] < cutoff]
        for ip in stale:
            del target.clients[ip]
        if stale:
            target.recount()
        if target.fired is None:
            # The members a target has over the horizon on an ordinary day.
            sample = float(target.members)
            if target.baseline_days == 0:
                target.baseline = sample
            else:
                target.baseline += cfg.baseline_alpha * (sample - target.baseline)
            target.baseline_days += 1
        target.day = day
        if target.fired is not None and t - target.fired[0] > self.horizon:
            target.fired = None

    # -- upkeep ----------------------------------------------------------------------------

    def expire(self, now: int) -> None:
        """Drop clients and targets idle for longer than the horizon."""
        cutoff = now - self.horizon
        clients = self.clients
        while clients:
            ip, client = next(iter(clients.items()))
            if client.last_seen >= cutoff:
                break
            del clients[ip]
        targets = self.targets
        while targets:
            key, target = next(iter(targets.items()))
            if target.last >= cutoff:
                break
            del targets[key]

    def memory_items(self) -> int:
        """Client entries held (in the slow table and in targets), for stats."""
        return len(self.clients) + sum(len(t.clients) for t in self.targets.values())

    def to_state(self) -> dict[str, Any]:
        return {
            "clients": [
                [ip, c.first_seen, c.last_seen, list(c.data), c.fired and list(c.fired)]
                for ip, c in self.clients.items()
            ],
            "targets": [target.to_state() for target in self.targets.values()],
            "evicted": self.evicted,
        }

    def load(self, state: dict[str, Any]) -> None:
        # Older snapshots kept every field in the hourly ring too.
        old_hours = self.hours.count * (1 + FIELDS)
        for ip, first, last, data, fired in state["clients"]:
            if len(data) == old_hours + self.days.size != self.size:
                count = self.hours.count
                failing = [data[count + slot * FIELDS + FAILING] for slot in range(count)]
                data = [*data[:count], *failing, *data[old_hours:]]
            if len(data) != self.size:
                raise ValueError("long-window client of unexpected size")
            client = SlowClient(int(first), self._empty)
            client.last_seen = int(last)
            client.data = array("q", (int(x) for x in data))
            if fired:
                if len(fired) != 3 * len(CLIENT_DETECTORS):
                    raise ValueError("long-window episodes of unexpected size")
                client.fired = array("q", (int(x) for x in fired))
            self.clients[str(ip)] = client
        for item in state["targets"]:
            target = Target.from_state(item)
            self.targets[target.key] = target
        self.evicted = int(state["evicted"])


def _count_python(
    data: array[int], hours: int, days: int, t: int, path_bit: int, flags: int
) -> list[int] | None:
    """Count one hit (`HIT_*` flags) in a client's hourly and daily rings.

    Returns the daily totals when a long-window detector's counter may have grown (a failed
    login, a not-found answer, a probe), else None. `_kernel.slow_count` is the same, compiled.
    """
    hour_ring = Ring(0, hours, HOUR, fields=1)
    day_ring = Ring(hour_ring.size, days, DAY)
    if len(data) != hour_ring.size + day_ring.size:
        raise ValueError("long-window client of unexpected size")
    base = day_ring.bucket(data, t)
    failed = flags & HIT_FAILED
    if flags & HIT_LOGIN:
        data[base + ATTEMPTS] += 1
        if failed:
            data[base + FAILURES] += 1
    if failed:
        data[hour_ring.bucket(data, t) + HOUR_FAILING] += 1
        data[base + FAILING] += 1
        data[base + PATHS] = _signed(data[base + PATHS] | path_bit)
        if flags & HIT_FOCUSED:
            data[base + FOCUSED_HITS] += 1
    if flags & HIT_NOT_FOUND:
        data[base + NOT_FOUND] += 1
    if flags & HIT_SENSITIVE:
        data[base + PROBES] += 1
        data[base + PROBE_SET] = _signed(data[base + PROBE_SET] | path_bit)
    if not ((flags & HIT_LOGIN and failed) or flags & (HIT_NOT_FOUND | HIT_SENSITIVE)):
        return None
    return day_ring.totals(data, t)


def _kernel_count() -> Callable[[array[int], int, int, int, int, int], list[int] | None]:
    """The compiled `_count_python` when it is built from this module's layout."""
    try:
        from vigil.detect.behaviour._kernel import SLOW_LAYOUT, slow_count
    except ImportError:
        return _count_python
    names = globals()
    if all(names[name] == value for name, value in SLOW_LAYOUT.items()):
        return slow_count
    return _count_python


_count = _kernel_count()


def _signed(value: int) -> int:
    """A 64-bit bitmap as the signed integer an `array('q')` holds."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


def _distinct(bits: int) -> int:
    """Linear-counting estimate of the distinct items of a 64-bit bitmap."""
    return round(distinct(bits & _MASK64, 64))


def network_prefix(ip: str) -> str:
    """The network a client address belongs to for a campaign's spread: its /24 (IPv4) or
    /48 (IPv6)."""
    if ":" not in ip:
        return ip.rpartition(".")[0] or ip
    try:
        return str(ipaddress.ip_network(f"{ip}/48", strict=False))
    except ValueError:
        return ip


def _status_class(status: int | None) -> str:
    return f"{status // 100}xx" if status is not None else "-"
