"""The score stage: the last step of a batch's analysis, which turns the verdicts, model scores
and behaviour events gathered by the stages before it into the `ScoredBatch` the sinks consume
(threats, traffic counters per minute, distinct clients per hour, per-line results)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from itertools import compress, groupby, repeat
from operator import attrgetter, le
from typing import Any

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
from vigil.detect.behaviour import BehaviourEvent
from vigil.detect.profile.stage import PROFILE_CATEGORY, PROFILE_RULE, profile_match
from vigil.detect.result import Detection
from vigil.enrich import Enricher
from vigil.enrich.enricher import AgentInfo, ClientInfo
from vigil.pipeline.work import Work
from vigil.severity import HIGH_FROM, MEDIUM_FROM, Severity, severity_of

__all__ = ["RESEARCH_COUNTER", "ScoreStage"]

_OBSERVED_AT = attrgetter("observed_at")
_MALFORMED = attrgetter("malformed")
_STATUS = attrgetter("status")
_BYTES = attrgetter("bytes_sent")
_CLIENT = attrgetter("client_ip")
_STATUS_CLASSES = {code: f"status_{code // 100}xx" for code in range(200, 600)}
_SEVERITY_KEYS = {Severity.HIGH: "high", Severity.MEDIUM: "medium", Severity.LOW: "low"}
_SHAPES_LIMIT = 50_000
_FACTS_LIMIT = 50_000
RESEARCH_COUNTER = "research_scanners"
"""Hour-counter key: requests from internet-measurement scanners (LOW, counted, visible)."""

LineScore = tuple[float, Severity, list[str], list[str]]


class ScoreStage:
    """Threats, counters and (when kept) per-line results of a batch."""

    name = "score"

    def __init__(self, enricher: Enricher, *, keep_results: bool, enrich: bool) -> None:
        self.enricher = enricher
        self.keep_results = keep_results
        # Enrichment is for stored events; a scan that stores nothing skips it.
        self.enrich = enrich
        self._line_numbers: dict[tuple[str, str], int] = {}
        self._shapes: dict[int, tuple[Detection, list[str], list[dict[str, Any]]]] = {}
        self._facts: dict[tuple[ClientInfo, AgentInfo], dict[str, Any]] = {}

    def __call__(self, work: Work) -> Work:
        records, detections, model_scores = work.records, work.detections, work.model_scores
        models = work.models
        threats: list[Threat] = []
        line_scores: list[LineScore] = []
        scores, verdicts = work.scores, work.profile
        # Only MEDIUM and HIGH lines are looked at one by one; they are found without a Python
        # loop over every line.
        flagged = list(compress(range(len(scores)), map(le, repeat(MEDIUM_FROM), scores)))
        flagged_severities = [
            Severity.HIGH if scores[i] >= HIGH_FROM else Severity.MEDIUM for i in flagged
        ]
        stamps = list(map(_OBSERVED_AT, records))
        counters, visitors = traffic_counters(stamps, records, flagged, flagged_severities)
        malformed = sum(bucket["malformed"] for bucket in counters.values())
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
            if verdicts is not None:
                for index in flagged:
                    if verdicts[index].score >= MEDIUM_FROM:
                        score, severity, rules, categories = line_scores[index]
                        line_scores[index] = (
                            score,
                            severity,
                            [*rules, PROFILE_RULE],
                            sorted({*categories, PROFILE_CATEGORY}),
                        )
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
            categories, matches = shape[1], shape[2]
            if verdicts is not None and verdicts[index].score > 0:
                verdict = verdicts[index]
                components["profile"] = verdict.score
                components["profile_reasons"] = list(verdict.reasons)
                if verdict.score >= MEDIUM_FROM:
                    categories = sorted({*categories, PROFILE_CATEGORY})
                    matches = [*matches, profile_match(verdict)]
            threats.append(
                Threat(
                    key=record.event_key,
                    record=record,
                    score=round(scores[index], 4),
                    severity=severity,
                    categories=categories,
                    matches=matches,
                    components=components,
                    detection_mode=mode,
                    model_version=model_version,
                )
            )
        for event in work.events:
            record = records[event.record_index]
            finding = finding_id(event, record.client_ip)
            if event.client_ip != record.client_ip:
                # A campaign member whose own requests came earlier: the event is about it,
                # found at this record.
                record = record._replace(client_ip=event.client_ip, user_agent="", raw="")
            threats.append(
                Threat(
                    key=event_key(record.source, f"{record.file_id}#{finding}", record.offset),
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
        if work.dead_letters:
            dead_bucket = counters.setdefault(minute_bucket(None), Counter())
            dead_bucket["dead_letters"] += len(work.dead_letters)
        if work.research:
            counters.setdefault(minute_bucket(stamps[0] if stamps else None), Counter())[
                RESEARCH_COUNTER
            ] += work.research
        if self.enrich:
            self._enrich(threats)
        batch = work.batch
        work.scored = ScoredBatch(
            source=batch.source,
            file_id=batch.file_id,
            end_offset=batch.end_offset,
            site=work.site,
            lines=len(batch.lines),
            records=len(records),
            malformed=malformed,
            threats=threats,
            dead_letters=work.dead_letters,
            counters=counters,
            visitors=visitors,
            results=self._line_results(batch, records, work.dead_letters, line_scores),
        )
        return work

    def _enrich(self, threats: list[Threat]) -> None:
        # Each client and agent is looked up once per batch. Their stored facts are shared by
        # every threat with the same facts, across batches: a flood's (client, agent) pairs
        # are nearly all distinct, but what is stored of them takes few values (a dict per
        # pair was most of this stage's time).
        clients: dict[str, ClientInfo] = {}
        agents: dict[str, AgentInfo] = {}
        shared = self._facts
        if len(shared) > _FACTS_LIMIT:
            shared.clear()
        enricher = self.enricher
        for threat in threats:
            record = threat.record
            ip = record.client_ip
            client = clients.get(ip)
            if client is None:
                client = clients[ip] = enricher.client(ip)
            user_agent = record.user_agent
            agent = agents.get(user_agent)
            if agent is None:
                agent = agents[user_agent] = enricher.agent(user_agent)
            pair = (client, agent)
            facts = shared.get(pair)
            if facts is None:
                facts = shared[pair] = {
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
        line_scores: list[LineScore],
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


def finding_id(event: BehaviourEvent, record_client: str) -> str:
    """What tells a behaviour finding apart from the others found at the same record, for its
    event key: the detector; the client it is about when that is not the record's (a campaign
    member); and the subject when a detector follows several at once (credential stuffing per
    endpoint and also per group of clients, campaigns per target), since one request can take
    two of them over their threshold. The store keeps one event per key: findings sharing one
    would be counted by the scan and then dropped."""
    finding = event.detector
    if event.client_ip != record_client:
        finding = f"{finding}:{event.client_ip}"
    evidence = event.evidence
    subject = evidence.get("group") or evidence.get("campaign")
    if subject:
        finding = f"{finding}@{subject}"
    return finding


def traffic_counters(
    stamps: list[datetime | None],
    records: list[LogRecord],
    flagged: list[int],
    flagged_severities: list[Severity],
) -> tuple[dict[datetime, Counter[str]], dict[datetime, set[str]]]:
    """Requests, severities, malformed lines, status classes and bytes per minute of the
    batch, and the distinct clients per hour.

    A log is written in time order, so a batch is a few runs of lines of the same minute:
    each run is counted with whole-list operations over its slice of the columns (work done
    in C), and only the runs and the flagged lines are looked at one by one in Python (the
    rest are LOW). Lines out of order only make more runs; every run adds to its minute.
    """
    counters: dict[datetime, Counter[str]] = {}
    visitors: dict[datetime, set[str]] = {}
    if not records:
        return counters, visitors
    # A batch has few distinct timestamps (the parser shares one object between lines of the
    # same second): the minute is worked out once for each.
    minute_of = {stamp: minute_bucket(stamp) for stamp in dict.fromkeys(stamps)}
    runs: list[tuple[datetime, int, int]] = []
    start = 0
    for minute, lines in groupby(map(minute_of.__getitem__, stamps)):
        end = start + len(list(lines))
        runs.append((minute, start, end))
        start = end
    buckets: list[Counter[str]] = []
    for minute, start, end in runs:
        bucket = counters.get(minute)
        if bucket is None:
            bucket = counters[minute] = Counter()
        bucket["requests"] += end - start
        bucket["low"] += end - start
        buckets.append(bucket)
    for index, severity in zip(flagged, flagged_severities, strict=True):
        bucket = counters[minute_of[stamps[index]]]
        bucket[_SEVERITY_KEYS[severity]] += 1
        bucket["low"] -= 1
    malformed = list(map(_MALFORMED, records))
    if any(malformed):
        for bucket, (_, start, end) in zip(buckets, runs, strict=True):
            count = sum(malformed[start:end])
            if count:
                bucket["malformed"] += count
    classes = list(map(_STATUS_CLASSES.get, map(_STATUS, records), repeat("status_other")))
    for bucket, (_, start, end) in zip(buckets, runs, strict=True):
        bucket.update(Counter(classes[start:end]))
    sizes = list(map(_BYTES, records))
    for bucket, (_, start, end) in zip(buckets, runs, strict=True):
        sent = list(filter(None, sizes[start:end]))
        if sent:
            bucket["bytes_sent"] += sum(sent)
    for bucket in counters.values():
        if not bucket["low"]:
            del bucket["low"]
    clients = list(map(_CLIENT, records))
    hours = {minute.replace(minute=0) for minute in counters}
    if len(hours) == 1:
        visitors[hours.pop()] = set(clients)
    else:
        for minute, start, end in runs:
            visitors.setdefault(minute.replace(minute=0), set()).update(clients[start:end])
    return counters, visitors
