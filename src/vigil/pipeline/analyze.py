"""The synchronous heart of the pipeline: one batch of raw lines in, one scored batch out.

parse → detect (rules, injection analysis, models) → behaviour windows → enrich → score.
Every stage works on the whole batch; `vigil scan --no-store` calls this directly, and the
async pipeline calls it once per batch.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import datetime, timedelta
from itertools import compress, repeat
from operator import attrgetter, le
from typing import TYPE_CHECKING, Any

from vigil.batch import (
    DeadLetter,
    LineBatch,
    LineResult,
    LogRecord,
    ScoredBatch,
    Threat,
    event_key,
    minute_bucket,
)
from vigil.config import Settings
from vigil.detect.behaviour import BehaviourEngine
from vigil.detect.engine import DetectionEngine
from vigil.detect.exclusions import ExclusionSet
from vigil.detect.result import CLEAN, Detection, decode_detections
from vigil.detect.served import ServedJudge
from vigil.enrich import Enricher
from vigil.ingest.parser import LogParser, build_parser
from vigil.pipeline.stages import ClientFacts, behaviour_from_settings
from vigil.severity import HIGH_FROM, MEDIUM_FROM, Severity, severity_of

if TYPE_CHECKING:
    from vigil.pipeline.helper_process import HelperProcess, HelperResult, Prefetched

log = logging.getLogger(__name__)

_OBSERVED_AT = attrgetter("observed_at")
_MALFORMED = attrgetter("malformed")
_STATUS = attrgetter("status")
_BYTES = attrgetter("bytes_sent")
_CLIENT = attrgetter("client_ip")
_STATUS_CLASSES = {code: f"status_{code // 100}xx" for code in range(200, 600)}

_SEVERITY_KEYS = {Severity.HIGH: "high", Severity.MEDIUM: "medium", Severity.LOW: "low"}
ONE_HOUR = timedelta(hours=1)
_SHAPES_LIMIT = 50_000
RESEARCH_TAG = "research-scanner"
RESEARCH_COUNTER = "research_scanners"
"""Hour-counter key: requests from internet-measurement scanners (LOW, counted, visible)."""


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
        self.settings = settings
        self.site = site or settings.site
        self.parser = parser or build_parser(
            settings.log_format, trusted_proxies=settings.trusted_proxies
        )
        self.detection = detection or DetectionEngine.from_settings(settings)
        self.behaviour = behaviour if behaviour is not None else behaviour_from_settings(settings)
        self.enricher = enricher or Enricher(settings.geoip_city_db, settings.geoip_asn_db)
        self.keep_results = keep_results
        # Enrichment is for stored events; a scan that stores nothing skips it.
        self.enrich = enrich
        self.models: Any = None
        self.helper: HelperProcess | None = None
        # Which probe families each site serves is learned here, in the one process that sees
        # every batch in order (the helper process may have detected the batch).
        self.served = ServedJudge(self.detection.ruleset.rules)
        self._research_rules = frozenset(
            rule.id for rule in self.detection.ruleset.rules if RESEARCH_TAG in rule.tags
        )
        self._line_numbers: dict[tuple[str, str], int] = {}
        self._shapes: dict[int, tuple[Detection, list[str], list[dict[str, Any]]]] = {}
        self.timings: Counter[str] = Counter()

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
        site = site or self.site
        if prefetched is None:
            prefetched = self.prefetch(batch, site)
        clock = time.perf_counter
        t0 = clock()
        parsed = self.parser.parse_batch(batch)
        records = parsed.records
        t1 = clock()
        helped: HelperResult | None = None
        if prefetched is not None and prefetched.detects:
            helped = self._collect(prefetched, len(records))
        if helped is not None and helped.detections is not None:
            detections = decode_detections(helped.detections)
        else:
            detections = self.detection.detect_batch(records, site=site)
        if self.served.active:
            detections = self.served.judge(records, detections, site)
        research = self._research_scanners(detections) if self._research_rules else 0
        t2 = clock()
        models = self.models  # read once: a hot swap takes effect at the next batch
        model_scores = models.score_batch(records, detections) if models is not None else None
        t3 = clock()
        if prefetched is not None and helped is None:
            helped = self._collect(prefetched, len(records))
        if not self.settings.behaviour_enabled:
            behaviour_events = []
        elif helped is not None:
            behaviour_events = helped.events
        else:
            behaviour_events = self.behaviour.process_batch(
                records, site=site, enrichment=ClientFacts(self.enricher)
            )
        t4 = clock()

        threats: list[Threat] = []
        line_scores: list[tuple[float, Severity, list[str], list[str]]] = []
        scores = (
            [fused.score for fused in model_scores]
            if model_scores is not None
            else [d.score for d in detections]
        )
        # Only MEDIUM and HIGH lines are looked at one by one; they are found without a Python
        # loop over every line.
        flagged = list(compress(range(len(scores)), map(le, repeat(MEDIUM_FROM), scores)))
        flagged_severities = [
            Severity.HIGH if scores[i] >= HIGH_FROM else Severity.MEDIUM for i in flagged
        ]
        stamps = list(map(_OBSERVED_AT, records))
        counters, visitors = self._traffic_counters(stamps, records, flagged, flagged_severities)
        malformed = sum(map(_MALFORMED, records))
        model_version = getattr(models, "version", None)
        mode = "hybrid" if models is not None else "rules"
        if self.keep_results:
            severities = [Severity.LOW] * len(scores)
            for index, severity in zip(flagged, flagged_severities, strict=True):
                severities[index] = severity
            line_scores = [
                (
                    score,
                    severity,
                    [m.rule_id for m in detection.matches],
                    list(detection.categories),
                )
                for score, severity, detection in zip(scores, severities, detections, strict=True)
            ]
        shapes = self._shapes
        if len(shapes) > _SHAPES_LIMIT:
            shapes.clear()
        for index, severity in zip(flagged, flagged_severities, strict=True):
            detection = detections[index]
            record = records[index]
            # Verdicts repeat (the engine hands out one object per distinct request): their
            # stored shape is made once and shared by the threats, which never change it.
            shape = shapes.get(id(detection))
            if shape is None or shape[0] is not detection:
                shape = shapes[id(detection)] = (
                    detection,
                    list(detection.categories),
                    [m.to_dict() for m in detection.matches],
                )
            components: dict[str, Any] = {"rules": round(detection.score, 4)}
            if model_scores is not None:
                components.update(model_scores[index].components)
            threats.append(
                Threat(
                    key=record.event_key,
                    record=record,
                    score=round(scores[index], 4),
                    severity=severity,
                    categories=shape[1],
                    matches=shape[2],
                    components=components,
                    detection_mode=mode,
                    model_version=model_version,
                )
            )
        for event in behaviour_events:
            record = records[event.record_index]
            suffix = event.detector
            if event.client_ip != record.client_ip:
                # A campaign member whose own requests came earlier: the event is about it,
                # found at this record.
                record = record._replace(client_ip=event.client_ip, user_agent="", raw="")
                suffix = f"{event.detector}:{event.client_ip}"
            threats.append(
                Threat(
                    key=event_key(record.source, f"{record.file_id}#{suffix}", record.offset),
                    record=record,
                    score=round(event.score, 4),
                    severity=event.severity,
                    categories=[event.category],
                    matches=[
                        {
                            "rule_id": f"behaviour:{event.detector}",
                            "category": event.category,
                            "target": "client",
                            "fragment": "",
                            "evidence": event.evidence,
                        }
                    ],
                    components={"behaviour": round(event.score, 4)},
                    detection_mode="behaviour",
                )
            )
            if self.keep_results and record is records[event.record_index]:
                score, severity, rules, categories = line_scores[event.record_index]
                line_scores[event.record_index] = (
                    max(score, event.score),
                    severity_of(max(score, event.score)),
                    [*rules, f"behaviour:{event.detector}"],
                    sorted({*categories, event.category}),
                )
        if parsed.dead_letters:
            dead_bucket = counters.setdefault(minute_bucket(None), Counter())
            dead_bucket["dead_letters"] += len(parsed.dead_letters)
        if research:
            counters.setdefault(minute_bucket(stamps[0] if stamps else None), Counter())[
                RESEARCH_COUNTER
            ] += research
        if self.enrich:
            self._enrich(threats)
        t5 = clock()

        results = self._line_results(batch, records, parsed.dead_letters, line_scores)
        timings = {
            "parse": t1 - t0,
            "detect": t2 - t1,
            "models": t3 - t2,
            "behaviour": t4 - t3,
            "score": t5 - t4,
        }
        if helped is not None:
            # The helper's own time on this batch, spent alongside this process's stages; the
            # stages above then include only the wait for its results.
            timings.update(helped.timings)
        self.timings.update(timings)
        return ScoredBatch(
            source=batch.source,
            file_id=batch.file_id,
            end_offset=batch.end_offset,
            site=site,
            lines=len(batch.lines),
            records=len(records),
            malformed=malformed,
            threats=threats,
            dead_letters=parsed.dead_letters,
            counters=counters,
            visitors=visitors,
            results=results,
            timings=timings,
        )

    def _traffic_counters(
        self,
        stamps: list[datetime | None],
        records: list[LogRecord],
        flagged: list[int],
        flagged_severities: list[Severity],
    ) -> tuple[dict[datetime, Counter[str]], dict[datetime, set[str]]]:
        """Requests, severities, malformed lines, status classes and bytes per minute of the
        batch, and the distinct clients per hour.

        Counting by timestamp first keeps the per-record work in C (a batch has few distinct
        timestamps, and the parser shares one object between lines of the same second); the
        flagged lines are counted apart, and the rest are LOW.
        """
        per_stamp = Counter(stamps)
        per_flag = Counter(zip([stamps[i] for i in flagged], flagged_severities, strict=True))
        malformed_stamps = Counter(compress(stamps, map(_MALFORMED, records)))
        classes = map(_STATUS_CLASSES.get, map(_STATUS, records), repeat("status_other"))
        per_class = Counter(zip(stamps, classes, strict=True))
        minute_of: dict[datetime | None, datetime] = {}
        counters: dict[datetime, Counter[str]] = {}

        def bucket_of(stamp: datetime | None) -> Counter[str]:
            minute = minute_of.get(stamp)
            if minute is None:
                minute = minute_of[stamp] = minute_bucket(stamp)
            bucket = counters.get(minute)
            if bucket is None:
                bucket = counters[minute] = Counter()
            return bucket

        for stamp, count in per_stamp.items():
            bucket = bucket_of(stamp)
            bucket["requests"] += count
            bucket["low"] += count
        for (stamp, severity), count in per_flag.items():
            bucket = bucket_of(stamp)
            bucket[_SEVERITY_KEYS[severity]] += count
            bucket["low"] -= count
        for stamp, count in malformed_stamps.items():
            bucket_of(stamp)["malformed"] += count
        for (stamp, status_class), count in per_class.items():
            bucket_of(stamp)[status_class] += count
        sizes: dict[datetime | None, int] = {}
        for stamp, size in zip(stamps, map(_BYTES, records), strict=True):
            if size:
                sizes[stamp] = sizes.get(stamp, 0) + size
        for stamp, size in sizes.items():
            bucket_of(stamp)["bytes_sent"] += size
        for bucket in counters.values():
            if not bucket["low"]:
                del bucket["low"]
        hours = {minute.replace(minute=0) for minute in minute_of.values()}
        visitors: dict[datetime, set[str]] = {}
        if len(hours) == 1:
            visitors[hours.pop()] = set(map(_CLIENT, records))
        else:
            for stamp, ip in set(zip(stamps, map(_CLIENT, records), strict=True)):
                visitors.setdefault(minute_of[stamp].replace(minute=0), set()).add(ip)
        return counters, visitors

    def _research_scanners(self, detections: list[Detection]) -> int:
        """How many requests of the batch came from research scanners (counted, never alerts)."""
        rules = self._research_rules
        return sum(
            1
            for detection in detections
            if detection is not CLEAN and any(m.rule_id in rules for m in detection.matches)
        )

    def _collect(self, prefetched: Prefetched, records: int) -> HelperResult | None:
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
        analysed from now on (here); the pipeline calls it in queue order."""
        if exclusions is not self.detection.exclusions:
            self.detection.set_exclusions(exclusions)

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

    def _enrich(self, threats: list[Threat]) -> None:
        # One description per (client, agent) of the batch, shared by its threats.
        described: dict[tuple[str, str], dict[str, Any]] = {}
        for threat in threats:
            record = threat.record
            pair = (record.client_ip, record.user_agent)
            facts = described.get(pair)
            if facts is None:
                client = self.enricher.client(record.client_ip)
                agent = self.enricher.agent(record.user_agent)
                facts = described[pair] = {
                    "country": client.country,
                    "city": client.city,
                    "asn": client.asn,
                    "as_org": client.as_org,
                    "ua_family": agent.family,
                    "client_class": agent.client_class,
                }
            threat.components["client"] = facts

    def _line_results(
        self,
        batch: LineBatch,
        records: list[LogRecord],
        dead_letters: list[DeadLetter],
        line_scores: list[tuple[float, Severity, list[str], list[str]]],
    ) -> list[LineResult] | None:
        if not self.keep_results:
            return None
        key = (batch.source, batch.file_id)
        first_line = self._line_numbers.get(key, 0) + 1
        self._line_numbers[key] = first_line - 1 + len(batch.lines)
        index_of = {offset: i for i, offset in enumerate(batch.offsets)}
        results: list[LineResult | None] = [None] * len(batch.lines)
        for record, (score, severity, rules, categories) in zip(records, line_scores, strict=True):
            i = index_of[record.offset]
            results[i] = LineResult(
                line=first_line + i,
                score=round(score, 4),
                severity=severity,
                rules=rules,
                categories=categories,
                client_ip=record.client_ip,
            )
        for dead in dead_letters:
            i = index_of[dead.offset]
            results[i] = LineResult(
                line=first_line + i,
                score=0.0,
                severity=Severity.LOW,
                rules=[],
                categories=[],
                dead_letter=dead.reason,
            )
        return [r for r in results if r is not None]
