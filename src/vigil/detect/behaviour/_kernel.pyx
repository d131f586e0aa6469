# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=False
"""Compiled per-record update of the behaviour windows.

This is the loop of `BehaviourEngine.process_batch` (`engine.py`, `_update_python`) in Cython,
statement for statement: the Python version stays the reference and the fallback when this
module is not built, and `tests/detect/test_behaviour_kernel.py` checks that both leave
byte-identical snapshots and the same events. Everything rare (admitting a client, classifying
a new path or agent, logins, detector checks, events) calls back into the same Python code;
only the common path (counters, generation rolls, bitmaps) runs here without the interpreter.

Counters stay Python integers in Python lists, so detectors, features and snapshots read the
same structures whichever loop filled them, and no value can overflow.
"""

from cpython.datetime cimport (
    datetime,
    datetime_day,
    datetime_hour,
    datetime_minute,
    datetime_month,
    datetime_second,
    datetime_tzinfo,
    datetime_year,
    import_datetime,
)
from cpython.array cimport array
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_GET_ITEM

import_datetime()

# Field positions of LogRecord; `engine.py` checks them against the named tuple at import.
RECORD_FIELDS = {
    "client_ip": 3,
    "observed_at": 4,
    "method": 5,
    "path": 7,
    "status": 10,
    "bytes_sent": 11,
    "user_agent": 13,
}
DEF F_IP = 3
DEF F_TS = 4
DEF F_METHOD = 5
DEF F_PATH = 7
DEF F_STATUS = 10
DEF F_BYTES = 11
DEF F_AGENT = 13

# Bumped whenever the loop's calls into Python change; `engine.py` refuses an older build.
LOOP_VERSION = 3

# Generation slots; `engine.py` checks them against `windows.py` at import.
SLOTS = {
    "REQ": 0, "NOT_FOUND": 1, "S401": 2, "S403": 3, "S5XX": 4, "BYTES": 5, "POST": 6,
    "HEAD": 7, "OTHER_METHOD": 8, "UA_SWITCH": 9, "GAP_N": 10, "GAP_SUM": 11, "GAP_SQ": 12,
    "ASSET": 13, "SENSITIVE_HITS": 14, "SENSITIVE_SERVED": 15, "PATH_SET": 18, "UA_SET": 19,
    "SENSITIVE_SET": 20,
}
DEF REQ = 0
DEF NOT_FOUND = 1
DEF S401 = 2
DEF S403 = 3
DEF S5XX = 4
DEF BYTES = 5
DEF POST = 6
DEF HEAD = 7
DEF OTHER_METHOD = 8
DEF UA_SWITCH = 9
DEF GAP_N = 10
DEF GAP_SUM = 11
DEF GAP_SQ = 12
DEF ASSET = 13
DEF SENSITIVE_HITS = 14
DEF SENSITIVE_SERVED = 15
DEF PATH_SET = 18
DEF UA_SET = 19
DEF SENSITIVE_SET = 20

DEF IS_HEALTH = 1
DEF IS_SENSITIVE = 2
DEF IS_ASSET = 4

# Layout of a long-window client (`slow.py`); `slow.py` checks it at import and keeps its
# Python counting where it differs.
SLOW_LAYOUT = {
    "ATTEMPTS": 0, "FAILURES": 1, "NOT_FOUND": 2, "PROBES": 3, "FAILING": 4, "PATHS": 5,
    "PROBE_SET": 6, "FOCUSED_HITS": 7, "FIELDS": 8, "HOUR_FAILING": 0, "HOUR": 3600,
    "DAY": 86400, "HIT_LOGIN": 1, "HIT_FAILED": 2, "HIT_NOT_FOUND": 4, "HIT_SENSITIVE": 8,
    "HIT_FOCUSED": 16,
}
DEF S_ATTEMPTS = 0
DEF S_FAILURES = 1
DEF S_NOT_FOUND = 2
DEF S_PROBES = 3
DEF S_FAILING = 4
DEF S_PATHS = 5
DEF S_PROBE_SET = 6
DEF S_FOCUSED_HITS = 7
DEF S_FIELDS = 8
DEF S_HOUR = 3600
DEF S_DAY = 86400

