"""The request detection stage: rules and injection analysers over batches of log records.

Per batch, the engine looks up every distinct target string (path, query string, user agent,
referer, method, protocol) in bounded caches; only strings it has not seen are decoded into
their views and scanned, all together in one matcher call, with libinjection on argument
values that could hold an injection. Per record it then joins the cached results, drops what
the exclusions, disabled rules and the site's paranoia level rule out, and scores the rest.
Real logs repeat the same paths, user agents and parameter values endlessly, so most records
cost a few dictionary lookups.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

from vigil.detect import injection, normalize, scoring
from vigil.detect.exclusions import Exclusion, ExclusionSet
from vigil.detect.matcher import KIND_BITS, VIEW_BITS, Matcher, Segment, build_matcher
from vigil.detect.result import Detection, RuleMatch, truncate
from vigil.detect.ruleset import Rule, Ruleset, load_ruleset
from vigil.ingest.records import LogRecord

if TYPE_CHECKING:
    from vigil.config import Settings

DEFAULT_CACHE_SIZE: Final = 100_000
_ALL_VIEWS: Final = sum(VIEW_BITS.values())
_SHELL_CHARS: Final = frozenset("\\\"'^$+%")
_SIMPLE_KINDS: Final = frozenset({"method", "protocol", "request_line"})

# (rule index, fragment) pairs found in one value, and the signals its decoding met.
ValueHits = tuple[tuple[tuple[int, str], ...], frozenset[str]]
TargetMatch = tuple[int, str, str]


@dataclass(frozen=True, slots=True)
class _Analysis:
    """The cached verdict material of one top-level target string (a path, a query, a UA...)."""

    matches: tuple[TargetMatch, ...]
    signals: frozenset[str]
    norm: str = ""


_CLEAN: Final = _Analysis((), frozenset())
_NO_HITS: Final[ValueHits] = ((), frozenset())


@dataclass(frozen=True, slots=True)
class _Core:
    """Everything compiled from the rules for one paranoia ceiling; swapped as a whole."""

    level: int
    rules: tuple[Rule, ...]
    matcher: Matcher
    matcher_index: tuple[int, ...]
    signal_rules: dict[str, tuple[int, ...]]
    analyzer_rules: tuple[tuple[int, str, int], ...]
    query_rules: bool


@dataclass(frozen=True, slots=True)
class _Policy:
    """Exclusions resolved against the core's rules; swapped as a whole."""

    exclusions: ExclusionSet
    disabled: tuple[bool, ...]
    rule_exclusions: tuple[tuple[Exclusion, ...], ...]
    has_allowlist: bool


