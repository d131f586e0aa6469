"""The request detection stage: rules and injection analysers over batches of log records.

Per batch, the engine looks up every distinct target string (path, query string, user agent,
referer, method, protocol) in bounded caches; only strings it has not seen are decoded into
their views and scanned, all together in one matcher call, with libinjection on argument
values that could hold an injection. Per record it then joins the cached results, drops what
the exclusions, disabled rules and the site's paranoia level rule out, and scores the rest.
Real logs repeat the same paths, user agents and parameter values endlessly, so most records
cost a few dictionary lookups.

The work is in two steps, which the pipeline runs as two stages: `normalise` finds a batch's
target values not seen before and decodes each into its views (`Normalised`), and
`detect_batch` matches those views, caches what they hit, and joins the verdicts.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Final

from vigil.batch import EMPTY_EXTRA, LogRecord
from vigil.detect import fields, injection, normalize, scoring
from vigil.detect.exclusions import Exclusion, ExclusionSet
from vigil.detect.fields import HeaderKey, Unit
from vigil.detect.matcher import KIND_BITS, VIEW_BITS, Matcher, build_matcher
from vigil.detect.result import (
    ALLOWLISTED_AGENT,
    ALLOWLISTED_IP,
    CLEAN,
    Detection,
    RuleMatch,
    truncate,
)
from vigil.detect.ruleset import TARGETS, Rule, Ruleset, load_ruleset
from vigil.severity import severity_of

if TYPE_CHECKING:
    from vigil.config import RulesSection

DEFAULT_CACHE_SIZE: Final = 100_000
_ALL_VIEWS: Final = sum(VIEW_BITS.values())
_DECODED_BIT: Final = VIEW_BITS[normalize.VIEW_DECODED]
# A value without any of these characters, without a double blank and (a path) without "/.",
# "//" or a leading "." reads the same in every view. A regex of one character class scans
# faster than a set, and the substrings are quicker to test with `in` than as alternatives of
# the same regex.
_NOT_PLAIN_CHAR: Final = re.compile("[%&+\\\\\x00\"'^$*\t\n\r\xa0]")
_SIMPLE_KINDS: Final = frozenset({"method", "protocol", "request_line"})
WEAK_NEEDS: Final = scoring.SEVERITY_POINTS["warning"]
"""Points another rule must be worth for a weak rule's own to count (see `Rule.weak`)."""

_FORWARDED_FOR: Final = attrgetter("forwarded_for")
_HOST: Final = attrgetter("host")
_EXTRA: Final = attrgetter("extra")

Hit = tuple[int, str]
TargetMatch = tuple[int, str, str]


@dataclass(frozen=True, slots=True, eq=False)
class _Hits:
    """What one value of one kind triggered: (rule index, fragment) pairs and signals.

    Compared and hashed by identity: a record's verdict is memoised by the hit objects of its
    fields (see `DetectionEngine.detect_batch`), and one object stands for one cached value.
    """

    hits: tuple[Hit, ...]
    signals: frozenset[str]


@dataclass(frozen=True, slots=True, eq=False)
class _QueryHits:
    """What the arguments of one query string triggered, with the target of each match
    (compared and hashed by identity, as `_Hits`)."""

    matches: tuple[TargetMatch, ...]
    signals: frozenset[str]


_Found = tuple[
    _QueryHits | None,
    _QueryHits | None,
    _Hits | None,
    _QueryHits | None,
    _Hits | None,
    _Hits | None,
    _QueryHits | None,
]
"""What a record's path, query, user agent, referer, method, protocol and headers hit when it
was normalised (None: not seen yet)."""

Views = list[tuple[str, int]]
"""Distinct view strings of a value with the view bits each stands for (see `views_of`)."""


@dataclass(frozen=True, slots=True)
class _Decoded:
    """New values of one kind: all of them (in batch order), those that read the same in
    every view, and the others with their views and the signals their decoding met."""

    values: dict[str, None]
    plain: list[str]
    views: list[tuple[str, Views, frozenset[str]]]


_NO_SIGNALS: Final[frozenset[str]] = frozenset()
_NONE: Final = _Hits((), _NO_SIGNALS)
_CLEAN_QUERY: Final = _QueryHits((), frozenset())


@dataclass(frozen=True, slots=True)
class _Core:
    """Everything compiled from the rules for one paranoia ceiling; swapped as a whole."""

    level: int
    rules: tuple[Rule, ...]
    matcher: Matcher
    matcher_index: tuple[int, ...]
    signal_rules: dict[tuple[str, int], tuple[int, ...]]
    analyzers: dict[int, tuple[tuple[int, str], ...]]
    query_rules: bool