# The `flags` of `slow_count`, as `slow.py` names them.
DEF HIT_LOGIN = 1
DEF HIT_FAILED = 2
DEF HIT_NOT_FOUND = 4
DEF HIT_SENSITIVE = 8
DEF HIT_FOCUSED = 16


cdef class ClientSlots:
    """The fields of `windows.ClientState`, as C members; the methods live in the subclass."""

    cdef public long long first_seen
    cdef public long long last_seen
    cdef public long long queued
    cdef public long long long_start
    cdef public long long short_start
    cdef public long long short_req
    cdef public long long short_req_prev
    cdef public list long_cur
    cdef public object long_prev
    cdef public object agent
    cdef public bint allowed
    cdef public object fired
    cdef public object samples
    # The latest user-agent text and its classification, kept across generation rolls: most
    # clients keep one agent, and comparing the text is cheaper than hashing it again.
    cdef object agent_text
    cdef object agent_info

    def __init__(self, long long t, long long long_gen, long long short_gen, bint allowed):
        self.first_seen = t
        self.last_seen = -1
        self.queued = t
        self.long_start = t - _pymod(t, long_gen)
        self.long_cur = _empty_generation()
        self.long_prev = None
        self.short_start = t - _pymod(t, short_gen)
        self.short_req = 0
        self.short_req_prev = 0
        self.agent = None
        self.allowed = allowed
        self.fired = None
        self.samples = None


cdef object _EMPTY = None
DEF _BIT_COUNT = 512
cdef tuple _BITS = tuple([1 << i for i in range(_BIT_COUNT)])


def set_empty_generation(list empty):
    """Register the empty generation list that new generations are copied from."""
    global _EMPTY
    _EMPTY = empty


cdef inline list _empty_generation():
    return list(<list>_EMPTY)


cdef inline long long _pymod(long long a, long long b):
    # With cdivision off, `%` keeps Python's sign rule, as `t - t % gen` needs before 1970.
    return a % b


