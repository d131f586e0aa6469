"""Which probe families each site really serves, learned from the site's own answers.

A probe rule with a ``served_family`` matches paths that some sites serve: a WordPress site
answers /wp-login.php with 200, a Spring site /actuator/health. Everywhere else the same path,
answered 404 or 403, is a reconnaissance probe. So the verdict on such a match depends on the
site and on the answer:

- every 2xx answer to a path of family F on site S is an observation of F on S by its client
  on its day; from `min_clients` distinct clients on, or 2xx answers on `min_days` distinct
  days, S *serves* F (a small site's one administrator logs in from one address, day after
  day);
- a match of F on a site that serves F, answered 2xx or 3xx, scores nothing: the match is kept
  (with its points set to 0) so that the reason stays visible, and the request is LOW;
- any other answer (404, 403, 5xx), or a site not seen serving F, keeps the rule's points:
  one request is MEDIUM, and a series of them is an incident.

Distinct clients or days rather than answers count, so one scanner answered 200 by a
catch-all page in one sweep cannot teach a site a family on its own. The record is small on
purpose: per site and family, at most `min_clients` client addresses and `min_days` days until
the family is learned, then only the fact. A per-site positive profile of everything a site
serves can build on it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

from vigil.batch import LogRecord
from vigil.detect import scoring
from vigil.detect.result import CLEAN, Detection, RuleMatch
from vigil.detect.ruleset import Rule
from vigil.errors import VigilError
from vigil.severity import severity_of

DEFAULT_MIN_CLIENTS: Final = 3
DEFAULT_MIN_DAYS: Final = 3
SERVED_STATUSES: Final = range(200, 400)
"""Answers that do not contradict a site serving the path (a 304 or a login redirect)."""
LEARNING_STATUSES: Final = range(200, 300)
"""Answers that teach a site a family."""
SNAPSHOT_VERSION: Final = 1


class ServedStateError(VigilError):
    """A saved served-probe record could not be read."""


class ServedProbes:
    """Per site and probe family: whether the site serves it, learned from 2xx answers."""

    def __init__(
        self, min_clients: int = DEFAULT_MIN_CLIENTS, min_days: int = DEFAULT_MIN_DAYS
    ) -> None:
        if min_clients < 1 or min_days < 1:
            raise ValueError("min_clients and min_days must be at least 1")
        self.min_clients = min_clients
        self.min_days = min_days
        # Per (site, family) not yet served: the clients and the days of its 2xx answers.
        self._learning: dict[tuple[str, str], tuple[set[str], set[int]]] = {}
        self._served: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def observe(
        self, site: str, family: str, client: str, status: int | None, day: int | None = None
    ) -> None:
        """Record that `client` asked `site` for a path of `family` and got `status` on `day`
        (a proleptic ordinal, `date.toordinal()`; None when the line had no time)."""
        if status not in LEARNING_STATUSES:
            return
        key = (site, family)
        if key in self._served:
            return
        with self._lock:
            clients, days = self._learning.setdefault(key, (set(), set()))
            clients.add(client)
            if day is not None:
                days.add(day)
            if len(clients) >= self.min_clients or len(days) >= self.min_days:
                self._served.add(key)
                del self._learning[key]

    def serves(self, site: str, family: str) -> bool:
        """Whether `site` has been seen serving paths of `family`."""
        return (site, family) in self._served

    def families(self, site: str) -> list[str]:
        """The families `site` serves, sorted."""
        return sorted(family for served_site, family in self._served if served_site == site)

    # -- snapshots ---------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The record as bytes for `restore` (a restart keeps what the sites taught)."""
        with self._lock:
            data = {
                "version": SNAPSHOT_VERSION,
                "min_clients": self.min_clients,
                "served": sorted([site, family] for site, family in self._served),
                "learning": sorted(
                    [site, family, sorted(clients)]
                    for (site, family), (clients, _) in self._learning.items()
                ),
                "learning_days": sorted(
                    [site, family, sorted(days)]
                    for (site, family), (_, days) in self._learning.items()
                    if days
                ),
            }
        return json.dumps(data, separators=(",", ":")).encode()

    def restore(self, data: bytes) -> int:
        """Replace the record with a snapshot's; returns how many (site, family) are served."""
        try:
            raw = json.loads(data)
            if raw.get("version") != SNAPSHOT_VERSION:
                raise ValueError(f"version {raw.get('version')!r}")
            served = {(str(site), str(family)) for site, family in raw["served"]}
            learning: dict[tuple[str, str], tuple[set[str], set[int]]] = {
                (str(site), str(family)): ({str(c) for c in clients}, set())
                for site, family, clients in raw["learning"]
            }
            # Records written before days were counted have no "learning_days".
            for site, family, ordinals in raw.get("learning_days", []):
                learning.setdefault((str(site), str(family)), (set(), set()))[1].update(
                    int(d) for d in ordinals
                )
        except (ValueError, KeyError, TypeError) as exc:
            raise ServedStateError(f"unreadable served-probe record: {exc}") from None
        with self._lock:
            self._served = served
            self._learning = learning
        return len(served)


