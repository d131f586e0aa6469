"""Loading and validation of rule files: YAML documents shipped in the package or added by users.

A rule file holds one family of rules::

    family: sqli
    defaults:                      # optional, merged into every rule of the file
      category: sqli
      targets: [args, args_names]
      transforms: [decode, remove_comments]
      severity: critical           # or score: 5
      paranoia: 1
      tags: [attack-sqli]
    rules:
      - id: sqli-union-select
        name: UNION-based SELECT
        patterns: ['\\bunion\\b\\s*(?:all\\s*|distinct\\s*)?\\(?\\s*select\\b']
        examples:
          must_match: ["GET /item?id=1%20union%20select%20null HTTP/1.1"]
          must_not_match: ["GET /search?q=trade+union+select+committee HTTP/1.1"]

A rule fires through exactly one of: ``patterns`` (regular expressions in the subset shared by
Hyperscan and Python ``re``, matched caseless and multi-line against lowercased views),
``signals`` (decoding or request-line anomalies, see `vigil.detect.normalize`) or ``analyzer``
(``libinjection-sqli``, ``libinjection-sqli-uncorroborated`` or ``libinjection-xss``).
Examples are request lines, full access-log lines, or mappings with ``request``,
``user_agent``, ``referer`` and ``client_ip``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any, Final

import orjson
import yaml

from vigil.detect import normalize
from vigil.detect.scoring import SEVERITY_POINTS
from vigil.errors import RuleError
from vigil.runtime import cache_dir

log = logging.getLogger(__name__)

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

TARGETS: Final = (
    "path",
    "path_segment",
    "args",
    "args_names",
    "query",
    "user_agent",
    "referer",
    "referer_args",
    "cookie",
    "header",
    "method",
    "protocol",
    "request_line",
)
"""Every kind of request value a rule can target (see `vigil.detect.fields`)."""
TARGET_GROUPS: Final = {
    # One value an attacker chose on its own: anchored patterns (^...$) make sense on it.
    "values": ("args", "path_segment", "referer_args", "cookie", "header"),
    # Everything the client sends in headers rather than in the request line.
    "headers": ("user_agent", "referer", "referer_args", "cookie", "header"),
    # Every request-controlled field: the default reach of an injection family.
    "request": (
        "path", "path_segment", "args", "args_names", "user_agent", "referer", "referer_args",
        "cookie", "header",
    ),
}  # fmt: skip
"""Names a rule file may use in `targets` for several kinds at once."""
_CVE_RE = re.compile(r"^CVE-\d{4}-\d{4,}$")
ANALYZERS: Final = frozenset(
    {"libinjection-sqli", "libinjection-sqli-uncorroborated", "libinjection-xss"}
)
"""``libinjection-sqli`` fires on verdicts with SQL of their own (see
`vigil.detect.injection.sqli_corroborated`), ``libinjection-sqli-uncorroborated`` on the rest."""
SIGNALS: Final = frozenset(
    {
        normalize.SIG_DOUBLE_ENCODING,
        normalize.SIG_INVALID_ENCODING,
        normalize.SIG_UNICODE_ENCODING,
        normalize.SIG_OVERLONG_UTF8,
        normalize.SIG_NUL_BYTE,
        normalize.SIG_PATH_TRAVERSAL,
        normalize.SIG_LINE_BREAK,
        normalize.SIG_MALFORMED_REQUEST,
        normalize.SIG_INVALID_METHOD,
        normalize.SIG_UNKNOWN_METHOD,
        normalize.SIG_INVALID_PROTOCOL,
        normalize.SIG_ABSOLUTE_TARGET,
    }
)
_TRANSFORM_VIEWS: Final = {
    (): normalize.VIEW_RAW,
    ("none",): normalize.VIEW_RAW,
    ("decode",): normalize.VIEW_DECODED,
    ("decode", "remove_comments"): normalize.VIEW_NOCOMMENTS,
    ("decode", "cmdline"): normalize.VIEW_CMDLINE,
    ("decode", "normalize_path"): normalize.VIEW_PATH,
}
_RULE_KEYS: Final = frozenset(
    {
        "id", "name", "category", "score", "severity", "paranoia", "targets", "transforms",
        "patterns", "pattern", "signals", "analyzer", "engine", "tags", "description",
        "examples", "cve", "served_family", "fallback", "weak",
    }
)  # fmt: skip
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
PATTERN_FLAGS: Final = re.IGNORECASE | re.MULTILINE
_EXAMPLE_KEYS: Final = frozenset(
    {"request", "user_agent", "referer", "client_ip", "headers", "status"}
)


@dataclass(frozen=True, slots=True)
class Example:
    """A request a rule must (or must not) fire on."""

    request: str
    user_agent: str = ""
    referer: str = ""
    client_ip: str = "192.0.2.10"
    headers: tuple[tuple[str, str], ...] = ()
    """Other request headers, as a log format records them (``cookie``, ``x-forwarded-for``,
    ``host``, ``x-api-version``)."""
    status: int | None = None

    def describe(self) -> str:
        extra = [f"{k}={v!r}" for k, v in (("ua", self.user_agent), ("referer", self.referer)) if v]
        extra += [f"{name}={value!r}" for name, value in self.headers]
        if self.status is not None:
            extra.append(f"status={self.status}")
        return " ".join([repr(self.request), *extra])


@dataclass(frozen=True, slots=True)
class Rule:
    """One detection rule as loaded from a rule file."""

    id: str
    name: str
    category: str
    points: int
    paranoia: int
    targets: frozenset[str]
    view: str
    patterns: tuple[str, ...]
    signals: frozenset[str]
    analyzer: str | None
    engine: str
    tags: tuple[str, ...]
    description: str
    family: str
    source: str
    must_match: tuple[Example, ...]
    must_not_match: tuple[Example, ...]
    cve: tuple[str, ...] = ()
    served_family: str | None = None
    """For probes of paths a real site may serve (a CMS login, an admin console): the family
    whose 2xx answers on a site make the probe ordinary there (see `vigil.detect.served`)."""
    fallback: bool = False
    """A broad rule that stands in for the specific rules of its category: it scores only
    when none of them matched the request, so one piece of evidence is not counted twice."""
    weak: bool = False
    """A signal that only strengthens a finding (an evasion such as double encoding): its
    points count only beside a rule worth a verdict of its own (a warning or more), never
    beside another weak signal or notice alone."""

    @property
    def kind(self) -> str:
        """``pattern``, ``signal`` or ``analyzer``: how the rule fires."""
        if self.patterns:
            return "pattern"
        return "signal" if self.signals else "analyzer"

    def matches_selector(self, selector: str) -> bool:
        """Whether `selector` names this rule by id or by one of its tags (``tag:x`` or ``x``)."""
        name = selector.removeprefix("tag:")
        return selector == self.id or name in self.tags or name == self.category


class Ruleset:
    """An ordered, validated collection of rules with unique ids."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.by_id: dict[str, Rule] = {}
        for rule in self.rules:
            if rule.id in self.by_id:
                raise RuleError(
                    f"rule id {rule.id!r} is defined twice ({self.by_id[rule.id].source} and "
                    f"{rule.source}); give one of them another id"
                )
            self.by_id[rule.id] = rule

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Any:
        return iter(self.rules)

    def upto(self, paranoia_level: int) -> list[Rule]:
        """Rules active at `paranoia_level` (those of that level and below)."""
        return [rule for rule in self.rules if rule.paranoia <= paranoia_level]

    @property
    def families(self) -> list[str]:
        return sorted({rule.family for rule in self.rules})