cdef inline long long _days_from_civil(long long y, long long m, long long d):
    # Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    cdef long long era, yoe, doy, doe
    if m <= 2:
        y -= 1
    era = y // 400  # floor division: cdivision is off
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def update(
    engine,
    s,
    records,
    list events,
    enrichment,
    object utc,
    list infos,
):
    """Run the per-record window update over `records`; see `engine._update_python`."""
    if infos is not None and len(infos) != len(records):
        raise ValueError("one path classification (or None) per record")
    entries = s.table.entries  # an OrderedDict: a dict subclass, read with PyDict_GetItem
    cdef dict path_cache = engine._paths._cache
    classify_path = engine._paths.classify
    cdef dict agent_cache = engine._agents._cache
    classify_agent = engine._agents.classify
    cdef long long long_gen = engine._long_gen
    cdef long long short_gen = engine._short_gen
    not_found_statuses = engine._not_found
    cfg = engine.config
    scan_min = cfg.scan.min_not_found if cfg.scan.enabled else 1 << 62
    probe_min = cfg.probe.min_distinct_probes if cfg.probe.enabled else 1 << 62
    error_min = cfg.error_spike.min_errors if cfg.error_spike.enabled else 1 << 62
    agents_min = cfg.ua_rotation.cycling_min_uas if cfg.ua_rotation.enabled else 1 << 62
    cdef double flood_min = engine._flood_floor if cfg.flood.enabled else float(1 << 62)
    cdef tuple floor_values = engine._class_floors
    cdef double short_scale = engine._short_scale
    cdef double alpha = cfg.flood.ewma_alpha
    cdef list baselines = s.baselines
    cdef list samples = s.baseline_samples
    cdef long long clock = s.clock
    cdef long long site_end = s.err_start + long_gen
    cdef long long site_requests = 0
    detectors = engine._detectors
    may_fire = engine._may_fire
    emit = engine._emit
    login_update = engine._login
    cdef bint slow_on = engine._slow_on
    slow_record = s.slow.record
    slow_fired = engine._slow_fired
    # Indexed as Python objects: bounds-checked whatever the classifier hands out.
    endpoint_methods = engine._endpoint_methods
    endpoint_failures = engine._endpoint_failures
    from vigil.detect.behaviour.engine import _covered as covered
    admit = engine._admit
    from vigil.detect.behaviour.windows import ClientState, LongWindow

    # Admitting a client needs no Python frame unless the table is full, there are several
    # sites, or an allowlist must be consulted.
    cdef bint simple_admit = len(engine._sites) == 1 and not engine._allow
    cdef Py_ssize_t max_clients = engine.max_clients

    cdef object last_ts = None
    cdef long long last_t = 0
    cdef long long t, last, gap, count, n, short
    cdef long long pinfo, path_flags, position, login
    cdef int flags
    cdef Py_ssize_t index
    cdef tuple rec
    cdef ClientSlots st
    cdef list cur
    cdef object prev
    cdef PyObject* found_ptr
    cdef int cls
    cdef double sample, base
    # The class baselines live in C for the batch (one update per finished short generation
    # would box a float each time); the site's lists get them back before anything reads them.
    cdef double floors[3]
    cdef double bl[3]
    cdef long long bn[3]
    cdef int c
    if len(baselines) != 3 or len(samples) != 3 or len(floor_values) != 3:
        raise ValueError("behaviour state must hold one baseline per client class")
    for c in range(3):
        floors[c] = floor_values[c]
        bl[c] = baselines[c]
        bn[c] = samples[c]
    cdef bint new_agent
    cdef datetime dt

    try:
        for index in range(len(records)):
            rec = <tuple>records[index]
            ts = rec[F_TS]
            if ts is None:
                t = clock
            else:
                if ts is last_ts:
                    t = last_t
                else:
                    dt = <datetime>ts
                    if datetime_tzinfo(dt) is utc:
                        t = _days_from_civil(
                            datetime_year(dt), datetime_month(dt), datetime_day(dt)
                        ) * 86400 + (
                            datetime_hour(dt) * 3600 + datetime_minute(dt) * 60 + datetime_second(dt)
                        )
                    else:
                        t = int(ts.timestamp())
                    last_ts = ts
                    last_t = t
                if t > clock:
                    clock = t
            path = rec[F_PATH]
            info = infos[index] if infos is not None else None
            if info is not None:
                pinfo = info
            else:
                found_ptr = PyDict_GetItem(path_cache, path)
                if found_ptr is NULL:
                    pinfo = classify_path(path)
                else:
                    pinfo = <object>found_ptr
            path_flags = pinfo & 15
            ip = rec[F_IP]
            found_ptr = PyDict_GetItem(entries, ip)
            if found_ptr is NULL:
                if simple_admit and len(entries) < max_clients:
                    st = <ClientSlots>ClientState(t, long_gen, short_gen, False)
                    entries[ip] = st
                else:
                    st = <ClientSlots>admit(s, ip, t)
            else:
                st = <ClientSlots>found_ptr
                if t < st.last_seen:
                    t = st.last_seen
            if path_flags & IS_HEALTH:
                if t > st.last_seen:
                    st.last_seen = t
                continue
            agent = rec[F_AGENT]
            if st.agent_text is not None and (agent is st.agent_text or agent == st.agent_text):
                ainfo = st.agent_info
            else:
                found_ptr = PyDict_GetItem(agent_cache, agent)
                if found_ptr is NULL:
                    ainfo = classify_agent(agent)
                else:
                    ainfo = <object>found_ptr
                st.agent_text = agent
                st.agent_info = ainfo

            if t >= st.long_start + long_gen:
                st.long_prev = st.long_cur if t < st.long_start + 2 * long_gen else None
                cur = _empty_generation()
                st.long_cur = cur
                st.long_start = t - _pymod(t, long_gen)
                st.agent = None
            else:
                cur = st.long_cur
            if t >= st.short_start + short_gen:
                count = st.short_req
                if count and st.fired is None and not st.allowed:
                    cls = (<tuple>ainfo)[1]
                    sample = count * short_scale
                    if sample > floors[cls]:
                        sample = floors[cls]
                    if bn[cls] == 0:
                        bl[cls] = sample
                    else:
                        base = bl[cls]
                        bl[cls] = base + alpha * (sample - base)
                    bn[cls] += 1
                st.short_req_prev = count if t < st.short_start + 2 * short_gen else 0
                st.short_req = 0
                st.short_start = t - _pymod(t, short_gen)
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
            sent = rec[F_BYTES]
            if sent:
                cur[BYTES] += sent
            method = rec[F_METHOD]
            if method != "GET":
                if method == "POST":
                    cur[POST] += 1
                elif method == "HEAD":
                    cur[HEAD] += 1
                else:
                    cur[OTHER_METHOD] += 1
            if path_flags & IS_ASSET:
                cur[ASSET] += 1
            # The bit as a Python int (a C shift would overflow past 63); 512 of them are shared.
            position = pinfo >> 16
            if position < _BIT_COUNT:
                path_bit = <object>PyTuple_GET_ITEM(_BITS, position)
            else:
                path_bit = (<object>1) << position
            bits = cur[PATH_SET]
            if not bits & path_bit:
                cur[PATH_SET] = bits | path_bit

            new_agent = False
            previous_agent = st.agent
            if ainfo is not previous_agent:
                agent_bit = (<tuple>ainfo)[0]
                if previous_agent is None or agent_bit != (<tuple>previous_agent)[0]:
                    if previous_agent is not None:
                        switches = cur[UA_SWITCH] + 1
                        cur[UA_SWITCH] = switches
                        new_agent = not switches & 7
                    bits = cur[UA_SET]
                    if not bits & agent_bit:
                        cur[UA_SET] = bits | agent_bit
                        prev = st.long_prev
                        new_agent = new_agent or prev is None or not (<list>prev)[UA_SET] & agent_bit
                st.agent = ainfo

            status = rec[F_STATUS]
            if path_flags & IS_SENSITIVE:
                cur[SENSITIVE_HITS] += 1
                if status is not None and 200 <= status < 300:
                    cur[SENSITIVE_SERVED] += 1
                (<object>st).add_sample(t, method, path, status)
                cur[SENSITIVE_SET] |= path_bit
                win = LongWindow(cur, st.long_prev)
                probes = win.distinct_sensitive()
                if probes >= probe_min and may_fire(st, "probe-burst", t, probes):
                    finding = detectors.probe(st, win, t)
                    emit(s, st, rec, index, t, "probe-burst", finding, events)
            if status is not None and status >= 400:
                if status in not_found_statuses:
                    cur[NOT_FOUND] += 1
                    if not path_flags & IS_SENSITIVE:
                        (<object>st).add_sample(t, method, path, status)
                    prev = st.long_prev
                    nf = cur[NOT_FOUND] + ((<list>prev)[NOT_FOUND] if prev is not None else 0)
                    if nf >= scan_min and may_fire(st, "scan", t, nf):
                        win = LongWindow(cur, prev)
                        finding = detectors.scan(st, win, t)
                        emit(s, st, rec, index, t, "scan", finding, events)
                elif status == 401:
                    cur[S401] += 1
                elif status == 403:
                    cur[S403] += 1
                if status >= 500:
                    cur[S5XX] += 1
                    s.err_5xx += 1
                    (<object>st).add_sample(t, method, path, status)
                    prev = st.long_prev
                    errors = cur[S5XX] + ((<list>prev)[S5XX] if prev is not None else 0)
                    if errors >= error_min and may_fire(st, "error-spike", t, errors):
                        s.err_req += site_requests
                        site_requests = 0
                        win = LongWindow(cur, prev)
                        finding = detectors.error_spike(
                            st, win, t, s.err_req + s.err_req_prev, s.err_5xx + s.err_5xx_prev
                        )
                        emit(s, st, rec, index, t, "error-spike", finding, events)
            if pinfo & 0xFFF0:
                login_update(
                    s, st, rec, index, t, (pinfo >> 4 & 4095) - 1, status, events, enrichment
                )
            if pinfo & 0xFFF2 or (status is not None and status >= 400):
                # `engine._slow_hit`, here without a Python frame per failing request.
                agent_info = st.agent
                if slow_on and not st.allowed and not (
                    agent_info is not None and (<tuple>agent_info)[2]
                ):
                    flags = HIT_FAILED if status is not None and status >= 400 else 0
                    login = (pinfo >> 4 & 4095) - 1
                    if login >= 0 and method in endpoint_methods[<object>login]:
                        flags |= HIT_LOGIN
                        if status in endpoint_failures[<object>login]:
                            flags |= HIT_FAILED
                    if path_flags & IS_SENSITIVE:
                        flags |= HIT_SENSITIVE
                    if flags:
                        prev = st.long_prev
                        requests = cur[REQ] + ((<list>prev)[REQ] if prev is not None else 0)
                        assets = cur[ASSET] + ((<list>prev)[ASSET] if prev is not None else 0)
                        if assets * 10 <= requests:
                            flags |= HIT_FOCUSED
                        found = slow_record(
                            ip,
                            t,
                            method,
                            path,
                            status,
                            flags,
                            covered(st.fired),
                            agent,
                            <object>PyTuple_GET_ITEM(_BITS, position & 63),
                        )
                        if found:
                            slow_fired(s, rec, index, found, events)
            if new_agent:
                prev = st.long_prev
                agents = (
                    cur[UA_SET] | ((<list>prev)[UA_SET] if prev is not None else 0)
                ).bit_count()
                if agents >= agents_min and may_fire(st, "ua-rotation", t, agents):
                    win = LongWindow(cur, prev)
                    finding = detectors.ua_rotation(st, win, t)
                    emit(s, st, rec, index, t, "ua-rotation", finding, events)
            short = st.short_req + st.short_req_prev
            if short >= flood_min and may_fire(st, "flood", t, short):
                (<object>st).add_sample(t, method, path, status)
                _store_baselines(baselines, samples, bl, bn)
                win = LongWindow(cur, st.long_prev)
                finding = detectors.flood(st, win, t, short, s.baseline((<tuple>ainfo)[1]))
                emit(s, st, rec, index, t, "flood", finding, events)

    finally:
        _store_baselines(baselines, samples, bl, bn)
    s.err_req += site_requests
    s.clock = clock


