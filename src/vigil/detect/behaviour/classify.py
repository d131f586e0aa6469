"""Cheap, cached classification of request paths and user agents for the behaviour windows.

Paths and user agents repeat heavily in access logs, so each distinct string is classified once
and the answer is kept in a bounded cache; the hot loop then pays one dictionary lookup.
Bit positions for the distinct-count bitmaps come from CRC-32, which (unlike `hash()`) is the
same in every process, so a restored snapshot keeps counting the same paths as the same.
"""

from __future__ import annotations

import re
import zlib
from bisect import bisect_right
from collections.abc import Callable, Iterable
from itertools import accumulate
from typing import Any

from vigil.detect.behaviour.config import BehaviourConfig
from vigil.detect.matcher import HYPERSCAN_AVAILABLE

if HYPERSCAN_AVAILABLE:
    import hyperscan

PATH_BITS = 512
UA_BITS = 256

IS_HEALTH = 1
IS_SENSITIVE = 2
IS_ASSET = 4

BROWSER = 0
BOT = 1
API = 2
CLASS_NAMES: tuple[str, str, str] = ("browser", "bot", "api")

_CACHE_LIMIT = 65_536


def _kernel_pack() -> Callable[..., None] | None:
    """The compiled `PathClassifier._pack` over many paths, when built for this packing."""
    try:
        from vigil.detect.behaviour._kernel import PATH_LAYOUT, pack_paths
    except ImportError:
        return None
    names = globals()
    return pack_paths if all(names[k] == v for k, v in PATH_LAYOUT.items()) else None


_pack_paths = _kernel_pack()


def normalize_path(path: str) -> str:
    """Lower-case path without a trailing slash, the form endpoints are matched in."""
    lowered = path.lower()
    if len(lowered) > 1 and lowered.endswith("/"):
        lowered = lowered.rstrip("/") or "/"
    return lowered


class PathClassifier:
    """Maps a path to one small integer: bitmap position, flags and login endpoint.

    The answer is packed as `position << 16 | (endpoint + 1) << 4 | flags` (endpoint -1 when
    the path is no login endpoint): an int is cheaper to cache and to read back than a tuple,
    and real logs have many one-off paths (product ids, slugs) that all land in the cache.
    """

    def __init__(self, config: BehaviourConfig) -> None:
        self._health = frozenset(normalize_path(p) for p in config.exclusions.health_paths)
        patterns = config.probe.patterns
        self._sensitive = (
            re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) if patterns else None
        )
        self._assets = tuple(s.lower() for s in config.asset_suffixes)
        self._logins: dict[str, int] = {}
        for index, endpoint in enumerate(config.bruteforce.endpoints):
            self._logins.setdefault(normalize_path(endpoint.path), index)
        if len(self._logins) >= 4095:
            raise ValueError("at most 4094 login endpoints are supported")
        self._cache: dict[str, int] = {}
        self._hs_db, self._hs_scratch = _sensitive_database(patterns)

    def classify_many(self, paths: Iterable[str]) -> None:
        """Classify and cache, together, the paths of a batch that are not cached yet.

        Real logs are full of one-off paths, and one Hyperscan pass over all of a batch's new
        paths costs far less than a regular-expression search per path.
        """
        cache = self._cache
        self.classify_new([path for path in dict.fromkeys(paths) if path not in cache])

    def classify_new(self, new: list[str]) -> None:
        """Classify and cache `new`: distinct paths that are not cached yet."""
        if not new:
            return
        cache = self._cache
        if len(cache) + len(new) > _CACHE_LIMIT:
            cache.clear()
        sensitive = self._sensitive_among(new)
        if _pack_paths is not None:
            _pack_paths(new, sensitive, self._health, self._assets, self._logins, cache, zlib.crc32)
            return
        for path, flag in zip(new, sensitive, strict=True):
            cache[path] = self._pack(path, flag)

    def _sensitive_among(self, paths: list[str]) -> list[bool]:
        regex = self._sensitive
        if regex is None:
            return [False] * len(paths)
        flags = [False] * len(paths)
        # Hyperscan's caseless matching equals `re.IGNORECASE` on ASCII text, and a line
        # break inside a path would change where `$` matches: such paths go to `re`.
        plain: list[int] = []
        for index, path in enumerate(paths):
            if path.isascii() and "\n" not in path and self._hs_db is not None:
                plain.append(index)
            elif regex.search(path):
                flags[index] = True
        if not plain:
            return flags
        texts = [paths[i] for i in plain]
        starts = [0, *accumulate(len(text) + 1 for text in texts)]
        ends: list[int] = []

        def on_match(pattern_id: int, start: int, end: int, hs_flags: int, ctx: Any) -> None:
            ends.append(end)

        self._hs_db.scan(
            "\n".join(texts).encode("ascii"), match_event_handler=on_match, scratch=self._hs_scratch
        )
        # A match may end on the line break after a path; `re` confirms each candidate.
        for position in {bisect_right(starts, end - 1) - 1 for end in ends}:
            index = plain[position]
            flags[index] = regex.search(paths[index]) is not None
        return flags

    def classify(self, path: str) -> int:
        """Packed (bit position, login endpoint, flags) of `path`; see `unpack`."""
        info = self._cache.get(path)
        if info is None:
            info = self._compute(path)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[path] = info
        return info

    def _compute(self, path: str) -> int:
        return self._pack(path, self._sensitive is not None and bool(self._sensitive.search(path)))

    def _pack(self, path: str, sensitive: bool) -> int:
        norm = normalize_path(path)
        flags = 0
        if norm in self._health:
            flags |= IS_HEALTH
        if sensitive:
            flags |= IS_SENSITIVE
        if norm.endswith(self._assets):
            flags |= IS_ASSET
        position = zlib.crc32(path.encode("utf-8", "surrogatepass")) & (PATH_BITS - 1)
        return position << 16 | (self._logins.get(norm, -1) + 1) << 4 | flags