def _as_list(value: Any, what: str, where: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, Mapping)):
        return [value]
    if isinstance(value, Sequence):
        return list(value)
    raise RuleError(f"{where}: {what} must be a list")


def _example(value: Any, where: str) -> Example:
    if isinstance(value, str):
        return Example(request=value)
    if isinstance(value, Mapping):
        unknown = set(value) - {
            "request",
            "user_agent",
            "referer",
            "client_ip",
            "headers",
            "status",
        }
        if unknown or "request" not in value:
            raise RuleError(
                f"{where}: an example mapping needs 'request' and may have user_agent, "
                f"referer, client_ip, headers, status (got {sorted(value)})"
            )
        headers = value.get("headers") or {}
        status = value.get("status")
        if not isinstance(headers, Mapping) or (status is not None and not isinstance(status, int)):
            raise RuleError(f"{where}: example headers is a mapping and status a number")
        return Example(
            request=str(value["request"]),
            user_agent=str(value.get("user_agent", "")),
            referer=str(value.get("referer", "")),
            client_ip=str(value.get("client_ip", "192.0.2.10")),
            headers=tuple((str(k).lower(), str(v)) for k, v in headers.items()),
            status=status,
        )
    raise RuleError(f"{where}: an example is a request line or a mapping")


def check_pattern(pattern: str, where: str) -> None:
    """Raise `RuleError` unless `pattern` compiles and cannot match the empty string."""
    try:
        compiled = re.compile(pattern.encode("utf-8"), PATTERN_FLAGS)
    except re.error as exc:
        raise RuleError(f"{where}: pattern {pattern!r} does not compile: {exc}") from None
    if compiled.search(b"") is not None:
        raise RuleError(f"{where}: pattern {pattern!r} matches the empty string")
    if compiled.search(b"\n") is not None:
        # Targets are scanned joined by line breaks; a bare line break is what the
        # line-break signal is for.
        raise RuleError(
            f"{where}: pattern {pattern!r} matches a bare line break; use signals: [line-break]"
        )