cdef inline void _store_baselines(list baselines, list samples, double* bl, long long* bn):
    cdef int c
    for c in range(3):
        baselines[c] = bl[c]
        samples[c] = bn[c]


def expire(entries, long long now, long long ttl):
    """`ClientTable.expire` over its entries: drop clients not seen for `ttl`; how many went."""
    cdef long long cutoff = now - ttl
    cdef Py_ssize_t dropped = 0
    cdef ClientSlots st
    popitem = entries.popitem
    while entries:
        ip, value = popitem(False)
        st = <ClientSlots>value
        if st.queued >= cutoff:
            # Everything behind was queued later and seen at least as late: still alive.
            entries[ip] = st
            entries.move_to_end(ip, False)
            break
        if st.last_seen < cutoff:
            dropped += 1
        else:
            st.queued = now
            entries[ip] = st
    return dropped


cdef inline Py_ssize_t _bucket(
    long long* data, Py_ssize_t base, long long count, long long span, Py_ssize_t fields,
    long long t,
) except -1:
    # `Ring.bucket`: floor division and modulo keep Python's rules (cdivision is off).
    cdef long long period = t // span
    cdef long long slot = period % count
    cdef Py_ssize_t counters = base + count + slot * fields
    cdef Py_ssize_t i
    if data[base + slot] != period:
        data[base + slot] = period
        for i in range(fields):
            data[counters + i] = 0
    return counters