class ServedJudge:
    """Applies a `ServedProbes` record to the verdicts of a batch (see the module docstring)."""

    def __init__(self, rules: Sequence[Rule], served: ServedProbes | None = None) -> None:
        self.served = served if served is not None else ServedProbes()
        self._families: dict[str, str] = {
            rule.id: rule.served_family for rule in rules if rule.served_family is not None
        }

    @property
    def active(self) -> bool:
        """Whether any rule is judged by the site (else `judge` has nothing to do)."""
        return bool(self._families)

    def judge(
        self, records: Sequence[LogRecord], detections: list[Detection], site: str
    ) -> list[Detection]:
        """`detections` with the served-family matches of served paths set to no points.

        Learns from every record of the batch it is given, in order; call it once per batch,
        in the order the batches arrive.
        """
        families = self._families
        if not families:
            return detections
        served = self.served
        out = detections
        for index, detection in enumerate(detections):
            if detection is CLEAN or not detection.matches:
                continue
            found = [m for m in detection.matches if m.rule_id in families]
            if not found:
                continue
            record = records[index]
            status = record.status
            when = record.observed_at
            day = when.toordinal() if when is not None else None
            for match in found:
                served.observe(site, families[match.rule_id], record.client_ip, status, day)
            if status not in SERVED_STATUSES:
                continue
            quiet = {m.rule_id for m in found if served.serves(site, families[m.rule_id])}
            if quiet:
                if out is detections:
                    out = list(detections)
                out[index] = without_points(detection, quiet)
        return out

    def outcomes(self, detection: Detection) -> list[dict[str, Any]]:
        """For `vigil rules explain`: each served-family match and its two possible verdicts."""
        points = _points_by_rule(detection.matches)
        out: list[dict[str, Any]] = []
        for rule_id in sorted(
            {m.rule_id for m in detection.matches if m.rule_id in self._families}
        ):
            family = self._families[rule_id]
            served_points = sum(p for r, p in points.items() if r != rule_id)
            probe_score = scoring.points_to_score(sum(points.values()))
            served_score = scoring.points_to_score(served_points)
            out.append(
                {
                    "rule_id": rule_id,
                    "family": family,
                    "probe": {
                        "when": f"answered 404/403, or the site has not been seen serving {family}",
                        "score": probe_score,
                        "severity": severity_of(probe_score),
                    },
                    "served": {
                        "when": (
                            f"answered 2xx/3xx on a site that serves {family} (2xx answers to "
                            f"{self.served.min_clients} or more distinct clients, or on "
                            f"{self.served.min_days} or more days)"
                        ),
                        "score": served_score,
                        "severity": severity_of(served_score),
                    },
                }
            )
        return out


def _points_by_rule(matches: Sequence[RuleMatch]) -> dict[str, int]:
    points: dict[str, int] = {}
    for match in matches:
        points[match.rule_id] = max(points.get(match.rule_id, 0), match.points)
    return points


def without_points(detection: Detection, rule_ids: set[str] | frozenset[str]) -> Detection:
    """`detection` with the matches of `rule_ids` kept but scoring nothing, and rescored."""
    matches = tuple(replace(m, points=0) if m.rule_id in rule_ids else m for m in detection.matches)
    total = sum(_points_by_rule(matches).values())
    score = scoring.points_to_score(total)
    return replace(
        detection,
        score=score,
        severity=severity_of(score),
        matches=matches,
        points=total,
    )
