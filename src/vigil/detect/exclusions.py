"""False-positive controls: disabled rules, rule exclusions, allowlists, per-site paranoia.

An `ExclusionSet` is immutable; changing it means building a new one (`with_exclusion`,
`without_exclusion`, ...) and handing it to the engine, which swaps it in atomically. The YAML
form (``settings.exclusions_file``)::

    paranoia_level: 1            # default for every site (the engine setting otherwise)
    sites:                       # per-site settings: they apply to that site's traffic only
      shop: {paranoia_level: 2, allow_ips: [198.51.100.9], allow_user_agents: ['^ShopProbe/']}
    disabled_rules: [scanner-curl, tag:probe-admin]   # rule ids, tags or categories
    allow_ips: [10.0.0.0/8, 203.0.113.7]              # every site
    allow_user_agents: ['^UptimeRobot/', 'Pingdom\\.com_bot']   # regexes (RE2), caseless
    exclusions:
      - id: search-sqli            # optional; generated from the content otherwise
        rules: [tag:attack-sqli]   # rule ids, tags or categories; '*' for every rule
        path: /search              # path prefix (decoded, normalised, caseless) ...
        path_regex: ^/api/v\\d+/notes$   # ... and/or a regex (RE2) on the same path
        args: [q, query]           # only these argument targets; omit for every target
        sites: [shop]              # omit for every site
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from vigil.detect.patterns import LinearPattern, PatternError, compile_linear
from vigil.detect.ruleset import Rule
from vigil.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence):
        return tuple(str(item) for item in value)
    raise ConfigError(f"exclusions: {what} must be a list of strings")


def _regex(pattern: str, what: str) -> LinearPattern:
    try:
        return compile_linear(pattern, ignore_case=True, what=f"{what} {pattern[:80]!r}")
    except PatternError as exc:
        raise ConfigError(f"exclusions: {exc}") from None


def _network(value: str) -> Network:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ConfigError(
            f"exclusions: allow_ips entry {value!r} is not an IP address or CIDR"
        ) from None


def selector_matches(selector: str, rule: Rule) -> bool:
    """Whether a rule selector (id, ``tag:x``, tag, category or ``*``) names `rule`."""
    return selector == "*" or rule.matches_selector(selector)


@dataclass(frozen=True, slots=True)
class Exclusion:
    """Rules that must not fire on some paths and/or arguments (and/or sites)."""

    rules: tuple[str, ...]
    path: str | None = None
    path_regex: str | None = None
    args: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    id: str = ""
    _compiled: LinearPattern | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.rules:
            raise ConfigError("exclusions: an exclusion needs rules (ids, tags or '*')")
        if self.path_regex is not None and self._compiled is None:
            object.__setattr__(self, "_compiled", _regex(self.path_regex, "path_regex"))
        if self.path is not None:
            object.__setattr__(self, "path", self.path.lower())
        object.__setattr__(self, "args", tuple(name.lower() for name in self.args))
        if not self.id:
            digest = hashlib.blake2b(
                json.dumps(self.to_dict(with_id=False), sort_keys=True).encode(), digest_size=6
            )
            object.__setattr__(self, "id", digest.hexdigest())

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Exclusion:
        unknown = set(raw) - {"id", "rules", "path", "path_regex", "args", "sites"}
        if unknown:
            raise ConfigError(f"exclusions: unknown keys {sorted(unknown)} in an exclusion")
        path = raw.get("path")
        path_regex = raw.get("path_regex")
        return cls(
            rules=_strings(raw.get("rules"), "rules"),
            path=str(path) if path is not None else None,
            path_regex=str(path_regex) if path_regex is not None else None,
            args=_strings(raw.get("args"), "args"),
            sites=_strings(raw.get("sites"), "sites"),
            id=str(raw.get("id") or ""),
        )

    def to_dict(self, *, with_id: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"rules": list(self.rules)}
        if self.path is not None:
            out["path"] = self.path
        if self.path_regex is not None:
            out["path_regex"] = self.path_regex
        if self.args:
            out["args"] = list(self.args)
        if self.sites:
            out["sites"] = list(self.sites)
        if with_id:
            out["id"] = self.id
        return out

    def covers_rule(self, rule: Rule) -> bool:
        return any(selector_matches(selector, rule) for selector in self.rules)

    def covers(self, target: str, path: str, site: str) -> bool:
        """Whether this exclusion applies to `target` of a request to `path` on `site`.

        `path` is the decoded, normalised, lowercased request path.
        """
        if self.sites and site not in self.sites:
            return False
        if self.path is not None and not path.startswith(self.path):
            return False
        if self._compiled is not None and not self._compiled.search(path):
            return False
        if self.args:
            kind, _, name = target.partition(":")
            if kind not in ("args", "args_names") or name.lower() not in self.args:
                return False
        return True


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Addresses, networks and user agents (RE2 regexes, caseless) never to report."""

    ips: tuple[str, ...] = ()
    user_agents: tuple[str, ...] = ()
    _networks: tuple[Network, ...] = field(default=(), compare=False, repr=False)
    _agents: tuple[LinearPattern, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_networks", tuple(_network(ip) for ip in self.ips))
        object.__setattr__(
            self, "_agents", tuple(_regex(ua, "allow_user_agents") for ua in self.user_agents)
        )

    def __bool__(self) -> bool:
        return bool(self.ips or self.user_agents)

    def ip_allowed(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in network for network in self._networks)

    def agent_allowed(self, user_agent: str) -> bool:
        return any(pattern.search(user_agent) for pattern in self._agents)


def _address(ip: str) -> IPAddress | None:
    if not ip:
        return None
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None


_NO_ALLOWLIST = Allowlist()


@dataclass(frozen=True, slots=True)
class ExclusionSet:
    """Every false-positive control in force, as one immutable value.

    `allow_ips` / `allow_user_agents` apply to every site; `site_allowlists` and
    `site_paranoia` to one site's traffic only, so one site's entries never hide another
    site's attacks.
    """

    disabled_rules: tuple[str, ...] = ()
    exclusions: tuple[Exclusion, ...] = ()
    allow_ips: tuple[str, ...] = ()
    allow_user_agents: tuple[str, ...] = ()
    paranoia_level: int | None = None
    site_paranoia: tuple[tuple[str, int], ...] = ()
    site_allowlists: tuple[tuple[str, Allowlist], ...] = ()
    _everywhere: Allowlist = field(default=_NO_ALLOWLIST, compare=False, repr=False)
    _per_site: dict[str, Allowlist] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_everywhere", Allowlist(self.allow_ips, self.allow_user_agents))
        per_site: dict[str, Allowlist] = {}
        for name, allowlist in self.site_allowlists:
            known = per_site.get(name, _NO_ALLOWLIST)
            per_site[name] = Allowlist(
                known.ips + allowlist.ips, known.user_agents + allowlist.user_agents
            )
        object.__setattr__(self, "_per_site", per_site)
        for site, level in [(None, self.paranoia_level), *self.site_paranoia]:
            if level is not None and level not in (1, 2, 3, 4):
                where = f"site {site!r}" if site else "paranoia_level"
                raise ConfigError(f"exclusions: {where} paranoia level must be 1, 2, 3 or 4")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> ExclusionSet:
        """An exclusion set from its YAML/JSON form (see the module docstring)."""
        if not raw:
            return cls()
        if not isinstance(raw, Mapping):
            raise ConfigError("exclusions: the file must hold a mapping")
        known = {
            "disabled_rules", "exclusions", "allow_ips", "allow_user_agents",
            "paranoia_level", "sites",
        }  # fmt: skip
        unknown = set(raw) - known
        if unknown:
            raise ConfigError(f"exclusions: unknown keys {sorted(unknown)}")
        entries = raw.get("exclusions") or []
        if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
            raise ConfigError("exclusions: 'exclusions' must be a list of mappings")
        sites = raw.get("sites") or {}
        if not isinstance(sites, Mapping):
            raise ConfigError("exclusions: 'sites' must map site names to settings")
        site_paranoia: list[tuple[str, int]] = []
        site_allowlists: list[tuple[str, Allowlist]] = []
        site_keys = {"paranoia_level", "allow_ips", "allow_user_agents"}
        for site, conf in sites.items():
            if not isinstance(conf, Mapping) or not conf or set(conf) - site_keys:
                raise ConfigError(
                    f"exclusions: site {site!r} takes paranoia_level, allow_ips and/or "
                    "allow_user_agents"
                )
            if "paranoia_level" in conf:
                site_paranoia.append((str(site), _int(conf["paranoia_level"], f"site {site!r}")))
            allowlist = Allowlist(
                _strings(conf.get("allow_ips"), f"site {site!r} allow_ips"),
                _strings(conf.get("allow_user_agents"), f"site {site!r} allow_user_agents"),
            )
            if allowlist:
                site_allowlists.append((str(site), allowlist))
        level = raw.get("paranoia_level")
        return cls(
            disabled_rules=_strings(raw.get("disabled_rules"), "disabled_rules"),
            exclusions=tuple(Exclusion.from_dict(entry) for entry in entries),
            allow_ips=_strings(raw.get("allow_ips"), "allow_ips"),
            allow_user_agents=_strings(raw.get("allow_user_agents"), "allow_user_agents"),
            paranoia_level=_int(level, "paranoia_level") if level is not None else None,
            site_paranoia=tuple(site_paranoia),
            site_allowlists=tuple(site_allowlists),
        )

    @classmethod
    def load(cls, path: str | Path) -> ExclusionSet:
        """An exclusion set read from a YAML file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read exclusions file {path}: {exc.strerror}") from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"exclusions file {path} is not valid YAML: {exc}") from None
        return cls.from_dict(raw)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "disabled_rules": list(self.disabled_rules),
            "exclusions": [exclusion.to_dict() for exclusion in self.exclusions],
            "allow_ips": list(self.allow_ips),
            "allow_user_agents": list(self.allow_user_agents),
        }
        if self.paranoia_level is not None:
            out["paranoia_level"] = self.paranoia_level
        sites: dict[str, dict[str, Any]] = {}
        for site, level in self.site_paranoia:
            sites.setdefault(site, {})["paranoia_level"] = level
        for site, allowlist in self._per_site.items():
            if allowlist.ips:
                sites.setdefault(site, {})["allow_ips"] = list(allowlist.ips)
            if allowlist.user_agents:
                sites.setdefault(site, {})["allow_user_agents"] = list(allowlist.user_agents)
        if sites:
            out["sites"] = sites
        return out

    def with_exclusion(self, exclusion: Exclusion) -> ExclusionSet:
        """This set plus `exclusion` (replacing one with the same id)."""
        kept = tuple(e for e in self.exclusions if e.id != exclusion.id)
        return replace(self, exclusions=(*kept, exclusion))

    def without_exclusion(self, exclusion_id: str) -> ExclusionSet:
        """This set without the exclusion of that id."""
        return replace(self, exclusions=tuple(e for e in self.exclusions if e.id != exclusion_id))

    def with_disabled(self, *selectors: str) -> ExclusionSet:
        """This set with more rules disabled (ids, tags or categories)."""
        added = tuple(s for s in selectors if s not in self.disabled_rules)
        return replace(self, disabled_rules=(*self.disabled_rules, *added))

    def with_enabled(self, *selectors: str) -> ExclusionSet:
        """This set with the given disable entries removed."""
        return replace(
            self, disabled_rules=tuple(s for s in self.disabled_rules if s not in selectors)
        )

    def with_allowlist(
        self, *, ips: Iterable[str] = (), user_agents: Iterable[str] = (), site: str | None = None
    ) -> ExclusionSet:
        """This set with more allowlisted IPs/CIDRs and user-agent regexes (of `site` only,
        when given)."""
        if site is not None:
            added = Allowlist(tuple(ips), tuple(user_agents))
            return replace(self, site_allowlists=(*self.site_allowlists, (site, added)))
        return replace(
            self,
            allow_ips=(*self.allow_ips, *ips),
            allow_user_agents=(*self.allow_user_agents, *user_agents),
        )

    def is_disabled(self, rule: Rule) -> bool:
        return any(selector_matches(selector, rule) for selector in self.disabled_rules)

    def paranoia_for(self, site: str, default: int) -> int:
        for name, level in self.site_paranoia:
            if name == site:
                return level
        return self.paranoia_level if self.paranoia_level is not None else default

    def has_allowlist(self, site: str) -> bool:
        """Whether any allowlist entry applies to `site`'s traffic."""
        return bool(self._everywhere) or bool(self._per_site.get(site))

    def ip_allowed(self, ip: str, site: str | None = None) -> bool:
        """Whether `ip` is allowlisted for every site, or for `site`."""
        local = self._per_site.get(site, _NO_ALLOWLIST) if site is not None else _NO_ALLOWLIST
        if not (self._everywhere.ips or local.ips):
            return False
        address = _address(ip)
        return self._everywhere.ip_allowed(address) or local.ip_allowed(address)

    def agent_allowed(self, user_agent: str, site: str | None = None) -> bool:
        """Whether `user_agent` is allowlisted for every site, or for `site`."""
        if self._everywhere.agent_allowed(user_agent):
            return True
        return site is not None and self._per_site.get(site, _NO_ALLOWLIST).agent_allowed(
            user_agent
        )


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"exclusions: {what} paranoia level must be 1, 2, 3 or 4")
    return value