def slow_count(
    array data, long long hours, long long days, long long t, unsigned long long path_bit,
    int flags,
):
    """`slow._count_python` compiled: count one hit in a client's hourly and daily rings.

    Returns the daily ring's totals (`Ring.totals`) when a long-window detector's counter may
    have grown, else None.
    """
    cdef Py_ssize_t days_base = 2 * hours
    if hours < 1 or days < 1 or len(data) != days_base + days * (1 + S_FIELDS):
        raise ValueError("long-window client of unexpected size")
    cdef long long* d = data.data.as_longlongs
    cdef Py_ssize_t base = _bucket(d, days_base, days, S_DAY, S_FIELDS, t)
    cdef bint failed = flags & HIT_FAILED
    if flags & HIT_LOGIN:
        d[base + S_ATTEMPTS] += 1
        if failed:
            d[base + S_FAILURES] += 1
    if failed:
        d[_bucket(d, 0, hours, S_HOUR, 1, t)] += 1
        d[base + S_FAILING] += 1
        d[base + S_PATHS] = <long long>(<unsigned long long>d[base + S_PATHS] | path_bit)
        if flags & HIT_FOCUSED:
            d[base + S_FOCUSED_HITS] += 1
    if flags & HIT_NOT_FOUND:
        d[base + S_NOT_FOUND] += 1
    if flags & HIT_SENSITIVE:
        d[base + S_PROBES] += 1
        d[base + S_PROBE_SET] = <long long>(<unsigned long long>d[base + S_PROBE_SET] | path_bit)
    if not ((flags & HIT_LOGIN and failed) or flags & (HIT_NOT_FOUND | HIT_SENSITIVE)):
        return None
    # Only then can a long-window detector's counter have grown: the daily totals.
    cdef long long period = t // S_DAY
    cdef long long stamp
    cdef long long sums[S_FIELDS]
    cdef unsigned long long paths = 0, probes = 0
    cdef Py_ssize_t slot, field, at
    for field in range(S_FIELDS):
        sums[field] = 0
    for slot in range(days):
        stamp = d[days_base + slot]
        if period - days < stamp <= period:
            at = days_base + days + slot * S_FIELDS
            for field in range(S_FIELDS):
                if field != S_PATHS and field != S_PROBE_SET:
                    sums[field] += d[at + field]
            paths |= <unsigned long long>d[at + S_PATHS]
            probes |= <unsigned long long>d[at + S_PROBE_SET]
    return [
        sums[S_ATTEMPTS], sums[S_FAILURES], sums[S_NOT_FOUND], sums[S_PROBES], sums[S_FAILING],
        paths, probes, sums[S_FOCUSED_HITS],
    ]