def _flag(merged: Mapping[str, Any], key: str, where: str) -> bool:
    """A rule's yes/no setting `key` (false when absent)."""
    value = merged.get(key, False)
    if not isinstance(value, bool):
        raise RuleError(f"{where}: {key} is true or false")
    return value


def _rule(
    raw: Mapping[str, Any],
    defaults: Mapping[str, Any],
    family: str,
    source: str,
    *,
    check: bool = True,
) -> Rule:
    where = f"{source}: rule {raw.get('id', '?')!r}"
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise RuleError(f"{where}: unknown keys {sorted(unknown)}")
    merged: dict[str, Any] = {**defaults, **raw}
    rule_id = merged.get("id")
    if not isinstance(rule_id, str) or not _ID_RE.match(rule_id):
        raise RuleError(f"{where}: id must be lowercase letters, digits, '.', '_' or '-'")
    name = str(merged.get("name") or rule_id)
    category = merged.get("category")
    if not isinstance(category, str) or not category:
        raise RuleError(f"{where}: category is missing")

    severity = merged.get("severity")
    score = merged.get("score")
    if "score" in raw or (score is not None and "severity" not in raw):
        if not isinstance(score, int) or not 0 <= score <= 100:
            raise RuleError(f"{where}: score must be an integer 0-100")
        points = score
    elif isinstance(severity, str) and severity in SEVERITY_POINTS:
        points = SEVERITY_POINTS[severity]
    else:
        raise RuleError(f"{where}: give score (points) or severity ({sorted(SEVERITY_POINTS)})")

    paranoia = merged.get("paranoia", 1)
    if not isinstance(paranoia, int) or not 1 <= paranoia <= 4:
        raise RuleError(f"{where}: paranoia must be 1, 2, 3 or 4")

    named = [str(t) for t in _as_list(merged.get("targets"), "targets", where)]
    targets = [kind for name in named for kind in TARGET_GROUPS.get(name, (name,))]
    bad = [t for t in targets if t not in TARGETS]
    if not targets or bad:
        raise RuleError(
            f"{where}: targets must be a non-empty list of {list(TARGETS)} or of the groups "
            f"{list(TARGET_GROUPS)}"
        )

    transforms = tuple(str(t) for t in _as_list(merged.get("transforms"), "transforms", where))
    view = _TRANSFORM_VIEWS.get(transforms)
    if view is None:
        raise RuleError(
            f"{where}: transforms {list(transforms)} not supported; use [], [decode] or "
            "[decode, remove_comments|cmdline|normalize_path]"
        )

    patterns = [str(p) for p in _as_list(raw.get("patterns"), "patterns", where)]
    if "pattern" in raw:
        patterns.append(str(raw["pattern"]))
    signals = frozenset(str(s) for s in _as_list(raw.get("signals"), "signals", where))
    analyzer = raw.get("analyzer")
    if sum((bool(patterns), bool(signals), analyzer is not None)) != 1:
        raise RuleError(f"{where}: give exactly one of patterns, signals or analyzer")
    for pattern in patterns if check else ():
        check_pattern(pattern, where)
    if signals - SIGNALS:
        raise RuleError(f"{where}: unknown signals {sorted(signals - SIGNALS)}")
    if analyzer is not None and analyzer not in ANALYZERS:
        raise RuleError(f"{where}: analyzer must be one of {sorted(ANALYZERS)}")
    engine = str(merged.get("engine", "auto"))
    if engine not in ("auto", "re"):
        raise RuleError(f"{where}: engine must be auto or re")

    tags = tuple(str(t) for t in _as_list(merged.get("tags"), "tags", where))
    cve = tuple(str(c).upper() for c in _as_list(raw.get("cve"), "cve", where))
    bad_cve = [c for c in cve if not _CVE_RE.match(c)]
    if bad_cve:
        raise RuleError(f"{where}: cve entries look like CVE-2021-44228 (got {bad_cve})")
    served_family = merged.get("served_family")
    if served_family is not None and (not isinstance(served_family, str) or not served_family):
        raise RuleError(f"{where}: served_family must be a name such as wordpress")
    if served_family is not None and "path" not in targets:
        raise RuleError(f"{where}: served_family is for rules on the request path")
    fallback = _flag(merged, "fallback", where)
    weak = _flag(merged, "weak", where)
    examples = merged.get("examples") or {}
    if not isinstance(examples, Mapping) or set(examples) - {"must_match", "must_not_match"}:
        raise RuleError(f"{where}: examples has must_match and must_not_match lists")
    return Rule(
        id=rule_id,
        name=name,
        category=category,
        points=points,
        paranoia=paranoia,
        targets=frozenset(targets),
        view=view,
        patterns=tuple(patterns),
        signals=signals,
        analyzer=str(analyzer) if analyzer is not None else None,
        engine=engine,
        tags=tags,
        description=str(merged.get("description", "")),
        family=family,
        source=source,
        must_match=tuple(
            _example(e, where) for e in _as_list(examples.get("must_match"), "must_match", where)
        ),
        must_not_match=tuple(
            _example(e, where)
            for e in _as_list(examples.get("must_not_match"), "must_not_match", where)
        ),
        cve=cve,
        served_family=served_family,
        fallback=fallback,
        weak=weak,
    )


