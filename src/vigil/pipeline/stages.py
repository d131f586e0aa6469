"""The analysis stages of a batch, each a `Work` → `Work` step (see `vigil.pipeline.work`):

    parse → normalise → rules → served → models → profile → behaviour → score
    (`vigil.pipeline.score`)

and `Stages`, the detection state one analysing process holds, each part built from its own
section of the settings (the parser, the rule engine, the behaviour windows and the
enricher). The main process's
`Analyzer` composes the stages over its `Stages`; the helper process builds its own `Stages`
and runs the same parse and behaviour (and, when asked, rules) stage objects on the same
batches, with the same control updates (see `vigil.pipeline.helper_process`).

Normalisation (splitting each field into the values rules target and decoding each into its
views) is a stage of its own, done once per distinct value: it decodes only the values that the
rules have not cached a verdict for, and the rules stage matches what it decoded."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import attrgetter, is_not
from typing import Any

from vigil.config import BehaviourSection, Settings
from vigil.detect.behaviour import BehaviourEngine, BehaviourEvent
from vigil.detect.engine import DetectionEngine
from vigil.detect.exclusions import ExclusionSet
from vigil.detect.profile.stage import ProfileStage
from vigil.detect.result import CLEAN, Detection, decode_detections
from vigil.detect.ruleset import Rule
from vigil.detect.served import ServedJudge
from vigil.enrich import Enricher
from vigil.ingest.parser import LogParser, parser_from_section
from vigil.pipeline.work import Work

__all__ = [
    "BehaviourStage",
    "ClientFacts",
    "ModelsStage",
    "NormaliseStage",
    "ParseStage",
    "RulesStage",
    "ServedStage",
    "SiteProfileStage",
    "Stages",
    "behaviour_from_section",
]

RESEARCH_TAG = "research-scanner"
_SCORE = attrgetter("score")


@dataclass(slots=True)
class Stages:
    """Parser, rules, behaviour windows and enricher of one process."""

    parser: LogParser
    detection: DetectionEngine
    behaviour: BehaviourEngine
    enricher: Enricher

    @classmethod
    def from_settings(cls, settings: Settings) -> Stages:
        """Each part from its section of `settings`."""
        return cls(
            parser=parser_from_section(settings.parser),
            detection=DetectionEngine.from_section(settings.rules),
            behaviour=behaviour_from_section(settings.behaviour),
            enricher=Enricher.from_section(settings.enrich),
        )


class ClientFacts(Mapping[str, Mapping[str, Any]]):
    """Country and ASN per client, looked up only for the clients a detector asks about."""

    def __init__(self, enricher: Enricher) -> None:
        self._enricher = enricher

    def __getitem__(self, ip: str) -> Mapping[str, Any]:
        info = self._enricher.client(ip)
        return {"country": info.country, "asn": info.asn}

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def behaviour_from_section(section: BehaviourSection) -> BehaviourEngine:
    """The behaviour windows with the operator's thresholds, if any (the settings' behaviour
    section)."""
    if section.config_file is None:
        return BehaviourEngine()
    import yaml

    from vigil.detect.behaviour import BehaviourConfig
    from vigil.errors import ConfigError

    path = section.config_file
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return BehaviourEngine(BehaviourConfig.model_validate(raw))
    except (OSError, yaml.YAMLError, ValueError) as exc:
        reason = str(exc).splitlines()[0]
        raise ConfigError(f"cannot use VIGIL_BEHAVIOUR_CONFIG_FILE {path}: {reason}") from None


class ParseStage:
    """Raw lines to records; lines of no known format become dead letters."""

    name = "parse"

    def __init__(self, parser: LogParser) -> None:
        self.parser = parser

    def __call__(self, work: Work) -> Work:
        parsed = self.parser.parse_batch(work.batch)
        work.records = parsed.records
        work.dead_letters = parsed.dead_letters
        return work


class NormaliseStage:
    """The batch's target values not seen before, split and decoded into their views (not
    done when the worker process was asked to detect the batch)."""

    name = "normalise"

    def __init__(self, detection: DetectionEngine) -> None:
        self.detection = detection

    def __call__(self, work: Work) -> Work:
        if not work.remote_detects:
            work.normalised = self.detection.normalise(work.records, site=work.site)
        return work


class RulesStage:
    """The rules' verdict on every record (from the worker process when it was asked to
    detect the batch)."""

    name = "rules"

    def __init__(self, detection: DetectionEngine) -> None:
        self.detection = detection

    def set_exclusions(self, exclusions: ExclusionSet) -> None:
        """Put `exclusions` in force from the next batch on."""
        if exclusions is not self.detection.exclusions:
            self.detection.set_exclusions(exclusions)

    def __call__(self, work: Work) -> Work:
        remote = work.remote_result() if work.remote_detects else None
        if remote is not None and remote.detections is not None:
            detections = decode_detections(remote.detections)
        else:
            detections = self.detection.detect_batch(
                work.records, site=work.site, normalised=work.normalised
            )
        work.detections = detections
        work.normalised = None  # its decoded views are in the rules' caches now
        return work


class ServedStage:
    """The rules' verdicts on probes judged against the probe families each site serves (a
    site that runs WordPress answers its login page), and the research scanners counted."""

    name = "served"

    def __init__(self, rules: Sequence[Rule]) -> None:
        # Which probe families each site serves is learned here, in the one process that sees
        # every batch in order (the helper process may have detected the batch).
        self.served = ServedJudge(rules)
        self._research_rules = frozenset(rule.id for rule in rules if RESEARCH_TAG in rule.tags)

    def __call__(self, work: Work) -> Work:
        if self.served.active:
            work.detections = self.served.judge(work.records, work.detections, work.site)
        if self._research_rules:
            work.research = self._research_scanners(work.detections)
        return work

    def _research_scanners(self, detections: list[Detection]) -> int:
        """How many requests of the batch came from research scanners (counted, never alerts)."""
        rules = self._research_rules
        # Most verdicts are CLEAN: they are skipped in C, and only the rest looked at.
        flagged = compress(detections, map(is_not, detections, repeat(CLEAN)))
        return sum(1 for detection in flagged if any(m.rule_id in rules for m in detection.matches))


class ModelsStage:
    """The models' scores, fused with the rules' (hybrid mode); nothing in rules mode.

    `models` may be swapped at any time (a retrained model): a batch is scored by the set in
    place when this stage reaches it. They may also be given as a loader (`load_later`), run
    when the first batch with requests arrives or when someone asks for `models`: loading them
    (onnxruntime, numpy and the model files) is a good part of a start-up that then may score
    nothing, like `vigil scan` of an empty file or a `vigil serve` whose logs stay quiet."""

    name = "models"

    def __init__(self, models: Any = None) -> None:
        self._models = models
        self._loader: Callable[[], Any] | None = None
        self._lock = threading.Lock()

    @property
    def models(self) -> Any:
        if self._loader is not None:
            self._load()
        return self._models

    @models.setter
    def models(self, models: Any) -> None:
        with self._lock:
            self._loader = None
            self._models = models

    def load_later(self, loader: Callable[[], Any]) -> None:
        """Have `loader()` (the model set, or None for rules only) give the models when they
        are first needed."""
        with self._lock:
            self._loader = loader
            self._models = None

    def _load(self) -> None:
        with self._lock:
            loader, self._loader = self._loader, None
            if loader is not None:
                self._models = loader()

    def __call__(self, work: Work) -> Work:
        if self._loader is not None and work.records:
            self._load()
        models = work.models = self._models  # read once per batch
        if models is not None:
            model_scores = work.model_scores = models.score_batch(work.records, work.detections)
            work.scores = list(map(_SCORE, model_scores))
        else:
            work.scores = [d.score for d in work.detections]
        return work


class SiteProfileStage:
    """Each request judged against its site's profile of normal requests, where the site has
    one (the score is raised to the profile's when that is higher); in `vigil serve` the
    profiles also learn from the requests that turned out normal."""

    name = "profile"

    def __init__(self, profiles: ProfileStage | None = None) -> None:
        self.profiles = profiles

    def __call__(self, work: Work) -> Work:
        profiles = self.profiles  # read once per batch, like the models
        if profiles is None:
            return work
        verdicts = work.profile = profiles.judge(work.records, work.site)
        if verdicts is not None:
            work.scores = list(map(max, work.scores, map(_SCORE, verdicts)))
        if profiles.learn_live:
            profiles.learn(work.records, work.scores, work.site)
        return work


class BehaviourStage:
    """Per-client behaviour windows and their detectors (from the worker process while it
    keeps the windows).

    The allowlists in force (the exclusions file's and those stored through the API, per site)
    apply here as they do to the rules: an allowlisted client's requests still count in the
    windows, but no behaviour event about it is reported."""

    name = "behaviour"

    def __init__(
        self,
        behaviour: BehaviourEngine,
        enricher: Enricher,
        *,
        enabled: bool,
        exclusions: ExclusionSet | None = None,
    ) -> None:
        self.behaviour = behaviour
        self.enricher = enricher
        self.enabled = enabled
        self.exclusions = exclusions or ExclusionSet()

    def set_exclusions(self, exclusions: ExclusionSet) -> None:
        """Use the allowlists of `exclusions` from the next batch on."""
        self.exclusions = exclusions

    def __call__(self, work: Work) -> Work:
        if not self.enabled:
            return work
        remote = work.remote_result()
        if remote is not None:
            work.events = remote.events
        else:
            work.events = self.behaviour.process_batch(
                work.records, site=work.site, enrichment=ClientFacts(self.enricher)
            )
        if work.events and self.exclusions.has_allowlist(work.site):
            work.events = [e for e in work.events if not self._allowed(e, work)]
        return work

    def _allowed(self, event: BehaviourEvent, work: Work) -> bool:
        exclusions, site = self.exclusions, work.site
        if exclusions.ip_allowed(event.client_ip, site):
            return True
        record = work.records[event.record_index]
        return record.client_ip == event.client_ip and exclusions.agent_allowed(
            record.user_agent, site
        )