def _sensitive_database(patterns: tuple[str, ...]) -> tuple[Any, Any]:
    """(Hyperscan database, scratch) of the sensitive-path patterns, or (None, None).

    None where Hyperscan is missing, a pattern is not ASCII (its case folding could differ
    from `re`'s), or Hyperscan cannot compile one (back-references, look-around, patterns
    that match the empty string); `re` then does all the work.
    """
    if not HYPERSCAN_AVAILABLE or not patterns or not all(p.isascii() for p in patterns):
        return None, None
    flags = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_MULTILINE
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(
            expressions=[p.encode("ascii") for p in patterns],
            ids=list(range(len(patterns))),
            elements=len(patterns),
            flags=[flags] * len(patterns),
        )
    except hyperscan.error:
        return None, None
    return db, hyperscan.Scratch(db)


def unpack(info: int) -> tuple[int, int, int]:
    """(bitmap bit as an int, flags, login endpoint index or -1) of a packed path answer."""
    return 1 << (info >> 16), info & 15, (info >> 4 & 4095) - 1


class AgentClassifier:
    """Maps a user agent to (bitmap bit, client class, is a known good bot)."""

    def __init__(self, config: BehaviourConfig) -> None:
        self._good = tuple(a.lower() for a in config.exclusions.good_bot_agents)
        self._api = tuple(a.lower() for a in config.api_agents)
        self._bot = tuple(a.lower() for a in config.bot_agents)
        self._cache: dict[str, tuple[int, int, bool]] = {}

    def classify(self, agent: str) -> tuple[int, int, bool]:
        """(bitmap bit as an int with one bit set, class, good bot) of `agent`."""
        info = self._cache.get(agent)
        if info is None:
            info = self._compute(agent)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[agent] = info
        return info

    def _compute(self, agent: str) -> tuple[int, int, bool]:
        lowered = agent.lower()
        bit = 1 << (zlib.crc32(agent.encode("utf-8", "surrogatepass")) & (UA_BITS - 1))
        good = any(token in lowered for token in self._good)
        if good:
            cls = BOT
        elif not lowered or lowered == "-" or any(token in lowered for token in self._api):
            cls = API
        elif any(token in lowered for token in self._bot):
            cls = BOT
        elif lowered.startswith("mozilla/") or lowered.startswith("opera/"):
            cls = BROWSER
        else:
            cls = BOT
        return bit, cls, good