def batch_paths(records, dict cache):
    """(the distinct paths of `records` not in `cache`, in order of first appearance; per
    record, its path's cached answer or None): what `PathClassifier.classify_many` works out
    from a batch's paths, and what spares `update` looking the cached ones up again."""
    cdef list new = []
    cdef set seen = set()
    cdef Py_ssize_t count = len(records)
    cdef list infos = [None] * count
    cdef Py_ssize_t index
    cdef tuple rec
    cdef PyObject* found
    for index in range(count):
        rec = <tuple>records[index]
        path = rec[F_PATH]
        found = PyDict_GetItem(cache, path)
        if found is not NULL:
            infos[index] = <object>found
        elif path not in seen:
            seen.add(path)
            new.append(path)
    return new, infos


# The path classifier's packing (`classify.py`), checked there at import.
PATH_LAYOUT = {"PATH_BITS": 512, "IS_HEALTH": 1, "IS_SENSITIVE": 2, "IS_ASSET": 4}
DEF PATH_BITS = 512


def pack_paths(
    list new, list sensitive, frozenset health, tuple assets, dict logins, dict cache, crc32
):
    """`PathClassifier._pack` of every path of `new` (whether each is `sensitive`), cached."""
    cdef Py_ssize_t i
    cdef long long flags, position, endpoint
    if len(sensitive) != len(new):
        raise ValueError("one sensitivity flag per path")
    for i in range(len(new)):
        path = new[i]
        # `normalize_path`
        norm = (<str>path).lower()
        if len(norm) > 1 and norm.endswith("/"):
            norm = norm.rstrip("/") or "/"
        flags = 0
        if norm in health:
            flags |= IS_HEALTH
        if sensitive[i]:
            flags |= IS_SENSITIVE
        if norm.endswith(assets):
            flags |= IS_ASSET
        position = crc32((<str>path).encode("utf-8", "surrogatepass")) & (PATH_BITS - 1)
        endpoint = logins.get(norm, -1) + 1
        cache[path] = position << 16 | endpoint << 4 | flags
