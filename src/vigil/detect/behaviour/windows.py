"""Bounded per-client state: two sliding windows of counters, kept in a capped table.

Each window of length W is made of two generations of W/2 seconds (aligned to event time):
the current one and the one before it. The window's value is the sum of both, an exact count
over the last W/2 to W seconds; when a generation ends the older one is dropped, which is how
entries age out without any timer. Distinct paths, user agents and sensitive paths are kept as
fixed-size bitmaps (linear counting), so one client never costs more than a fixed amount of
memory however hostile its traffic. The table holds at most `max_clients` entries and drops the
least recently seen first (see `ClientTable`); entries idle for longer than their time-to-live
are swept per batch.

Measured cost per tracked client (benchmarks/bench_behaviour.py, tracemalloc, CPython 3.11,
including its share of the path and agent caches): with the compiled state, about 0.55 KB for
an ordinary visitor (a page and its assets) and about 2.8 KB for a busy one (both generations,
six evidence samples, login counters, an open episode); the pure-Python state takes about 0.7
and 3 KB. The default cap of 100,000 clients therefore bounds the windows to roughly 55-70 MB
on ordinary traffic and about 300 MB in the worst case.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from vigil.detect.behaviour.classify import PATH_BITS, UA_BITS

# Slots of one long-window generation (a plain list: cheapest to update in the hot loop).
REQ = 0
NOT_FOUND = 1
S401 = 2
S403 = 3
S5XX = 4
BYTES = 5
POST = 6
HEAD = 7
OTHER_METHOD = 8
UA_SWITCH = 9
GAP_N = 10
GAP_SUM = 11
GAP_SQ = 12
ASSET = 13
SENSITIVE_HITS = 14
SENSITIVE_SERVED = 15
LOGIN_ATTEMPTS = 16
LOGIN_FAILURES = 17
PATH_SET = 18
UA_SET = 19
SENSITIVE_SET = 20
LOGINS = 21
GEN_SIZE = 22

BITMAP_SLOTS = (PATH_SET, UA_SET, SENSITIVE_SET)
SAMPLE_LIMIT = 6
SAMPLE_PATH_CHARS = 120


EMPTY_GENERATION: list[Any] = [0] * GEN_SIZE
EMPTY_GENERATION[LOGINS] = None


def new_generation() -> list[Any]:
    """An empty long-window generation."""
    return EMPTY_GENERATION.copy()


def distinct(bits: int, size: int) -> float:
    """Linear-counting estimate of how many distinct items set `bits` in a bitmap of `size`."""
    used = bits.bit_count()
    if used == 0:
        return 0.0
    if used >= size:
        return size * math.log(size)
    return -size * math.log1p(-used / size)


class _ClientSlots:
    """The fields of `ClientState` (`_kernel.ClientSlots` holds the same ones as C members)."""

    __slots__ = (
        "agent",
        "allowed",
        "fired",
        "first_seen",
        "last_seen",
        "long_cur",
        "long_prev",
        "long_start",
        "queued",
        "samples",
        "short_req",
        "short_req_prev",
        "short_start",
    )

    def __init__(self, t: int, long_gen: int, short_gen: int, allowed: bool) -> None:
        self.first_seen = t
        self.last_seen = -1
        # Event time at which the entry was last placed at the back of its table.
        self.queued = t
        self.long_start = t - t % long_gen
        self.long_cur: list[Any] = EMPTY_GENERATION.copy()
        self.long_prev: list[Any] | None = None
        self.short_start = t - t % short_gen
        self.short_req = 0
        self.short_req_prev = 0
        self.agent: tuple[int, int, bool] | None = None
        self.allowed = allowed
        # Per detector: [last time its condition held, level at last firing, firings].
        self.fired: dict[str, list[float]] | None = None
        self.samples: list[tuple[int, str, str, int | None]] | None = None


def _expire_python(entries: OrderedDict[str, ClientState], now: int, ttl: int) -> int:
    """`ClientTable.expire` in Python (`_kernel.expire` is the same, compiled)."""
    cutoff = now - ttl
    dropped = 0
    while entries:
        ip = next(iter(entries))
        st = entries[ip]
        if st.queued >= cutoff:
            # Everything behind was queued later and seen at least as late: still alive.
            break
        del entries[ip]
        if st.last_seen < cutoff:
            dropped += 1
        else:
            st.queued = now
            entries[ip] = st
    return dropped


# The compiled expiry and client fields when `_kernel` is built; the Python ones otherwise.
_expire: Callable[[OrderedDict[str, ClientState], int, int], int] = _expire_python
if TYPE_CHECKING:
    _Slots = _ClientSlots
else:
    try:
        from vigil.detect.behaviour._kernel import ClientSlots as _Slots
        from vigil.detect.behaviour._kernel import expire as _expire
        from vigil.detect.behaviour._kernel import set_empty_generation

        set_empty_generation(EMPTY_GENERATION)
    except ImportError:
        _Slots = _ClientSlots


class ClientState(_Slots):
    """What the behaviour windows remember about one client.

    `agent` is the classification of the client's latest user agent, `(bitmap bit, class,
    good bot)`, as the agent classifier caches it; it is None after a long-window roll until
    the next request names it again. The fields live in the compiled base class when it is
    built, so the compiled loop reads and writes them as C members.
    """

    __slots__ = ()

    @property
    def cls(self) -> int:
        """Client class of the latest user agent (browser, bot, api)."""
        return self.agent[1] if self.agent is not None else 0

    @property
    def good_bot(self) -> bool:
        """Whether the latest user agent names a known good crawler."""
        return self.agent[2] if self.agent is not None else False

    def roll_long(self, t: int, gen: int) -> None:
        """Start a new long generation at `t`, keeping the last one if it is adjacent."""
        self.long_prev = self.long_cur if t < self.long_start + 2 * gen else None
        self.long_cur = EMPTY_GENERATION.copy()
        self.long_start = t - t % gen
        self.agent = None

    def roll_short(self, t: int, gen: int) -> None:
        """Start a new short generation at `t`, keeping the last one if it is adjacent."""
        self.short_req_prev = self.short_req if t < self.short_start + 2 * gen else 0
        self.short_req = 0
        self.short_start = t - t % gen

    def add_sample(self, t: int, method: str, path: str, status: int | None) -> None:
        """Remember a noteworthy request for evidence (most recent few only)."""
        samples = self.samples
        if samples is None:
            self.samples = [(t, method, path[:SAMPLE_PATH_CHARS], status)]
            return
        if len(samples) >= SAMPLE_LIMIT:
            del samples[0]
        samples.append((t, method, path[:SAMPLE_PATH_CHARS], status))

    def long_view(self, now: int, gen: int) -> tuple[list[Any] | None, list[Any] | None]:
        """The (current, previous) generations that still fall in the long window at `now`."""
        if now < self.long_start + gen:
            return self.long_cur, self.long_prev
        if now < self.long_start + 2 * gen:
            return None, self.long_cur
        return None, None

    def short_requests(self, now: int, gen: int) -> int:
        """Requests in the short window as of `now`."""
        if now < self.short_start + gen:
            return self.short_req + self.short_req_prev
        if now < self.short_start + 2 * gen:
            return self.short_req
        return 0


class LongWindow:
    """Read access to one client's long-window totals (both generations summed)."""

    __slots__ = ("cur", "prev")

    def __init__(self, cur: list[Any] | None, prev: list[Any] | None) -> None:
        self.cur = cur
        self.prev = prev

    def total(self, slot: int) -> int:
        """Sum of a counter over the window."""
        value = 0
        if self.cur is not None:
            value += self.cur[slot]
        if self.prev is not None:
            value += self.prev[slot]
        return value

    def bits(self, slot: int) -> int:
        """Union of a bitmap over the window."""
        value = 0
        if self.cur is not None:
            value |= self.cur[slot]
        if self.prev is not None:
            value |= self.prev[slot]
        return value

    def distinct_paths(self) -> float:
        return distinct(self.bits(PATH_SET), PATH_BITS)

    def distinct_agents(self) -> float:
        return distinct(self.bits(UA_SET), UA_BITS)

    def distinct_sensitive(self) -> int:
        # Few sensitive paths per client: the popcount is exact enough, and an integer reads
        # better in evidence.
        return self.bits(SENSITIVE_SET).bit_count()

    def login(self, endpoint: int) -> tuple[int, int]:
        """(attempts, failures) at one login endpoint over the window."""
        attempts = failures = 0
        for gen in (self.cur, self.prev):
            if gen is not None and gen[LOGINS] is not None:
                pair = gen[LOGINS].get(endpoint)
                if pair is not None:
                    attempts += pair[0]
                    failures += pair[1]
        return attempts, failures

    def interarrival(self) -> tuple[float, float, int]:
        """(mean gap seconds, coefficient of variation, gaps) of inter-arrival times."""
        n = self.total(GAP_N)
        if n == 0:
            return 0.0, 0.0, 0
        mean = self.total(GAP_SUM) / n
        var = max(self.total(GAP_SQ) / n - mean * mean, 0.0)
        if mean == 0:
            return 0.0, 0.0 if var == 0 else math.inf, n
        return mean, math.sqrt(var) / mean, n


class ClientTable:
    """Per-client states, capped and swept by age, least recently seen leaving first.

    Moving an entry to the back on every request would cost more than the rest of the
    per-record work, so the table uses second-chance ordering instead: entries sit in the
    order they were (re)queued, and one found at the front that has been seen since it was
    queued is queued again at the back rather than dropped. Eviction therefore removes a client
    not seen since the longest time (approximately least recently seen), and a sweep by age only
    ever looks at the front.
    """

    def __init__(self) -> None:
        self.entries: OrderedDict[str, ClientState] = OrderedDict()
        self.evicted = 0
        self.expired = 0

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def evict_oldest(self, now: int, max_requeue: int = 64) -> None:
        """Drop the client seen least recently (second chance for up to `max_requeue`)."""
        entries = self.entries
        for _ in range(max_requeue):
            ip, st = entries.popitem(last=False)
            if st.last_seen <= st.queued:
                self.evicted += 1
                return
            st.queued = max(now, st.last_seen)
            entries[ip] = st
        entries.popitem(last=False)
        self.evicted += 1

    def expire(self, now: int, ttl: int) -> int:
        """Drop clients not seen for `ttl` seconds; returns how many went."""
        dropped = _expire(self.entries, now, ttl)
        self.expired += dropped
        return dropped
