"""Multi-pattern matching of rule patterns over many target strings at once.

The engine hands over a batch of *segments* (one per distinct view string of a target) and gets
back, per segment, the pattern rules that fire with their matched fragment. Two
implementations give the same answers:

- `HyperscanMatcher` compiles every pattern into one Hyperscan block-mode database and scans
  all segments of a batch in a single call over a newline-joined buffer. Hyperscan only says
  *which* pattern ended *where*; each candidate (segment, rule) is then confirmed with Python
  ``re`` on that segment alone, which yields the fragment and drops the rare hits that began in
  an earlier segment. So the database only has to find a superset of the matches, and some
  patterns anchored at the start of a segment (``^``) are compiled without that anchor: in the
  joined buffer Hyperscan misses ``^\\s*>\\s*(?:[\\w/]*/)?id`` at a line start about 30 bytes
  or more into the buffer (it finds ``>id`` in the first segment only), so a value's verdict
  depended on the values scanned before it (see `prefilter_expression`).
- `ReMatcher` is the pure-Python fallback: one alternation of all patterns rules out clean
  segments in one search, and the rules are tried one by one on the rest.

Patterns are matched caseless and multi-line (``^``/``$`` also at line breaks, which is also
where segments are joined) over UTF-8 bytes, so both engines see identical input.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from bisect import bisect_right
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from vigil.detect.literals import required_literals
from vigil.detect.normalize import VIEWS
from vigil.detect.result import truncate
from vigil.detect.ruleset import PATTERN_FLAGS, TARGETS, Rule
from vigil.runtime import cache_dir

log = logging.getLogger(__name__)

try:  # Hyperscan is optional: it builds for x86-64 only.
    import hyperscan

    HYPERSCAN_AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the platform
    hyperscan = None  # type: ignore[assignment]
    HYPERSCAN_AVAILABLE = False

_HS_FLAGS = (hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_MULTILINE) if HYPERSCAN_AVAILABLE else 0
_HS_VERSION = getattr(hyperscan, "__version__", "") if HYPERSCAN_AVAILABLE else ""

# Compiling takes seconds; engines built from the same rules share one database (scanning
# is read-only on it, each matcher keeps its own scratch space).
_COMPILED: dict[tuple[tuple[bytes, ...], tuple[int, ...]], tuple[Any, set[int]]] = {}

KIND_BITS = {kind: 1 << i for i, kind in enumerate(TARGETS)}
VIEW_BITS = {view: 1 << i for i, view in enumerate(VIEWS)}


Hit = tuple[int, str]
"""A rule that fired on a segment: (index into the matcher's rules, matched fragment)."""


# An optional run of path characters ending in a slash ("(?:[\w./-]*/)?id"): after a
# leading "^", some quantifier and a literal, Hyperscan misses the pattern at line starts
# far enough into the buffer.
_OPTIONAL_PATH = re.compile(r"\(\?:\[[^\]]*\]\*/\)\?")


def prefilter_expression(pattern: str) -> str:
    """What the Hyperscan database looks for to find the candidates of `pattern`.

    A pattern anchored at the start of a segment that holds an optional path prefix loses its
    leading ``^`` (a superset: ``re`` confirms every candidate with the anchor), unless what
    remains would match the empty string, which Hyperscan refuses to compile. Other anchored
    patterns keep it: unanchored, some would find a candidate in most values (``\\s*//``).
    """
    if not pattern.startswith("^") or _OPTIONAL_PATH.search(pattern) is None:
        return pattern
    rest = pattern[1:]
    try:
        empty = re.compile(rest, PATTERN_FLAGS).search("") is not None
    except re.error:
        return pattern
    return pattern if empty else rest


class Matcher(Protocol):
    """Anything that finds the pattern rules firing on a batch of segments.

    A segment is one string to scan, with the bit of the target kind it came from and the
    bits of the views it stands for; only rules for that kind and one of those views count.
    """

    rules: list[Rule]

    def scan(
        self, texts: Sequence[str], kind_bits: Sequence[int], view_masks: Sequence[int]
    ) -> dict[int, list[Hit]]:
        """Segment index -> hits, for the segments where any rule fired."""
        ...


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


class _CompiledRule:
    """A pattern rule with its patterns compiled for confirmation and fragment extraction."""

    __slots__ = ("_regexes", "kind_mask", "rule", "view_bit")

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        # Compiled when the rule first has a candidate: most rules of a start-up never do, and
        # compiling every pattern up front was a large part of starting.
        self._regexes: list[re.Pattern[bytes]] | None = None
        self.kind_mask = 0
        for target in rule.targets:
            self.kind_mask |= KIND_BITS[target]
        self.view_bit = VIEW_BITS[rule.view]

    @property
    def regexes(self) -> list[re.Pattern[bytes]]:
        if self._regexes is None:
            patterns = self.rule.patterns
            self._regexes = [re.compile(p.encode("utf-8"), PATTERN_FLAGS) for p in patterns]
        return self._regexes

    def first_match(self, data: bytes) -> str | None:
        for regex in self.regexes:
            found = regex.search(data)
            if found is not None:
                return truncate(found.group().decode("utf-8", "replace"))
        return None


class _BaseMatcher:
    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules: list[Rule] = [rule for rule in rules if rule.patterns]
        self._compiled = [_CompiledRule(rule) for rule in self.rules]

    def _confirm(self, rule_index: int, data: bytes, kind_bit: int, view_mask: int) -> str | None:
        compiled = self._compiled[rule_index]
        if not (compiled.kind_mask & kind_bit and compiled.view_bit & view_mask):
            return None
        return compiled.first_match(data)


class ReMatcher(_BaseMatcher):
    """Pure-Python matcher: literal factors pick the candidate rules, ``re`` confirms them."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        super().__init__(rules)
        always: set[int] = set()
        by_literal: dict[bytes, set[int]] = {}
        for rule_index, rule in enumerate(self.rules):
            factor_sets = [required_literals(_encode(p)) for p in rule.patterns]
            if any(factors is None for factors in factor_sets):
                always.add(rule_index)
                continue
            for factors in factor_sets:
                for literal in factors or ():
                    by_literal.setdefault(literal, set()).add(rule_index)
        self._always = frozenset(always)
        # Rules indexed by the first three bytes of their literals (shorter literals stand
        # as they are): a text is a candidate for the rules whose prefixes it contains.
        by_prefix: dict[bytes, set[int]] = {}
        for literal, owners in by_literal.items():
            by_prefix.setdefault(literal[:3], set()).update(owners)
        self._short = [(p, frozenset(o)) for p, o in sorted(by_prefix.items()) if len(p) < 3]
        self._by_trigram = {p: frozenset(o) for p, o in by_prefix.items() if len(p) == 3}

    def scan(
        self, texts: Sequence[str], kind_bits: Sequence[int], view_masks: Sequence[int]
    ) -> dict[int, list[Hit]]:
        results: dict[int, list[Hit]] = {}
        for index, text in enumerate(texts):
            data = _encode(text)
            lowered = data.lower()
            candidates = set(self._always)
            for prefix, owners in self._short:
                if prefix in lowered:
                    candidates |= owners
            trigrams = {lowered[i : i + 3] for i in range(len(lowered) - 2)}
            by_trigram = self._by_trigram
            for trigram in trigrams.intersection(by_trigram):
                candidates |= by_trigram[trigram]
            hits: list[Hit] = []
            for rule_index in sorted(candidates):
                fragment = self._confirm(rule_index, data, kind_bits[index], view_masks[index])
                if fragment is not None:
                    hits.append((rule_index, fragment))
            if hits:
                results[index] = hits
        return results


def _compiled_path(expressions: list[bytes], owners: list[int]) -> Path:
    """The cache file of a compiled database: named by a hash of everything that shapes it
    (patterns, their rules, flags, and the library's version), so a changed rule set or
    library never loads a stale one."""
    digest = hashlib.sha256()
    digest.update(f"{_HS_VERSION}|{_HS_FLAGS}|".encode())
    for expression, owner in zip(expressions, owners, strict=True):
        digest.update(b"%d\x00%s\x00" % (owner, expression))
    return cache_dir() / "hyperscan" / f"{digest.hexdigest()[:32]}.db"


def _load_compiled(expressions: list[bytes], owners: list[int]) -> tuple[Any, set[int]] | None:
    path = _compiled_path(expressions, owners)
    try:
        data = path.read_bytes()
        header, _, body = data.partition(b"\n")
        rejected = {int(x) for x in header.split(b",") if x}
        database = hyperscan.loadb(body, hyperscan.HS_MODE_BLOCK) if body else None
    except (OSError, ValueError, hyperscan.error):
        return None
    return database, rejected


def _save_compiled(
    expressions: list[bytes], owners: list[int], compiled: tuple[Any, set[int]]
) -> None:
    database, rejected = compiled
    path = _compiled_path(expressions, owners)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = hyperscan.dumpb(database) if database is not None else b""
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(",".join(map(str, sorted(rejected))).encode() + b"\n" + body)
        tmp.replace(path)
    except (OSError, hyperscan.error) as exc:  # a read-only home: compile at every start
        log.debug("event=matcher_cache_unwritable path=%s error=%s", path, exc)


class HyperscanMatcher(_BaseMatcher):
    """Hyperscan matcher: one database, one scan per batch, confirmation with ``re``."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        if not HYPERSCAN_AVAILABLE:
            raise RuntimeError("hyperscan is not importable on this platform")
        super().__init__(rules)
        expressions: list[bytes] = []
        owners: list[int] = []
        self._re_only: list[int] = []
        for rule_index, rule in enumerate(self.rules):
            if rule.engine == "re":
                self._re_only.append(rule_index)
                continue
            for pattern in rule.patterns:
                expressions.append(prefilter_expression(pattern).encode("utf-8"))
                owners.append(rule_index)
        self._db, rejected = self._compile(expressions, owners)
        for rule_index in sorted(rejected):
            log.warning(
                "rule_engine_fallback rule=%s reason=unsupported_by_hyperscan",
                self.rules[rule_index].id,
            )
            self._re_only.append(rule_index)
        self._scratch = hyperscan.Scratch(self._db) if self._db is not None else None
        # A scratch space serves one scan at a time.
        self._lock = threading.Lock()

    @staticmethod
    def _compile(expressions: list[bytes], owners: list[int]) -> tuple[Any, set[int]]:
        key = (tuple(expressions), tuple(owners))
        cached = _COMPILED.get(key)
        if cached is None:
            cached = _load_compiled(expressions, owners)
        if cached is None:
            cached = HyperscanMatcher._compile_uncached(expressions, owners)
            _save_compiled(expressions, owners, cached)
        _COMPILED[key] = cached
        return cached[0], set(cached[1])

    @staticmethod
    def _compile_uncached(expressions: list[bytes], owners: list[int]) -> tuple[Any, set[int]]:
        flags = _HS_FLAGS
        rejected: set[int] = set()
        while expressions:
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            try:
                db.compile(
                    expressions=expressions,
                    ids=owners,
                    elements=len(expressions),
                    flags=[flags] * len(expressions),
                )
                return db, rejected
            except hyperscan.error:
                bad = _first_unsupported(expressions, flags)
                rejected.add(owners[bad])
                keep = [i for i, owner in enumerate(owners) if owner != owners[bad]]
                expressions = [expressions[i] for i in keep]
                owners = [owners[i] for i in keep]
        return None, rejected

    def scan(
        self, texts: Sequence[str], kind_bits: Sequence[int], view_masks: Sequence[int]
    ) -> dict[int, list[Hit]]:
        results: dict[int, list[Hit]] = {}
        if not texts:
            return results
        joined = "\n".join(texts)
        if joined.isascii():
            buffer = joined.encode("ascii")
            lengths = [len(text) for text in texts]
        else:
            encoded = [_encode(text) for text in texts]
            buffer = b"\n".join(encoded)
            lengths = [len(data) for data in encoded]
        candidates: set[tuple[int, int]] = set()
        if self._db is not None:
            starts: list[int] = []
            position = 0
            for length in lengths:
                starts.append(position)
                position += length + 1
            ends: list[tuple[int, int]] = []
            append = ends.append

            def on_match(pattern_id: int, start: int, end: int, flags: int, ctx: Any) -> None:
                append((pattern_id, end))

            with self._lock:
                self._db.scan(buffer, match_event_handler=on_match, scratch=self._scratch)
            for rule_index, end in ends:
                candidates.add((bisect_right(starts, end - 1) - 1, rule_index))
        for seg_index, rule_index in sorted(candidates):
            fragment = self._confirm(
                rule_index, _encode(texts[seg_index]), kind_bits[seg_index], view_masks[seg_index]
            )
            if fragment is not None:
                results.setdefault(seg_index, []).append((rule_index, fragment))
        for rule_index in self._re_only:
            for seg_index, text in enumerate(texts):
                fragment = self._confirm(
                    rule_index, _encode(text), kind_bits[seg_index], view_masks[seg_index]
                )
                if fragment is not None:
                    results.setdefault(seg_index, []).append((rule_index, fragment))
        for hits in results.values():
            if len(hits) > 1:
                hits.sort()
        return results


def _first_unsupported(expressions: list[bytes], flags: int) -> int:
    for index, expression in enumerate(expressions):
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        try:
            db.compile(expressions=[expression], ids=[0], elements=1, flags=[flags])
        except hyperscan.error:
            return index
    raise RuntimeError("hyperscan rejected the rule set but no single pattern")


def build_matcher(rules: Sequence[Rule], engine: str = "auto") -> Matcher:
    """The best available matcher for `rules`: Hyperscan where it imports, else ``re``."""
    if engine == "re" or (engine == "auto" and not HYPERSCAN_AVAILABLE):
        return ReMatcher(rules)
    if engine not in ("auto", "hyperscan"):
        raise ValueError(f"unknown matcher engine {engine!r}")
    return HyperscanMatcher(rules)
