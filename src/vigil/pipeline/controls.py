"""The false-positive controls a running pipeline applies: the exclusions file's, plus each
site's exclusions and allowlist entries stored through the API, merged into the one
`ExclusionSet` that the analysis stages read.

Each entry stays with its site: an exclusion or allowlist entry of one site never touches the
detection of another (site None: entries for every site). A site's update replaces what that
site had; the other sites keep theirs. `replace` puts every site's stored entries in force at
once (a cluster worker's re-read of the database).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from vigil.detect.exclusions import Exclusion, ExclusionSet

__all__ = ["RuntimeControls"]

Entries = list[dict[str, Any]]
SiteControls = tuple[str | None, Entries, Entries]


class RuntimeControls:
    """The exclusion set in force: `base` (from the settings) plus every site's stored entries."""

    def __init__(self, base: ExclusionSet) -> None:
        self.base = base
        self.current = base
        self._sites: dict[str, tuple[Entries, Entries]] = {}

    def update(self, site: str | None, exclusions: Entries, allowlist: Entries) -> ExclusionSet:
        """Replace `site`'s exclusions and allowlist; the merged set now in force."""
        self._sites[site or ""] = (list(exclusions), list(allowlist))
        return self._combine()

    def replace(self, controls: Iterable[SiteControls]) -> ExclusionSet:
        """Every site's entries at once (a site not named has none any more); the merged set
        now in force."""
        self._sites = {site or "": (list(ex), list(allow)) for site, ex, allow in controls}
        return self._combine()

    def _combine(self) -> ExclusionSet:
        base = self.base
        combined = ExclusionSet(
            disabled_rules=base.disabled_rules,
            exclusions=base.exclusions,
            allow_ips=base.allow_ips,
            allow_user_agents=base.allow_user_agents,
            paranoia_level=base.paranoia_level,
            site_paranoia=base.site_paranoia,
            site_allowlists=base.site_allowlists,
        )
        for site_name, (site_exclusions, entries) in self._sites.items():
            for entry in site_exclusions:
                combined = combined.with_exclusion(
                    Exclusion.from_dict(_exclusion_entry(entry, site_name))
                )
            ips = [a["value"] for a in entries if a.get("kind", "ip") in ("ip", "cidr")]
            # Allowlisted user agents arrive as plain text: they match as substrings.
            agents = [re.escape(a["value"]) for a in entries if a.get("kind") == "user_agent"]
            if ips or agents:
                combined = combined.with_allowlist(
                    ips=ips, user_agents=agents, site=site_name or None
                )
        self.current = combined
        return combined


def _exclusion_entry(entry: dict[str, Any], site: str) -> dict[str, Any]:
    """The API's exclusion row in the rule engine's exclusion form."""
    out: dict[str, Any] = {"rules": [entry["rule_id"]]}
    if entry.get("path_prefix"):
        out["path"] = entry["path_prefix"]
    if entry.get("path_regex"):
        out["path_regex"] = entry["path_regex"]
    if entry.get("argument"):
        out["args"] = [entry["argument"]]
    if site:
        out["sites"] = [site]
    return out
