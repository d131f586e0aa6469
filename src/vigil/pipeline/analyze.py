"""The synchronous heart of the pipeline: one batch of raw lines in, one scored batch out.

`Analyzer` composes the stages of `vigil.pipeline.stages` over one batch type (`Work`):

    parse → normalise → rules → served → models → profile → behaviour → score

and holds what lives across batches: the detection state, the model set, and the link to the
helper process that may run part of the stages for it. `vigil scan --no-store` calls it
directly, and the async pipeline calls it once per batch.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Generator
from functools import partial
from typing import TYPE_CHECKING, Any

from vigil.batch import LineBatch, ScoredBatch
from vigil.config import Settings
from vigil.detect.behaviour import BehaviourEngine
from vigil.detect.engine import DetectionEngine
from vigil.detect.exclusions import ExclusionSet
from vigil.detect.profile.stage import ProfileStage
from vigil.detect.served import ServedJudge
from vigil.enrich import Enricher
from vigil.ingest.parser import LogParser, parser_from_section
from vigil.pipeline.score import ScoreStage
from vigil.pipeline.stages import (
    BehaviourStage,
    ModelsStage,
    NormaliseStage,
    ParseStage,
    RulesStage,
    ServedStage,
    SiteProfileStage,
    behaviour_from_section,
)
from vigil.pipeline.work import RemoteResult, Stage, Work

if TYPE_CHECKING:
    from vigil.pipeline.helper_process import HelperProcess, Prefetched

log = logging.getLogger(__name__)


class Analyzer:
    """Turns raw line batches into scored batches; holds the per-process detection state."""

    def __init__(
        self,
        settings: Settings,
        *,
        parser: LogParser | None = None,
        detection: DetectionEngine | None = None,
        behaviour: BehaviourEngine | None = None,
        enricher: Enricher | None = None,
        site: str | None = None,
        keep_results: bool = False,
        enrich: bool = True,
    ) -> None:
        self.site = site or settings.site
        # Each stage from its own section of the settings (parts not given).
        self.parser = parser or parser_from_section(settings.parser)
        self.detection = detection or DetectionEngine.from_section(settings.rules)
        section = settings.behaviour
        self.behaviour = behaviour if behaviour is not None else behaviour_from_section(section)
        self.enricher = enricher or Enricher.from_section(settings.enrich)
        self.helper: HelperProcess | None = None
        self._parse = ParseStage(self.parser)
        self._normalise = NormaliseStage(self.detection)
        self._rules = RulesStage(self.detection)
        self._served = ServedStage(self.detection.ruleset.rules)
        self._models = ModelsStage()
        self._profile = SiteProfileStage()
        self._behaviour = BehaviourStage(
            self.behaviour,
            self.enricher,
            enabled=section.enabled,
            exclusions=self.detection.exclusions,
        )
        self._score = ScoreStage(self.enricher, keep_results=keep_results, enrich=enrich)
        # The order of analysis: each stage reads what the ones before it found.
        self.stages: tuple[Stage, ...] = (
            self._parse,
            self._normalise,
            self._rules,
            self._served,
            self._models,
            self._profile,
            self._behaviour,
            self._score,
        )
        self.timings: Counter[str] = Counter()

    @property
    def served(self) -> ServedJudge:
        return self._served.served

    @property
    def models(self) -> Any:
        """The model set of hybrid mode (None: rules only); set it to swap models."""
        return self._models.models

    @models.setter
    def models(self, models: Any) -> None:
        self._models.models = models

    def load_models_later(self, loader: Callable[[], Any]) -> None:
        """Load the model set with `loader()` when the first request is scored (or `models`
        is read), not now."""
        self._models.load_later(loader)

    @property
    def profiles(self) -> ProfileStage | None:
        """The per-site profiles (judged here, in the main process, like the models)."""
        return self._profile.profiles

    @profiles.setter
    def profiles(self, profiles: ProfileStage | None) -> None:
        self._profile.profiles = profiles

    @property
    def detection_mode(self) -> str:
        return "hybrid" if self.models is not None else "rules"

    def prefetch(self, batch: LineBatch, site: str | None = None) -> Prefetched | None:
        """Hand `batch` to the helper process now, if there is one; pass the result to
        `analyze`. Every batch must then be prefetched, and analysed in the same order."""
        helper = self.helper
        if helper is None:
            return None
        try:
            return helper.submit(batch, site or self.site)
        except RuntimeError as exc:  # the helper is gone
            self._drop_helper(exc)
            return None

    def analyze(
        self, batch: LineBatch, site: str | None = None, prefetched: Prefetched | None = None
    ) -> ScoredBatch:
        steps = self.analyze_steps(batch, site, prefetched)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                scored: ScoredBatch = done.value
                return scored

    def analyze_steps(
        self, batch: LineBatch, site: str | None = None, prefetched: Prefetched | None = None
    ) -> Generator[None, None, ScoredBatch]:
        """`analyze`, pausing after each stage: the generator returns the scored batch. A
        driver with other work in the same thread (the async pipeline, whose store sends its
        next statement when the database answers) does it between the stages."""
        site = site or self.site
        if prefetched is None:
            prefetched = self.prefetch(batch, site)
        work = Work(batch, site)
        if prefetched is not None:
            work.remote_detects = prefetched.detects
            work.remote = partial(self._collect, prefetched)
        clock = time.perf_counter
        timings: dict[str, float] = {}
        for stage in self.stages:
            started = clock()
            work = stage(work)
            timings[stage.name] = clock() - started
            yield
        # Collected even when no stage needed it (behaviour off), so results stay in order.
        remote = work.remote_result()
        if remote is not None:
            # The helper's own time on this batch, spent alongside this process's stages; the
            # stages above then include only the wait for its results.
            timings.update(remote.timings)
        self.timings.update(timings)
        scored = work.scored
        assert scored is not None, "the score stage leaves a scored batch"
        scored.timings = timings
        return scored

    def _collect(self, prefetched: Prefetched, records: int) -> RemoteResult | None:
        """The helper's result for this batch, or None if this process must do its share."""
        # A result from a helper already given up on is ignored: this process's windows took
        # over from some batch on, and must see every later one.
        helper = self.helper
        if helper is None:
            return None
        try:
            result = helper.result(prefetched)
        except Exception as exc:  # the helper died or failed on this batch
            self._drop_helper(exc)
            return None
        if result.records != records:
            self._drop_helper(
                RuntimeError(f"it parsed {result.records} records where this process has {records}")
            )
            return None
        return result

    def set_exclusions(self, exclusions: ExclusionSet) -> None:
        """Put `exclusions` in force for the batches prefetched from now on (in the helper) and
        analysed from now on (here); the pipeline calls it in queue order. Every stage that
        reads them (the rules, the behaviour stage's allowlists) gets them."""
        self._rules.set_exclusions(exclusions)
        self._behaviour.set_exclusions(exclusions)

    def announce_exclusions(self, exclusions: ExclusionSet) -> None:
        """Send `exclusions` to the helper, ahead of every batch prefetched after this call."""
        if self.helper is None:
            return
        try:
            self.helper.set_exclusions(exclusions)
        except RuntimeError as exc:
            self._drop_helper(exc)

    def restore_behaviour(self, snapshot: bytes) -> int:
        """Restore the behaviour windows (here, and in the helper); the number of clients."""
        clients = self.behaviour.restore(snapshot)
        if self.helper is not None:
            try:
                self.helper.restore(snapshot)
            except RuntimeError as exc:
                self._drop_helper(exc)
        return clients

    def behaviour_snapshot(self) -> bytes:
        """The behaviour windows as they are after every batch handed in so far: the helper's
        while it keeps them, else this process's."""
        if self.helper is not None:
            try:
                return self.helper.snapshot()
            except RuntimeError as exc:
                self._drop_helper(exc)
        return self.behaviour.snapshot()

    def _drop_helper(self, reason: BaseException) -> None:
        """Carry on alone: this process's own behaviour windows take over (from the restored
        snapshot, if any, else empty)."""
        if self.helper is None:
            return
        log.error(
            "event=helper_process_lost error=%s; analysis continues in the main process, "
            "whose behaviour windows take over",
            reason or type(reason).__name__,
        )
        self.close()

    def close(self) -> None:
        """Stop the helper process, if any."""
        helper, self.helper = self.helper, None
        if helper is not None:
            helper.close()