@dataclass(frozen=True, slots=True)
class _Policy:
    """Exclusions resolved against the core's rules; swapped as a whole."""

    exclusions: ExclusionSet
    disabled: tuple[bool, ...]
    rule_exclusions: tuple[tuple[Exclusion, ...], ...]
    # Whether some rule has exclusions, which are matched against the request's path.
    path_bound: bool


def _weak_points(
    matches: list[RuleMatch], points: dict[str, int], weak: set[str]
) -> dict[str, int]:
    """`points` with the weak rules zeroed unless a rule worth a verdict of its own (a
    warning, 3 points, or more) matched too (the matches stay, so the signal is still shown)."""
    if any(p >= WEAK_NEEDS for rule_id, p in points.items() if rule_id not in weak):
        return points
    for index, match in enumerate(matches):
        if match.rule_id in weak:
            matches[index] = replace(match, points=0)
            points[match.rule_id] = 0
    return points


def _fallback_points(
    matches: list[RuleMatch], points: dict[str, int], fallbacks: set[str]
) -> dict[str, int]:
    """`points` with the fallback rules zeroed where a specific rule of their category matched
    (the matches stay, so the reason is still shown)."""
    covered = {m.category for m in matches if m.rule_id not in fallbacks}
    for index, match in enumerate(matches):
        if match.rule_id in fallbacks and match.category in covered:
            matches[index] = replace(match, points=0)
            points[match.rule_id] = 0
    return points