def parse_rule_file(text: str, source: str) -> list[Rule]:
    """The rules of one rule file's text; `source` names the file in error messages.

    Parsing the YAML and compiling every pattern to check it were most of the cost of loading
    the rules at start-up: a file whose exact text was parsed before is read back from the
    cache directory (JSON named by a hash of the text, its source name, the rule fields and
    the pattern flags), and any change to the text parses and checks it anew.
    """
    cached = _cache_path(text, source)
    try:
        return _rules_from_json(cached.read_bytes())
    except (OSError, ValueError, TypeError, KeyError):
        pass  # not parsed before (or written by another version): parse it
    rules = _parse_rule_file(text, source, check=True)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        tmp.write_bytes(orjson.dumps([asdict(rule) for rule in rules], default=sorted))
        tmp.replace(cached)
    except OSError as exc:  # a read-only home: parse at every start
        log.debug("event=rules_cache_unwritable path=%s error=%s", cached, exc)
    return rules


def _cache_path(text: str, source: str) -> Path:
    digest = hashlib.sha256(f"{sys.version}|{PATTERN_FLAGS}|{source}|".encode())
    digest.update(",".join(f.name for f in fields(Rule)).encode())
    digest.update(",".join(f.name for f in fields(Example)).encode())
    digest.update(text.encode("utf-8", "surrogatepass"))
    return cache_dir() / "rules-parsed" / f"{digest.hexdigest()[:32]}.json"


def _examples(items: list[dict[str, Any]]) -> tuple[Example, ...]:
    return tuple(
        Example(**{**item, "headers": tuple((k, v) for k, v in item["headers"])}) for item in items
    )


def _rules_from_json(data: bytes) -> list[Rule]:
    """Rules as `parse_rule_file` wrote them (sets as sorted lists, tuples as lists)."""
    return [
        Rule(
            **{
                **item,
                "targets": frozenset(item["targets"]),
                "signals": frozenset(item["signals"]),
                "patterns": tuple(item["patterns"]),
                "tags": tuple(item["tags"]),
                "cve": tuple(item["cve"]),
                "must_match": _examples(item["must_match"]),
                "must_not_match": _examples(item["must_not_match"]),
            }
        )
        for item in orjson.loads(data)
    ]


def _parse_rule_file(text: str, source: str, *, check: bool) -> list[Rule]:
    try:
        # libyaml's safe loader where it is built in: the same documents, several times faster.
        doc = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise RuleError(f"{source}: not valid YAML ({exc})") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("rules"), list):
        raise RuleError(f"{source}: a rule file is a mapping with a 'rules' list")
    family = str(doc.get("family") or Path(source).stem)
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise RuleError(f"{source}: defaults must be a mapping")
    rules = []
    for raw in doc["rules"]:
        if not isinstance(raw, Mapping):
            raise RuleError(f"{source}: every entry of rules must be a mapping")
        rules.append(_rule(raw, defaults, family, source, check=check))
    return rules


def builtin_rule_files() -> list[tuple[str, str]]:
    """(name, text) of every rule file shipped in the package, sorted by name."""
    folder = resources.files("vigil.detect") / "rules"
    files = [
        entry
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith((".yaml", ".yml"))
    ]
    return [(entry.name, entry.read_text(encoding="utf-8")) for entry in sorted(files, key=str)]


def load_ruleset(extra_dirs: Iterable[str | Path] = (), *, include_builtin: bool = True) -> Ruleset:
    """The shipped rules plus every ``*.yaml`` rule file in `extra_dirs`."""
    rules: list[Rule] = []
    if include_builtin:
        for name, text in builtin_rule_files():
            rules.extend(parse_rule_file(text, name))
    for folder in extra_dirs:
        path = Path(folder)
        if not path.is_dir():
            raise RuleError(f"rules directory {path} does not exist or is not a directory")
        for file in sorted([*path.glob("*.yaml"), *path.glob("*.yml")]):
            try:
                text = file.read_text(encoding="utf-8")
            except OSError as exc:
                raise RuleError(f"cannot read rule file {file}: {exc.strerror}") from None
            rules.extend(parse_rule_file(text, str(file)))
    return Ruleset(rules)
