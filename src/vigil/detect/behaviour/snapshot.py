"""Byte form of the behaviour state, written beside the ingest checkpoint and read at start.

The format is zlib-compressed JSON (never pickle: a snapshot file must not be able to run
code), with a magic prefix and a version. Bitmaps travel as hex strings because JSON numbers
cannot hold 512-bit integers.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson

from vigil.detect.behaviour.campaigns import LoginCampaign, episode_state
from vigil.detect.behaviour.classify import CLASS_NAMES
from vigil.detect.behaviour.config import BehaviourConfig
from vigil.detect.behaviour.site import SiteState
from vigil.detect.behaviour.windows import BITMAP_SLOTS, GEN_SIZE, LOGINS, ClientState
from vigil.errors import InputError

MAGIC = b"VIGIL-BEHAVIOUR\x00"
VERSION = 3
# Version 2 had no long windows; its snapshots restore with empty ones.
_READABLE = (2, VERSION)


def _encode_gen(gen: list[Any] | None) -> list[Any] | None:
    if gen is None:
        return None
    out = list(gen)
    for slot in BITMAP_SLOTS:
        out[slot] = format(gen[slot], "x")
    logins = gen[LOGINS]
    out[LOGINS] = [[k, v[0], v[1]] for k, v in logins.items()] if logins else None
    return out


def _decode_gen(data: list[Any] | None) -> list[Any] | None:
    if data is None:
        return None
    if len(data) != GEN_SIZE:
        raise ValueError("window generation of unexpected size")
    gen = [int(x) if i not in BITMAP_SLOTS and i != LOGINS else x for i, x in enumerate(data)]
    for slot in BITMAP_SLOTS:
        gen[slot] = int(data[slot], 16)
    logins = data[LOGINS]
    gen[LOGINS] = {int(k): [int(a), int(f)] for k, a, f in logins} if logins else None
    return gen


def _encode_client(ip: str, st: ClientState) -> list[Any]:
    return [
        ip,
        st.first_seen,
        st.last_seen,
        st.long_start,
        _encode_gen(st.long_cur),
        _encode_gen(st.long_prev),
        st.short_start,
        [st.short_req, st.short_req_prev],
        None if st.agent is None else [format(st.agent[0], "x"), st.agent[1], st.agent[2]],
        st.fired,
        st.samples,
    ]


def _decode_client(data: list[Any], long_gen: int, short_gen: int) -> tuple[str, ClientState]:
    ip = str(data[0])
    st = ClientState(int(data[1]), long_gen, short_gen, False)
    st.last_seen = int(data[2])
    st.long_start = int(data[3])
    cur = _decode_gen(data[4])
    if cur is None:
        raise ValueError("client without a current window")
    st.long_cur = cur
    st.long_prev = _decode_gen(data[5])
    st.short_start = int(data[6])
    st.short_req, st.short_req_prev = (int(x) for x in data[7])
    agent = data[8]
    st.agent = None if agent is None else (int(agent[0], 16), int(agent[1]), bool(agent[2]))
    fired = data[9]
    st.fired = {str(k): episode_state(v) for k, v in fired.items()} if fired else None
    samples = data[10]
    st.samples = (
        [(int(a), str(m), str(p), None if s is None else int(s)) for a, m, p, s in samples]
        if samples
        else None
    )
    return ip, st


def encode(config: BehaviourConfig, sites: dict[str, SiteState]) -> bytes:
    """Serialize every site's windows, baselines, campaigns and episodes."""
    body = {
        "version": VERSION,
        "short_seconds": config.windows.short_seconds,
        "long_seconds": config.windows.long_seconds,
        "long_buckets": [config.slow.hours, config.slow.days],
        "sites": {
            name: {
                "clock": s.clock,
                "baselines": s.baselines,
                "baseline_samples": s.baseline_samples,
                "site_errors": [s.err_start, s.err_req, s.err_5xx, s.err_req_prev, s.err_5xx_prev],
                "campaigns": [
                    [key[0], key[1], campaign.to_state()]
                    for key, campaign in s.campaigns.entries.items()
                ],
                "clients": [_encode_client(ip, st) for ip, st in s.table.entries.items()],
                "evicted": s.table.evicted,
                "expired": s.table.expired,
                "slow": s.slow.to_state(),
            }
            for name, s in sites.items()
        },
    }
    try:
        text = orjson.dumps(body)
    except TypeError:
        # A hostile log can push a counter (bytes, a status) past 64 bits, which JSON numbers
        # here cannot hold; such values travel as decimal text, which every decoder reads.
        text = orjson.dumps(_big_ints_as_text(body))
    return MAGIC + zlib.compress(text, 1)


_INT64 = 1 << 63


def _big_ints_as_text(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value) if not -_INT64 <= value < _INT64 else value
    if isinstance(value, dict):
        return {k: _big_ints_as_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_big_ints_as_text(v) for v in value]
    return value


def decode(config: BehaviourConfig, data: bytes) -> dict[str, SiteState]:
    """Site states from `encode` output; `InputError` if the bytes are unusable."""

    if not data.startswith(MAGIC):
        raise InputError("not a behaviour snapshot (bad header); delete the file to start afresh")
    try:
        body = orjson.loads(zlib.decompress(data[len(MAGIC) :]))
    except (zlib.error, orjson.JSONDecodeError) as exc:
        raise InputError(
            f"behaviour snapshot is corrupt ({exc}); delete it to start afresh"
        ) from None
    if body.get("version") not in _READABLE:
        raise InputError(f"behaviour snapshot version {body.get('version')} is not supported")
    if (
        body.get("short_seconds") != config.windows.short_seconds
        or body.get("long_seconds") != config.windows.long_seconds
    ):
        raise InputError(
            "behaviour snapshot was taken with other window lengths; restore it with the same "
            "windows settings or delete it to start afresh"
        )
    buckets = body.get("long_buckets")
    if buckets is not None and buckets != [config.slow.hours, config.slow.days]:
        raise InputError(
            "behaviour snapshot was taken with other long-window buckets (slow.hours, "
            "slow.days); restore it with the same settings or delete it to start afresh"
        )
    long_gen = max(1, config.windows.long_seconds // 2)
    short_gen = max(1, config.windows.short_seconds // 2)
    sites: dict[str, SiteState] = {}
    try:
        for name, raw in body["sites"].items():
            s = SiteState(str(name), config.stuffing.max_groups, config.slow)
            s.clock = int(raw["clock"])
            s.baselines = [float(x) for x in raw["baselines"]]
            s.baseline_samples = [int(x) for x in raw["baseline_samples"]]
            if len(s.baselines) != len(CLASS_NAMES) or len(s.baseline_samples) != len(CLASS_NAMES):
                raise ValueError("one baseline per client class expected")
            (s.err_start, s.err_req, s.err_5xx, s.err_req_prev, s.err_5xx_prev) = (
                int(x) for x in raw["site_errors"]
            )
            for index, group, state in raw["campaigns"]:
                key = (int(index), None if group is None else str(group))
                s.campaigns.entries[key] = LoginCampaign.from_state(state, long_gen)
                if key[1] is not None:
                    s.campaigns.grouped += 1
            for item in raw["clients"]:
                ip, st = _decode_client(item, long_gen, short_gen)
                s.table.entries[ip] = st
            s.table.evicted = int(raw["evicted"])
            s.table.expired = int(raw["expired"])
            if "slow" in raw:
                s.slow.load(raw["slow"])
            sites[s.name] = s
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"behaviour snapshot is corrupt ({exc}); delete it to start afresh"
        ) from None
    return sites
