"""The profile stage of the pipeline: per site, judge a batch against the site's profile, and
(in `vigil serve`) learn from the requests of the batch that turned out normal.

Judging a batch costs one cached lookup per request, made for the whole batch in C: verdicts
are kept per distinct request (method, path, query, status band, malformed) and per distinct
value of each parameter, until the profile changes enough to be recompiled (`RECOMPILE_LEARNED`
learned requests, or `RECOMPILE_SECONDS`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from itertools import compress
from typing import Any, Final

from vigil.detect.profile.judge import ProfileJudge, ProfileVerdict
from vigil.detect.profile.model import SiteProfile, client_id

__all__ = ["PROFILE_CATEGORY", "PROFILE_RULE", "ProfileStage", "profile_match"]

PROFILE_RULE: Final = "profile"
"""The rule id a threat's profile finding is stored under."""
PROFILE_CATEGORY: Final = "anomaly"
RECOMPILE_LEARNED: Final = 20_000
RECOMPILE_SECONDS: Final = 60.0
SAMPLE_FROM: Final = 100_000
"""Learned requests after which `vigil serve` learns one eligible request in `SAMPLE_STRIDE`."""
SAMPLE_STRIDE: Final = 4
MAX_SITES: Final = 256
"""Sites with a profile in one process; a further site is neither learned nor judged."""
_MEDIUM: Final = 0.5


def profile_match(verdict: ProfileVerdict) -> dict[str, Any]:
    """The stored match that says which expectations a request broke."""
    return {
        "rule_id": PROFILE_RULE,
        "category": PROFILE_CATEGORY,
        "target": "request",
        "fragment": verdict.reasons[0] if verdict.reasons else "",
        "points": 0,
        "evidence": {"score": verdict.score, "reasons": list(verdict.reasons)},
    }


class _Site:
    __slots__ = ("compiled_at", "judge", "learned", "phase", "profile")

    def __init__(self, profile: SiteProfile) -> None:
        self.profile = profile
        self.judge = ProfileJudge(profile)
        self.learned = 0
        self.phase = 0
        self.compiled_at = time.monotonic()


class ProfileStage:
    """Every site's profile in this process, judged per batch and (with `learn`) learned live."""

    def __init__(
        self,
        profiles: Sequence[SiteProfile] = (),
        *,
        learn: bool = False,
        learning_period: timedelta = timedelta(days=1),
    ) -> None:
        self.learn_live = learn
        self.learning_period = learning_period
        self._sites: dict[str, _Site] = {}
        self.dirty: set[str] = set()
        """Sites whose profile changed since `saved` was last called for them."""
        for profile in profiles:
            self._sites[profile.site] = _Site(profile)

    def profile(self, site: str) -> SiteProfile | None:
        entry = self._sites.get(site)
        return entry.profile if entry is not None else None

    def sites(self) -> list[str]:
        return sorted(self._sites)

    def put(self, profile: SiteProfile) -> None:
        """Use `profile` for its site from the next batch on (a restore, a reset, a train)."""
        self._sites[profile.site] = _Site(profile)

    def _entry(self, site: str, create: bool) -> _Site | None:
        entry = self._sites.get(site)
        if entry is None and create and len(self._sites) < MAX_SITES:
            entry = self._sites[site] = _Site(
                SiteProfile(site, learning_period=self.learning_period)
            )
        return entry

    def judge(self, records: Sequence[Any], site: str) -> list[ProfileVerdict] | None:
        """One verdict per record, or None when the site has no profile that judges yet."""
        entry = self._sites.get(site)
        if entry is None:
            return None
        profile = entry.profile
        now = time.monotonic()
        if entry.judge._version != profile.version and (
            entry.learned >= RECOMPILE_LEARNED
            or now - entry.compiled_at >= RECOMPILE_SECONDS
            or not entry.judge.active
        ):
            entry.judge.refresh()
            entry.learned = 0
            entry.compiled_at = now
        if not entry.judge.active:
            return None
        return entry.judge.judge_batch(records)

    def learn(self, records: Sequence[Any], scores: Sequence[float], site: str) -> int:
        """Learn from the records of a scored batch that are normal: answered 2xx/3xx (or no
        status in the log) and scored below MEDIUM by every detector, the profile included."""
        if not self.learn_live:
            return 0
        entry = self._entry(site, create=True)
        if entry is None:
            return 0
        keep = [
            score < _MEDIUM and (r.status is None or 200 <= r.status < 400) and not r.malformed
            for r, score in zip(records, scores, strict=True)
        ]
        chosen = list(compress(records, keep))
        if entry.profile.requests >= SAMPLE_FROM:
            # A mature profile changes slowly: one request in SAMPLE_STRIDE keeps its
            # proportions at a fraction of the cost (learning is the dearest part of a batch).
            phase = entry.phase = (entry.phase + 1) % SAMPLE_STRIDE
            chosen = chosen[phase::SAMPLE_STRIDE]
        learned = entry.profile.learn_records(chosen)
        if learned:
            entry.learned += learned
            self.dirty.add(site)
        return learned

    def teach(self, site: str, method: str, path: str, query: str, clients: Sequence[str]) -> None:
        """An analyst said this request is normal: learn it as if from `clients` (at least the
        profile's `need`, so one review is enough)."""
        entry = self._entry(site, create=True)
        if entry is None:
            return
        profile = entry.profile
        ids = [client_id(c) for c in clients] or [client_id("analyst")]
        while len(ids) < profile.need:
            ids.append(client_id(f"analyst-review-{len(ids)}"))
        for client in ids:
            profile.learn_one(method, path, query, 200, client)
        profile.version += 1
        entry.judge.refresh()
        self.dirty.add(site)

    def explain(
        self, site: str, method: str, path: str, query: str, status: int | None
    ) -> ProfileVerdict | None:
        entry = self._sites.get(site)
        if entry is None:
            return None
        entry.judge.refresh()
        if not entry.judge.active:
            return None
        return entry.judge.judge_request(method, path, query, status)