def _lru_trim(cache: dict[Any, Any], limit: int) -> None:
    excess = len(cache) - limit
    if excess > 0:
        # Dicts keep insertion order: dropping from the front evicts the oldest quarter.
        for key in list(islice(cache, excess + limit // 4)):
            del cache[key]


def _grouped_views(value: str, kind: str) -> tuple[list[tuple[str, int]], frozenset[str], str]:
    """Distinct view strings of `value` with the view bits each stands for, signals, path."""
    if kind in _SIMPLE_KINDS:
        return [(value.lower(), _ALL_VIEWS)], frozenset(), ""
    if (
        not normalize.needs_decoding(value)
        and _SHELL_CHARS.isdisjoint(value)
        and "/*" not in value
        and "*/" not in value
        and "  " not in value
        and "\t" not in value
        and (kind != "path" or ("/." not in value and "//" not in value and value[:1] != "."))
    ):
        lowered = value.lower()
        return [(lowered, _ALL_VIEWS)], frozenset(), lowered
    views, signals = normalize.build_views(value, kind)
    groups: dict[str, int] = {}
    for view, text in views.items():
        groups[text] = groups.get(text, 0) | VIEW_BITS[view]
    return list(groups.items()), signals, views[normalize.VIEW_PATH]


def _request_line(record: LogRecord) -> str:
    return " ".join(part for part in (record.method, record.target, record.protocol) if part)


def _method_signals(method: str) -> frozenset[str]:
    if not method or method in normalize.KNOWN_METHODS:
        return frozenset()
    if not method.isascii() or not method.isalpha() or not method.isupper():
        return frozenset({normalize.SIG_INVALID_METHOD})
    return frozenset({normalize.SIG_UNKNOWN_METHOD})


def _protocol_signals(protocol: str) -> frozenset[str]:
    if not protocol or protocol in normalize.KNOWN_PROTOCOLS:
        return frozenset()
    return frozenset({normalize.SIG_INVALID_PROTOCOL})


class DetectionEngine:
    """Scores batches of log records with the rules of a `Ruleset`.

    `paranoia_level` is the default for sites the exclusion set says nothing about;
    `matcher` is ``auto`` (Hyperscan where available), ``hyperscan`` or ``re``.
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
        self._values: dict[tuple[int, str], ValueHits] = {}
        self._targets: dict[str, dict[str, _Analysis]] = {}
        self._allowed_ips: dict[str, bool] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> DetectionEngine:
        """An engine with the shipped and configured rules, exclusions and paranoia level."""
        ruleset = load_ruleset(settings.rules_dirs)
        exclusions = (
            ExclusionSet.load(settings.exclusions_file)
            if settings.exclusions_file is not None
            else ExclusionSet()
        )
        if settings.disabled_rules:
            exclusions = exclusions.with_disabled(*settings.disabled_rules)
        return cls(ruleset, paranoia_level=settings.paranoia_level, exclusions=exclusions)

    @property
    def exclusions(self) -> ExclusionSet:
        return self._exclusions

    @property
    def active_rules(self) -> tuple[Rule, ...]:
        """The rules compiled into the matcher (up to the highest paranoia level in use)."""
        return self._core.rules

    def set_exclusions(self, exclusions: ExclusionSet) -> None:
        """Put a new exclusion set in force; batches already running finish with the old one."""
        with self._lock:
            core = self._core
            ceiling = self._ceiling(exclusions)
            if ceiling != core.level:
                core = self._build_core(ceiling)
                self._values = {}
                self._targets = {}
            policy = self._build_policy(core, exclusions)
            self._core, self._policy, self._exclusions = core, policy, exclusions
            self._allowed_ips = {}

    def _ceiling(self, exclusions: ExclusionSet) -> int:
        levels = [exclusions.paranoia_for("", self.paranoia_level)]
        levels.extend(level for _, level in exclusions.site_paranoia)
        return max(levels)

    def _build_core(self, level: int) -> _Core:
        rules = tuple(self.ruleset.upto(level))
        pattern_rules = [i for i, rule in enumerate(rules) if rule.patterns]
        signal_rules: dict[str, list[int]] = {}
        for index, rule in enumerate(rules):
            for signal in rule.signals:
                signal_rules.setdefault(signal, []).append(index)
        analyzers = tuple(
            (index, str(rule.analyzer), _kind_mask(rule.targets))
            for index, rule in enumerate(rules)
            if rule.analyzer
        )
        return _Core(
            level=level,
            rules=rules,
            matcher=build_matcher([rules[i] for i in pattern_rules], self.matcher_engine),
            matcher_index=tuple(pattern_rules),
            signal_rules={signal: tuple(idx) for signal, idx in signal_rules.items()},
            analyzer_rules=analyzers,
            query_rules=any("query" in rule.targets for rule in rules),
        )

    @staticmethod
    def _build_policy(core: _Core, exclusions: ExclusionSet) -> _Policy:
        return _Policy(
            exclusions=exclusions,
            disabled=tuple(exclusions.is_disabled(rule) for rule in core.rules),
            rule_exclusions=tuple(
                tuple(e for e in exclusions.exclusions if e.covers_rule(rule))
                for rule in core.rules
            ),
            has_allowlist=bool(exclusions.allow_ips or exclusions.allow_user_agents),
        )

    # -- analysis of distinct strings -------------------------------------------------------

    def _scan_values(self, core: _Core, pending: dict[tuple[int, str], str]) -> None:
        """Decode, match and analyse every (kind bit, value) of `pending` into the value cache."""
        segments: list[Segment] = []
        owners: list[tuple[int, str]] = []
        found: dict[tuple[int, str], tuple[list[tuple[int, str]], frozenset[str], str]] = {}
        for key, kind in pending.items():
            kind_bit, value = key
            groups, signals, _ = _grouped_views(value, kind)
            hits: list[tuple[int, str]] = []
            decoded = groups[0][0]
            for text, mask in groups:
                if mask & VIEW_BITS[normalize.VIEW_DECODED]:
                    decoded = text
                segments.append(Segment(text.encode("utf-8", "surrogatepass"), kind_bit, mask))
                owners.append(key)
            for signal in signals:
                for index in core.signal_rules.get(signal, ()):
                    if _kind_mask(core.rules[index].targets) & kind_bit:
                        hits.append((index, truncate(value)))
            for index, analyzer, kinds in core.analyzer_rules:
                if not kinds & kind_bit:
                    continue
                if analyzer == "libinjection-sqli":
                    fingerprint = injection.sqli_fingerprint(decoded)
                    if fingerprint is not None:
                        hits.append((index, f"fingerprint {fingerprint}: {truncate(decoded, 90)}"))
                elif injection.xss_detected(decoded):
                    hits.append((index, truncate(decoded)))
            found[key] = (hits, signals, decoded)
        if segments:
            with self._lock:
                results = core.matcher.scan(segments)
            for key, seg_hits in zip(owners, results, strict=True):
                if seg_hits:
                    hits = found[key][0]
                    seen = {index for index, _ in hits}
                    for matcher_index, fragment in seg_hits:
                        index = core.matcher_index[matcher_index]
                        if index not in seen:
                            seen.add(index)
                            hits.append((index, fragment))
        for key, (hits, signals, _) in found.items():
            self._values[key] = (tuple(sorted(hits)), signals) if hits or signals else _NO_HITS

    @staticmethod
    def _units(kind: str, key: str) -> list[tuple[str, str, str]]:
        """(value kind, value, target name) of every target inside one top-level string."""
        if kind != "query":
            return [(kind, key, kind)]
        units: list[tuple[str, str, str]] = []
        for raw_name, raw_value in normalize.split_query(key):
            name = truncate(normalize.decode_name(raw_name), 64)
            units.append(("args_names", raw_name, f"args_names:{name}"))
            units.append(("args", raw_value, f"args:{name}"))
        return units

    def _analyse(self, core: _Core, pending: dict[str, dict[str, None]]) -> None:
        """Fill the target caches for every uncached top-level string in `pending`."""
        values = self._values
        todo: dict[tuple[int, str], str] = {}
        plans: list[tuple[str, str, list[tuple[str, str, str]]]] = []
        for kind, keys in pending.items():
            for key in keys:
                units = self._units(kind, key)
                if kind == "query" and core.query_rules:
                    units.append(("query", key, "query"))
                for unit_kind, value, _name in units:
                    vkey = (KIND_BITS[unit_kind], value)
                    if vkey not in values and value:
                        todo[vkey] = unit_kind
                plans.append((kind, key, units))
        if todo:
            self._scan_values(core, todo)
        for kind, key, units in plans:
            cache = self._targets.setdefault(kind, {})
            matches: list[TargetMatch] = []
            signals: frozenset[str] = frozenset()
            for unit_kind, value, name in units:
                if not value:
                    continue
                hits, unit_signals = values[(KIND_BITS[unit_kind], value)]
                for index, fragment in hits:
                    matches.append((index, name, fragment))
                if unit_signals:
                    signals = signals | unit_signals
            if kind == "method":
                extra = _method_signals(key)
            elif kind == "protocol":
                extra = _protocol_signals(key)
            else:
                extra = frozenset()
            if extra:
                signals = signals | extra
                for signal in extra:
                    for index in core.signal_rules.get(signal, ()):
                        if _kind_mask(core.rules[index].targets) & KIND_BITS[kind]:
                            matches.append((index, kind, truncate(key)))
            norm = ""
            if kind == "path":
                norm = _grouped_views(key, "path")[2] if key else ""
            if not matches and not signals and not norm:
                cache[key] = _CLEAN
            else:
                cache[key] = _Analysis(tuple(matches), signals, norm)

    # -- per record --------------------------------------------------------------------------

    def detect_batch(self, records: Sequence[LogRecord], site: str = "default") -> list[Detection]:
        """One `Detection` per record, in the same order."""
        core, policy = self._core, self._policy
        level = policy.exclusions.paranoia_for(site, self.paranoia_level)
        targets = self._targets
        kinds = ("path", "query", "user_agent", "referer", "method", "protocol", "request_line")
        caches = [targets.setdefault(kind, {}) for kind in kinds]
        paths, queries, agents, referers, methods, protocols, lines = caches
        pending: dict[str, dict[str, None]] = {kind: {} for kind in kinds}
        p_path, p_query, p_agent, p_referer, p_method, p_protocol, p_line = pending.values()
        allowed: list[str | None] = [None] * len(records)
        for position, record in enumerate(records):
            if policy.has_allowlist:
                allowed[position] = self._allowlisted(policy.exclusions, record)
                if allowed[position]:
                    continue
            if record.path not in paths:
                p_path[record.path] = None
            if record.query not in queries:
                p_query[record.query] = None
            if record.user_agent not in agents:
                p_agent[record.user_agent] = None
            if record.referer not in referers:
                p_referer[record.referer] = None
            if record.method not in methods:
                p_method[record.method] = None
            if record.protocol not in protocols:
                p_protocol[record.protocol] = None
            if record.malformed:
                line = _request_line(record)
                if line not in lines:
                    p_line[line] = None
        if any(pending.values()):
            self._analyse(core, {kind: keys for kind, keys in pending.items() if keys})

        out: list[Detection] = []
        append = out.append
        for position, record in enumerate(records):
            if allowed[position]:
                append(Detection(allowlisted=allowed[position]))
                continue
            a_path = paths[record.path]
            a_query = queries[record.query]
            a_agent = agents[record.user_agent]
            a_referer = referers[record.referer]
            a_method = methods[record.method]
            a_protocol = protocols[record.protocol]
            if (
                not record.malformed
                and a_query is _CLEAN
                and a_agent is _CLEAN
                and a_referer is _CLEAN
                and a_method is _CLEAN
                and a_protocol is _CLEAN
                and not a_path.matches
                and not a_path.signals
            ):
                append(Detection())
                continue
            parts = [a_path, a_query, a_agent, a_referer, a_method, a_protocol]
            if record.malformed:
                parts.append(lines[_request_line(record)])
            append(self._verdict(core, policy, parts, a_path.norm, level, site, record))
        self._trim()
        return out

    def _verdict(
        self,
        core: _Core,
        policy: _Policy,
        parts: Iterable[_Analysis],
        path: str,
        level: int,
        site: str,
        record: LogRecord,
    ) -> Detection:
        matches: list[RuleMatch] = []
        points: dict[str, int] = {}
        signals: set[str] = set()
        extra: list[TargetMatch] = []
        if record.malformed:
            signals.add(normalize.SIG_MALFORMED_REQUEST)
            for index in core.signal_rules.get(normalize.SIG_MALFORMED_REQUEST, ()):
                extra.append((index, "request_line", truncate(_request_line(record))))
        rules = core.rules
        for part in [*parts, _Analysis(tuple(extra), frozenset())]:
            if part.signals:
                signals.update(part.signals)
            for index, target, fragment in part.matches:
                rule = rules[index]
                if rule.paranoia > level or policy.disabled[index]:
                    continue
                excluded = policy.rule_exclusions[index]
                if excluded and any(e.covers(target, path, site) for e in excluded):
                    continue
                matches.append(RuleMatch(rule.id, rule.category, target, fragment, rule.points))
                points[rule.id] = max(points.get(rule.id, 0), rule.points)
        total = sum(points.values())
        score = scoring.points_to_score(total)
        return Detection(
            score=score,
            severity=scoring.severity(score),
            matches=matches,
            categories=sorted({match.category for match in matches}),
            signals=sorted(signals),
            points=total,
        )

    def _allowlisted(self, exclusions: ExclusionSet, record: LogRecord) -> str | None:
        cached = self._allowed_ips.get(record.client_ip)
        if cached is None:
            cached = exclusions.ip_allowed(record.client_ip)
            if len(self._allowed_ips) < self.cache_size:
                self._allowed_ips[record.client_ip] = cached
        if cached:
            return "ip"
        if exclusions.allow_user_agents and exclusions.agent_allowed(record.user_agent):
            return "user_agent"
        return None

    def _trim(self) -> None:
        _lru_trim(self._values, self.cache_size)
        for cache in self._targets.values():
            _lru_trim(cache, self.cache_size)

    # -- explanation -------------------------------------------------------------------------

    def explain(self, record: LogRecord, site: str = "default") -> dict[str, Any]:
        """Decoded targets, matches and score of one record, for people reading a verdict."""
        targets: list[dict[str, Any]] = []
        units: list[tuple[str, str, str]] = [("path", record.path, "path")]
        units += self._units("query", record.query)
        units += [
            ("user_agent", record.user_agent, "user_agent"),
            ("referer", record.referer, "referer"),
            ("method", record.method, "method"),
            ("protocol", record.protocol, "protocol"),
        ]
        if record.malformed:
            units.append(("request_line", _request_line(record), "request_line"))
        for kind, value, name in units:
            if not value or (kind == "referer" and value == "-"):
                continue
            groups, signals, _ = _grouped_views(value, kind)
            views = {
                view: text for text, mask in groups for view, bit in VIEW_BITS.items() if mask & bit
            }
            entry: dict[str, Any] = {"target": name, "raw": value, "signals": sorted(signals)}
            entry["decoded"] = views.get(normalize.VIEW_DECODED, value.lower())
            entry["views"] = {
                view: text for view, text in views.items() if text != entry["decoded"]
            }
            targets.append(entry)
        detection = self.detect_batch([record], site=site)[0]
        return {
            "targets": targets,
            "paranoia_level": self._policy.exclusions.paranoia_for(site, self.paranoia_level),
            **detection.to_dict(),
        }


def _kind_mask(targets: Iterable[str]) -> int:
    mask = 0
    for target in targets:
        mask |= KIND_BITS[target]
    return mask