def _lru_trim(cache: dict[Any, Any], limit: int) -> None:
    excess = len(cache) - limit
    if excess > 0:
        # Dicts keep insertion order: dropping from the front evicts the oldest entries.
        for key in list(islice(cache, excess + limit // 4)):
            del cache[key]


def _is_plain(value: str, kind: str) -> bool:
    """Whether every view of `value` is just `value` lowercased (no decoding work needed)."""
    if _NOT_PLAIN_CHAR.search(value) is not None or "  " in value:
        return False
    return kind != "path" or ("/." not in value and "//" not in value and value[:1] != ".")


def views_of(value: str, kind: str) -> tuple[Views, frozenset[str]]:
    """Distinct view strings of a target value with the view bits each stands for, and the
    signals its decoding met."""
    if kind in _SIMPLE_KINDS or _is_plain(value, kind):
        return [(value.lower(), _ALL_VIEWS)], frozenset()
    views, signals = normalize.build_views(value, kind)
    groups: dict[str, int] = {}
    for view, text in views.items():
        groups[text] = groups.get(text, 0) | VIEW_BITS[view]
    return list(groups.items()), signals


def _decode(todo: dict[str, dict[str, None]]) -> dict[str, _Decoded]:
    """The views of every new value of every kind (the normalisation of a batch)."""
    decoded: dict[str, _Decoded] = {}
    for kind, values in todo.items():
        if kind in _SIMPLE_KINDS:
            decoded[kind] = _Decoded(values, list(values), [])
            continue
        plain = [value for value in values if _is_plain(value, kind)]
        views: list[tuple[str, Views, frozenset[str]]] = []
        if len(plain) != len(values):
            plain_set = set(plain)
            for value in values:
                if value not in plain_set:
                    views.append((value, *views_of(value, kind)))
        decoded[kind] = _Decoded(values, plain, views)
    return decoded


@dataclass(slots=True)
class Normalised:
    """A batch of records normalised for the rules: its target values that no earlier batch
    had (split into the values rules target, each decoded into its views once), and what the
    per-record pass found (allowlisted clients, the records that need a verdict).

    Made by `DetectionEngine.normalise` for the rules and exclusions in force; if those
    change before `detect_batch` takes it, `detect_batch` normalises the batch again.
    """

    records: Sequence[LogRecord]
    site: str
    core: _Core
    policy: _Policy
    level: int
    out: list[Detection]
    later: list[int]
    found: list[_Found]
    keys: dict[int, HeaderKey]
    plans: list[tuple[str, Any, list[Unit]]]
    whole: dict[str, list[str]]
    decoded: dict[str, _Decoded]


def normalized_path(path: str) -> str:
    """The decoded, normalised, lowercased path that exclusions are matched against."""
    if _is_plain(path, "path"):
        return path.lower()
    text, _ = normalize.decode(path)
    return normalize.normalize_path(normalize.clean(text))[0]


def _request_line(record: LogRecord) -> str:
    return " ".join(part for part in (record.method, record.target, record.protocol) if part)


def _kind_signals(kind: str, value: str) -> frozenset[str]:
    if kind == "method" and value not in normalize.KNOWN_METHODS:
        if not value.isascii() or not value.isalpha() or not value.isupper():
            return frozenset({normalize.SIG_INVALID_METHOD})
        return frozenset({normalize.SIG_UNKNOWN_METHOD})
    if kind == "protocol" and value not in normalize.KNOWN_PROTOCOLS:
        return frozenset({normalize.SIG_INVALID_PROTOCOL})
    return frozenset()


_TARGET_NAMES: dict[str, tuple[str, str, bool, str | None]] = {}
# What argument names are made of (user[name], filter.price, $top, data-id); the name is
# looked at as decoded in its target ("args_names:<name>").
_ODD_NAME: Final = re.compile(r"[^\w.\[\]$@:-]")
_COMMAND_ARGS: Final = frozenset({"cmd", "exec", "command", "execute", "shell", "passthru"})
"""Argument names web shells take their command in."""


def _target_names(raw_name: str) -> tuple[str, str, bool, str | None]:
    """The targets of an argument's name and value, whether the name is odd (see
    `_ODD_NAME`), and the name in lower case if web shells take a command in it."""
    names = _TARGET_NAMES.get(raw_name)
    if names is None:
        name = truncate(normalize.decode_name(raw_name), 64)
        odd = bool(raw_name) and _ODD_NAME.search(name) is not None
        lower = name.lower()
        command = lower if lower in _COMMAND_ARGS else None
        names = (f"args_names:{name}", f"args:{name}", odd, command)
        if len(_TARGET_NAMES) < DEFAULT_CACHE_SIZE:
            _TARGET_NAMES[raw_name] = names
    return names


def _split_query(query: str) -> list[Unit]:
    """(value kind, raw value, target name) of the argument names and values of a query.

    A part without ``=`` (``?/etc/passwd``, ``?-s``) is read both as a name and as a value:
    what the application makes of a bare query string is up to it, and payloads sent that way
    must meet the value rules.
    """
    units: list[Unit] = []
    for raw_name, raw_value in normalize.split_query(query):
        name_target, value_target, odd, command = _target_names(raw_name)
        units.append(("args_names", raw_name, name_target))
        if not raw_value and raw_name and f"{raw_name}=" not in query:
            units.append(("args", raw_name, value_target))
        else:
            units.append(("args", raw_value, value_target))
            if odd:
                # No form names an argument "<%" or "|| 1": a payload with an "=" of its own
                # sent as the bare query (?<%= 7*7 %>) is cut in two by the split; read whole.
                units.append(("args", f"{raw_name}={raw_value}", value_target))
            elif raw_value and command is not None:
                # A web shell's argument: "id" alone is no injection, "cmd=id" is a command
                # run through one; the rules read the pair (rce-shell-argument).
                units.append(("args", f"{command}={raw_value}", value_target))
    if ";" in query:
        # Most applications split at "&" alone: the value they read for deviceName=A;id is
        # "A;id", a command after a separator, which the split at ";" as well cut apart.
        for raw_name, raw_value in normalize.split_query(query, semicolons=False):
            if ";" in raw_value:
                units.append(("args", raw_value, _target_names(raw_name)[1]))
    return units


def _path_units(path: str) -> list[Unit]:
    return [("path", path, "path"), *fields.path_segments(path)] if path else []


_COMPOSITES: Final[dict[str, Callable[[Any], list[Unit]]]] = {
    "path": _path_units,
    "query": _split_query,
    "referer": fields.referer_units,
    "headers": fields.header_units,
}
"""Record fields split into several target values, and how each is split."""
_PLAIN_COMPOSITE: Final[dict[str, Callable[[str], bool]]] = {
    "path": fields.plain_path,
    "referer": lambda referer: referer != "-" and fields.plain_referer(referer),
}


class DetectionEngine:
    """Scores batches of log records with the rules of a `Ruleset`.

    `paranoia_level` is the default for sites the exclusion set says nothing about;
    `matcher` is ``auto`` (Hyperscan where available), ``hyperscan`` or ``re``. The engine is
    meant to be driven by one pipeline thread; `set_exclusions` may be called from any other.
    """

    def __init__(
        self,
        ruleset: Ruleset,
        paranoia_level: int = 1,
        exclusions: ExclusionSet | None = None,
        *,
        matcher: str = "auto",
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        if paranoia_level not in (1, 2, 3, 4):
            raise ValueError("paranoia_level must be 1, 2, 3 or 4")
        self.ruleset = ruleset
        self.paranoia_level = paranoia_level
        self.matcher_engine = matcher
        self.cache_size = cache_size
        self._lock = threading.Lock()
        self._exclusions = exclusions or ExclusionSet()
        self._core = self._build_core(self._ceiling(self._exclusions))
        self._policy = self._build_policy(self._core, self._exclusions)
        self._hits: dict[str, dict[str, _Hits]] = {kind: {} for kind in TARGETS}
        self._composites: dict[str, dict[Any, _QueryHits]] = {kind: {} for kind in _COMPOSITES}
        self._allowed_ips: dict[tuple[str, str], bool] = {}
        # Verdicts of flagged requests by their fields: a flood repeats a few thousand requests
        # from many clients, and a verdict depends only on the request (and site and policy).
        self._verdicts: dict[tuple[Any, ...], Detection] = {}
        # One object for each distinct set of composite hits: the same attack sent with other
        # arguments beside it (page=1&lang=/etc/passwd, page=2&lang=/etc/passwd) then shares
        # its memoised verdict.
        self._shared: dict[tuple[tuple[TargetMatch, ...], frozenset[str]], _QueryHits] = {}

    @classmethod
    def from_section(cls, section: RulesSection) -> DetectionEngine:
        """An engine with the shipped and configured rules, exclusions and paranoia level
        (the settings' rules section)."""
        ruleset = load_ruleset(section.dirs)
        exclusions = (
            ExclusionSet.load(section.exclusions_file)
            if section.exclusions_file is not None
            else ExclusionSet()
        )
        if section.disabled:
            exclusions = exclusions.with_disabled(*section.disabled)
        return cls(ruleset, paranoia_level=section.paranoia_level, exclusions=exclusions)

    @property
    def exclusions(self) -> ExclusionSet:
        return self._exclusions

    @property
    def active_rules(self) -> tuple[Rule, ...]:
        """The rules compiled into the matcher (up to the highest paranoia level in use)."""
        return self._core.rules

    def paranoia_for(self, site: str) -> int:
        """The paranoia level in force for `site`."""
        return self._policy.exclusions.paranoia_for(site, self.paranoia_level)

    def set_exclusions(self, exclusions: ExclusionSet) -> None:
        """Put a new exclusion set in force; batches already running finish with the old one."""
        with self._lock:
            core = self._core
            ceiling = self._ceiling(exclusions)
            if ceiling != core.level:
                core = self._build_core(ceiling)
            policy = self._build_policy(core, exclusions)
            if core is not self._core:
                self._hits = {kind: {} for kind in TARGETS}
                self._composites = {kind: {} for kind in _COMPOSITES}
            self._core, self._policy, self._exclusions = core, policy, exclusions
            self._allowed_ips = {}
            self._verdicts = {}
            self._shared = {}

    def _ceiling(self, exclusions: ExclusionSet) -> int:
        levels = [exclusions.paranoia_for("", self.paranoia_level)]
        levels.extend(level for _, level in exclusions.site_paranoia)
        return max(levels)

    def _build_core(self, level: int) -> _Core:
        rules = tuple(self.ruleset.upto(level))
        pattern_rules = [i for i, rule in enumerate(rules) if rule.patterns]
        signal_rules: dict[tuple[str, int], list[int]] = {}
        analyzers: dict[int, list[tuple[int, str]]] = {}
        for index, rule in enumerate(rules):
            for target in rule.targets:
                for signal in rule.signals:
                    signal_rules.setdefault((signal, KIND_BITS[target]), []).append(index)
                if rule.analyzer:
                    analyzers.setdefault(KIND_BITS[target], []).append((index, rule.analyzer))
        return _Core(
            level=level,
            rules=rules,
            matcher=build_matcher([rules[i] for i in pattern_rules], self.matcher_engine),
            matcher_index=tuple(pattern_rules),
            signal_rules={key: tuple(value) for key, value in signal_rules.items()},
            analyzers={key: tuple(value) for key, value in analyzers.items()},
            query_rules=any("query" in rule.targets for rule in rules),
        )

    @staticmethod
    def _build_policy(core: _Core, exclusions: ExclusionSet) -> _Policy:
        rule_exclusions = tuple(
            tuple(e for e in exclusions.exclusions if e.covers_rule(rule)) for rule in core.rules
        )
        return _Policy(
            exclusions=exclusions,
            disabled=tuple(exclusions.is_disabled(rule) for rule in core.rules),
            rule_exclusions=rule_exclusions,
            path_bound=any(rule_exclusions),
        )

    # -- analysis of distinct strings -------------------------------------------------------

    def _scan(
        self, core: _Core, fresh: dict[str, _Decoded], caches: dict[str, dict[str, _Hits]]
    ) -> None:
        """Match and analyse every new value of every kind (decoded) into the value caches."""
        texts: list[str] = []
        kind_bits: list[int] = []
        masks: list[int] = []
        owner_kinds: list[str] = []
        owner_values: list[str] = []
        # Values with signals or analyser findings; everything else starts out clean.
        special: dict[tuple[str, str], tuple[list[Hit], frozenset[str]]] = {}
        for kind, new in fresh.items():
            kind_bit = KIND_BITS[kind]
            analyzers = core.analyzers.get(kind_bit, ())
            # Every value starts out clean; what fires below overwrites its entry.
            caches[kind].update(dict.fromkeys(new.values, _NONE))
            plain = new.plain
            if kind in _SIMPLE_KINDS:
                for value in plain:
                    signals = _kind_signals(kind, value)
                    if signals:
                        special[(kind, value)] = (
                            self._signal_hits(core, signals, kind_bit, value),
                            signals,
                        )
            elif kind == "path":
                # A plain path that does not start with "/" is host:port (CONNECT).
                for value in plain:
                    if value[:1] != "/" and value != "*":
                        signals = frozenset({normalize.SIG_ABSOLUTE_TARGET})
                        special[(kind, value)] = (
                            self._signal_hits(core, signals, kind_bit, value),
                            signals,
                        )
            # Plain values read the same in every view: queue them in bulk.
            lowered = [value.lower() for value in plain]
            count = len(plain)
            texts.extend(lowered)
            kind_bits.extend([kind_bit] * count)
            masks.extend([_ALL_VIEWS] * count)
            owner_kinds.extend([kind] * count)
            owner_values.extend(plain)
            if analyzers:
                for value, decoded in zip(plain, lowered, strict=True):
                    hits = self._analyse(analyzers, decoded)
                    if hits:
                        special[(kind, value)] = (hits, _NO_SIGNALS)
            for value, groups, signals in new.views:
                decoded = groups[0][0]
                for text, mask in groups:
                    if mask & _DECODED_BIT:
                        decoded = text
                    texts.append(text)
                    kind_bits.append(kind_bit)
                    masks.append(mask)
                    owner_kinds.append(kind)
                    owner_values.append(value)
                hits = self._signal_hits(core, signals, kind_bit, value) if signals else []
                if analyzers:
                    hits.extend(self._analyse(analyzers, decoded))
                if hits or signals:
                    special[(kind, value)] = (hits, signals)
        found = core.matcher.scan(texts, kind_bits, masks) if texts else {}
        matcher_index = core.matcher_index
        for segment, seg_hits in found.items():
            key = (owner_kinds[segment], owner_values[segment])
            entry = special.get(key)
            if entry is None:
                entry = special[key] = ([], _NO_SIGNALS)
            hits = entry[0]
            for rule_index, fragment in seg_hits:
                index = matcher_index[rule_index]
                if all(index != known for known, _ in hits):
                    hits.append((index, fragment))
        for (kind, value), (hits, signals) in special.items():
            caches[kind][value] = _Hits(tuple(sorted(hits)), signals)

    @staticmethod
    def _signal_hits(core: _Core, signals: frozenset[str], kind_bit: int, value: str) -> list[Hit]:
        hits: list[Hit] = []
        for signal in signals:
            for index in core.signal_rules.get((signal, kind_bit), ()):
                hits.append((index, truncate(value)))
        return hits

    @staticmethod
    def _analyse(analyzers: tuple[tuple[int, str], ...], decoded: str) -> list[Hit]:
        """Findings of the injection analysers on one decoded value."""
        hits: list[Hit] = []
        sqli: tuple[str, bool] | None = None
        for index, analyzer in analyzers:
            if analyzer.startswith("libinjection-sqli"):
                if sqli is None:
                    fingerprint = injection.sqli_fingerprint(decoded)
                    if fingerprint is None:
                        sqli = ("", False)
                    else:
                        sqli = (fingerprint, injection.sqli_corroborated(decoded, fingerprint))
                fingerprint, strong = sqli
                # A verdict counts for the strong analyser or for the weak one, never both.
                if fingerprint and strong == (analyzer == "libinjection-sqli"):
                    hits.append((index, f"{fingerprint}: {truncate(decoded, 100)}"))
            elif injection.xss_detected(decoded):
                hits.append((index, truncate(decoded)))
        return hits

    @staticmethod
    def _plan(
        core: _Core, pending: dict[str, dict[Any, None]], caches: dict[str, dict[str, _Hits]]
    ) -> tuple[dict[str, dict[str, None]], list[tuple[str, Any, list[Unit]]], dict[str, list[str]]]:
        """The new values to scan of every uncached string in `pending` (kind -> strings or
        header keys), and how the composites among them are made of those values.

        Paths, query strings, referers and header sets are composites: each is split into the
        values rules target (the path and its segments; the arguments; the referer and its
        own arguments; cookies and headers), every new value is scanned once, and the
        composite's hits are the union of its values' hits with the target of each.
        """
        todo: dict[str, dict[str, None]] = {}
        plans: list[tuple[str, Any, list[Unit]]] = []
        # Paths and referers with nothing to split are their own one unit (most of a log's
        # distinct values): scanned as they are, clean unless the scan says otherwise.
        whole: dict[str, list[str]] = {}
        for kind, keys in pending.items():
            splitter = _COMPOSITES.get(kind)
            if splitter is None:
                cache = caches[kind]
                for value in keys:
                    if value:
                        todo.setdefault(kind, {})[value] = None
                    else:
                        cache[value] = _NONE
                continue
            plain = _PLAIN_COMPOSITE.get(kind)
            split_keys: Any = keys
            if plain is not None:
                alone = [key for key in keys if key and plain(key)]
                if alone:
                    whole[kind] = alone
                    cache = caches[kind]
                    todo.setdefault(kind, {}).update(
                        dict.fromkeys([key for key in alone if key not in cache])
                    )
                    taken = set(alone)
                    split_keys = [key for key in keys if key not in taken]
            whole_query = kind == "query" and core.query_rules
            for key in split_keys:
                units = splitter(key) if key else []
                if whole_query and units:
                    units.append(("query", key, "query"))
                # Most units of a new composite were seen before: pick the new ones in one pass.
                for unit_kind, value, _ in [
                    unit for unit in units if unit[1] and unit[1] not in caches[unit[0]]
                ]:
                    todo.setdefault(unit_kind, {})[value] = None
                plans.append((kind, key, units))
        return todo, plans, whole

    @staticmethod
    def _assemble(
        caches: dict[str, dict[str, _Hits]],
        composites: dict[str, dict[Any, _QueryHits]],
        plans: list[tuple[str, Any, list[Unit]]],
        whole: dict[str, list[str]],
        shared: dict[tuple[tuple[TargetMatch, ...], frozenset[str]], _QueryHits],
    ) -> None:
        """Each new composite's hits from its scanned values' (see `_plan`); composites that
        hit the same take the same object from `shared`."""
        for kind, alone in whole.items():
            composite = composites[kind]
            composite.update(dict.fromkeys(alone, _CLEAN_QUERY))
            cache = caches[kind]
            for key in [key for key in alone if cache[key] is not _NONE]:
                found = cache[key]
                targeted = tuple([(i, kind, f) for i, f in found.hits])
                composite[key] = shared.setdefault(
                    (targeted, found.signals), _QueryHits(targeted, found.signals)
                )
        for kind, key, units in plans:
            # Most composites hit nothing: find the units that hit something in one pass.
            dirty = [
                (found, unit[2])
                for unit in units
                if unit[1] and (found := caches[unit[0]][unit[1]]) is not _NONE
            ]
            if not dirty:
                composites[kind][key] = _CLEAN_QUERY
                continue
            matches: list[TargetMatch] = []
            signals: frozenset[str] = _NO_SIGNALS
            for found, name in dirty:
                matches.extend((index, name, fragment) for index, fragment in found.hits)
                signals = signals | found.signals
            if matches or signals:
                entry = (tuple(matches), signals)
                composites[kind][key] = shared.setdefault(entry, _QueryHits(*entry))
            else:
                composites[kind][key] = _CLEAN_QUERY

    # -- per record --------------------------------------------------------------------------

    def normalise(self, records: Sequence[LogRecord], site: str = "default") -> Normalised:
        """The batch's target values that the rules have not seen, split and decoded into
        their views (each distinct value once), for `detect_batch`."""
        core, policy = self._core, self._policy
        caches = self._hits
        composites = self._composites
        paths, queries = composites["path"], composites["query"]
        referers, headers = composites["referer"], composites["headers"]
        agents, methods = caches["user_agent"], caches["method"]
        protocols, lines = caches["protocol"], caches["request_line"]
        m_path: dict[str, None] = {}
        m_query: dict[str, None] = {}
        m_agent: dict[str, None] = {}
        m_referer: dict[str, None] = {}
        m_headers: dict[HeaderKey, None] = {}
        m_method: dict[str, None] = {}
        m_protocol: dict[str, None] = {}
        m_line: dict[str, None] = {}
        allowed: list[str | None] | None = None
        if policy.exclusions.has_allowlist(site):
            allowed = [self._allowlisted(policy.exclusions, record, site) for record in records]
        level = policy.exclusions.paranoia_for(site, self.paranoia_level)
        # Clean until found otherwise: most records are.
        out: list[Detection] = [CLEAN] * len(records)
        none, clean = _NONE, _CLEAN_QUERY
        no_extra = EMPTY_EXTRA
        header_key = fields.header_key
        keys: dict[int, HeaderKey] = {}
        # Formats without those fields (the combined log) decide it for the batch in C.
        headers_seen = (
            any(map(_FORWARDED_FOR, records))
            or any(map(_HOST, records))
            or set(map(id, map(_EXTRA, records))) != {id(no_extra)}
        )
        later: list[int] = []
        # What the records in `later` hit already: `detect_batch` looks up only the rest.
        found: list[_Found] = []
        get_path, get_query, get_agent = paths.get, queries.get, agents.get
        get_referer, get_method, get_protocol = referers.get, methods.get, protocols.get
        get_headers = headers.get
        for position, record in enumerate(records):
            if allowed is not None and allowed[position]:
                out[position] = ALLOWLISTED_IP if allowed[position] == "ip" else ALLOWLISTED_AGENT
                continue
            h_path = get_path(record.path)
            h_query = get_query(record.query)
            h_agent = get_agent(record.user_agent)
            h_referer = get_referer(record.referer)
            h_method = get_method(record.method)
            h_protocol = get_protocol(record.protocol)
            h_headers: _QueryHits | None = clean
            if headers_seen and (
                record.forwarded_for or record.host or record.extra is not no_extra
            ):
                key = header_key(record)
                if key is not None:
                    keys[position] = key
                    h_headers = get_headers(key)
            if (
                h_path is clean
                and h_query is clean
                and h_agent is none
                and h_referer is clean
                and h_method is none
                and h_protocol is none
                and h_headers is clean
                and not record.malformed
            ):
                continue
            later.append(position)
            found.append((h_path, h_query, h_agent, h_referer, h_method, h_protocol, h_headers))
            if h_path is None:
                m_path[record.path] = None
            if h_query is None:
                m_query[record.query] = None
            if h_agent is None:
                m_agent[record.user_agent] = None
            if h_referer is None:
                m_referer[record.referer] = None
            if h_headers is None:
                m_headers[keys[position]] = None
            if h_method is None:
                m_method[record.method] = None
            if h_protocol is None:
                m_protocol[record.protocol] = None
            if record.malformed:
                line = _request_line(record)
                if line not in lines:
                    m_line[line] = None
        pending: dict[str, dict[Any, None]] = {
            "path": m_path, "query": m_query, "user_agent": m_agent, "referer": m_referer,
            "headers": m_headers, "method": m_method, "protocol": m_protocol,
            "request_line": m_line,
        }  # fmt: skip
        active = {kind: found for kind, found in pending.items() if found}
        todo: dict[str, dict[str, None]] = {}
        plans: list[tuple[str, Any, list[Unit]]] = []
        whole: dict[str, list[str]] = {}
        if active:
            todo, plans, whole = self._plan(core, active, caches)
        decoded = _decode(todo)
        return Normalised(
            records, site, core, policy, level, out, later, found, keys, plans, whole, decoded
        )

    def detect_batch(
        self,
        records: Sequence[LogRecord],
        site: str = "default",
        normalised: Normalised | None = None,
    ) -> list[Detection]:
        """One `Detection` per record, in the same order. `normalised` is what `normalise`
        made of these records, if the normalise stage ran (else it is done here)."""
        if (
            normalised is None
            or normalised.records is not records
            or normalised.site != site
            or normalised.core is not self._core
            or normalised.policy is not self._policy
        ):
            normalised = self.normalise(records, site)
        core, policy, level = normalised.core, normalised.policy, normalised.level
        out, keys = normalised.out, normalised.keys
        caches = self._hits
        composites = self._composites
        if normalised.decoded:
            self._scan(core, normalised.decoded, caches)
        if normalised.plans or normalised.whole:
            self._assemble(caches, composites, normalised.plans, normalised.whole, self._shared)
        paths, queries = composites["path"], composites["query"]
        referers, headers = composites["referer"], composites["headers"]
        agents, methods = caches["user_agent"], caches["method"]
        protocols, lines = caches["protocol"], caches["request_line"]
        none, clean = _NONE, _CLEAN_QUERY
        verdicts = self._verdicts
        path_bound = policy.path_bound
        for position, seen in zip(normalised.later, normalised.found, strict=True):
            record = records[position]
            h_path, h_query, h_agent, h_referer, h_method, h_protocol, h_headers = seen
            if h_path is None:
                h_path = paths[record.path]
            if h_query is None:
                h_query = queries[record.query]
            if h_referer is None:
                h_referer = referers[record.referer]
            if h_headers is None:
                h_headers = headers[keys[position]]
            if h_agent is None:
                h_agent = agents[record.user_agent]
            if h_method is None:
                h_method = methods[record.method]
            if h_protocol is None:
                h_protocol = protocols[record.protocol]
            if (
                h_path is clean
                and h_query is clean
                and h_agent is none
                and h_referer is clean
                and h_method is none
                and h_protocol is none
                and h_headers is clean
                and not record.malformed
            ):
                continue
            memo = None
            if not record.malformed:
                # A verdict depends only on what the fields hit (one cached object per value,
                # hashed by identity), and on the path where exclusions match against it:
                # requests with new paths or referers that hit nothing share the verdict of
                # the dirty user agent or query string they carry.
                memo = (
                    h_path, h_query, h_referer, h_headers, h_agent, h_method, h_protocol,
                    record.path if path_bound else None, level, site,
                )  # fmt: skip
                known = verdicts.get(memo)
                if known is not None:
                    out[position] = known
                    continue
            composite = (h_path, h_query, h_referer, h_headers)
            simple = (("user_agent", h_agent), ("method", h_method), ("protocol", h_protocol))
            parts = list(simple)
            if record.malformed:
                parts.append(("request_line", lines[_request_line(record)]))
            verdict = self._verdict(core, policy, record, parts, composite, level, site)
            out[position] = verdict
            if memo is not None:
                verdicts[memo] = verdict
        self._trim()
        return out

    def _verdict(
        self,
        core: _Core,
        policy: _Policy,
        record: LogRecord,
        parts: list[tuple[str, _Hits]],
        composite: tuple[_QueryHits, ...],
        level: int,
        site: str,
    ) -> Detection:
        found: list[TargetMatch] = []
        signals: set[str] = set()
        for hits in composite:
            if hits is not _CLEAN_QUERY:
                found.extend(hits.matches)
                signals.update(hits.signals)
        for kind, simple in parts:
            if simple is not _NONE:
                found.extend((index, kind, fragment) for index, fragment in simple.hits)
                signals.update(simple.signals)
        if record.malformed:
            signals.add(normalize.SIG_MALFORMED_REQUEST)
            request_bit = KIND_BITS["request_line"]
            line = truncate(_request_line(record))
            for index in core.signal_rules.get((normalize.SIG_MALFORMED_REQUEST, request_bit), ()):
                found.append((index, "request_line", line))
        rules = core.rules
        path: str | None = None
        matches: list[RuleMatch] = []
        points: dict[str, int] = {}
        fallbacks: set[str] = set()
        weak: set[str] = set()
        for index, target, fragment in found:
            rule = rules[index]
            if rule.paranoia > level or policy.disabled[index]:
                continue
            excluded = policy.rule_exclusions[index]
            if excluded:
                if path is None:
                    path = normalized_path(record.path)
                if any(e.covers(target, path, site) for e in excluded):
                    continue
            matches.append(RuleMatch(rule.id, rule.category, target, fragment, rule.points))
            points[rule.id] = max(points.get(rule.id, 0), rule.points)
            if rule.fallback:
                fallbacks.add(rule.id)
            if rule.weak:
                weak.add(rule.id)
        if fallbacks:
            points = _fallback_points(matches, points, fallbacks)
        if weak:
            points = _weak_points(matches, points, weak)
        total = sum(points.values())
        score = scoring.points_to_score(total)
        return Detection(
            score=score,
            severity=severity_of(score),
            matches=tuple(matches),
            categories=tuple(sorted({match.category for match in matches})),
            signals=tuple(sorted(signals)),
            points=total,
        )

    def _allowlisted(self, exclusions: ExclusionSet, record: LogRecord, site: str) -> str | None:
        key = (site, record.client_ip)
        cached = self._allowed_ips.get(key)
        if cached is None:
            cached = exclusions.ip_allowed(record.client_ip, site)
            if len(self._allowed_ips) < self.cache_size:
                self._allowed_ips[key] = cached
        if cached:
            return "ip"
        if exclusions.agent_allowed(record.user_agent, site):
            return "user_agent"
        return None

    def _trim(self) -> None:
        limit = self.cache_size
        for cache in self._hits.values():
            if len(cache) > limit:
                _lru_trim(cache, limit)
        for composite in self._composites.values():
            if len(composite) > limit:
                _lru_trim(composite, limit)
        if len(self._verdicts) > limit:
            self._verdicts = {}
        if len(self._shared) > limit:
            self._shared = {}

    # -- explanation -------------------------------------------------------------------------

    def explain(self, record: LogRecord, site: str = "default") -> dict[str, Any]:
        """Decoded targets, matches and score of one record, for people reading a verdict."""
        units: list[Unit] = _path_units(record.path)
        units += _split_query(record.query)
        units.append(("user_agent", record.user_agent, "user_agent"))
        units += fields.referer_units(record.referer)
        key = fields.header_key(record)
        if key is not None:
            units += fields.header_units(key)
        units += [("method", record.method, "method"), ("protocol", record.protocol, "protocol")]
        if record.malformed:
            units.append(("request_line", _request_line(record), "request_line"))
        targets: list[dict[str, Any]] = []
        for kind, value, name in units:
            if not value or (kind == "referer" and value == "-"):
                continue
            groups, signals = views_of(value, kind)
            if kind in _SIMPLE_KINDS:
                signals = _kind_signals(kind, value)
            views = {
                view: text for text, mask in groups for view, bit in VIEW_BITS.items() if mask & bit
            }
            decoded = views.get(normalize.VIEW_DECODED, value.lower())
            targets.append(
                {
                    "target": name,
                    "raw": value,
                    "decoded": decoded,
                    "views": {view: text for view, text in views.items() if text != decoded},
                    "signals": sorted(signals),
                }
            )
        detection = self.detect_batch([record], site=site)[0]
        return {
            "targets": targets,
            "paranoia_level": self.paranoia_for(site),
            **detection.to_dict(),
        }
