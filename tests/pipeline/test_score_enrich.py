"""The score stage's enrichment: every threat carries the facts of its own client and agent,
in the batch and in the batches after it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from vigil.batch import LogRecord, Threat
from vigil.enrich import Enricher
from vigil.enrich.enricher import AgentInfo, ClientInfo
from vigil.pipeline.score import ScoreStage

COUNTRIES = {"198.51.100.1": "NL", "198.51.100.2": "NL", "203.0.113.9": "US"}


class _Enricher:
    def __init__(self) -> None:
        self.lookups = 0

    def client(self, ip: str) -> ClientInfo:
        self.lookups += 1
        return ClientInfo(country=COUNTRIES.get(ip), asn=64500 if ip.startswith("198") else None)

    def agent(self, user_agent: str) -> AgentInfo:
        self.lookups += 1
        scanner = "sqlmap" in user_agent
        return AgentInfo(
            family="sqlmap" if scanner else "curl", client_class="scanner" if scanner else "script"
        )


def _threat(offset: int, ip: str, agent: str) -> Threat:
    record = LogRecord(
        source="s",
        file_id="f",
        offset=offset,
        client_ip=ip,
        observed_at=datetime(2026, 3, 1, tzinfo=UTC),
        method="GET",
        target="/",
        path="/",
        query="",
        protocol="HTTP/1.1",
        status=200,
        bytes_sent=1,
        referer="",
        user_agent=agent,
    )
    return Threat(
        key=str(offset),
        record=record,
        score=0.9,
        severity="HIGH",
        categories=[],
        matches=[],
        components={"rules": 0.9},
        detection_mode="rules",
    )


def test_each_threat_carries_its_own_client_and_agent_facts() -> None:
    enricher = _Enricher()
    stage = ScoreStage(cast(Enricher, enricher), keep_results=False, enrich=True)
    clients = ["198.51.100.1", "198.51.100.2", "203.0.113.9", "198.51.100.1"]
    agents = ["sqlmap/1.7", "curl/8", "sqlmap/1.8", "curl/8"]
    for _ in range(2):  # a second batch meets the facts of the first
        threats = [
            _threat(i, ip, ua) for i, (ip, ua) in enumerate(zip(clients, agents, strict=True))
        ]
        stage._enrich(threats)
        got: list[dict[str, Any]] = [t.components["client"] for t in threats]
        assert [(f["country"], f["asn"], f["ua_family"], f["client_class"]) for f in got] == [
            ("NL", 64500, "sqlmap", "scanner"),
            ("NL", 64500, "curl", "script"),
            ("US", None, "sqlmap", "scanner"),
            ("NL", 64500, "curl", "script"),
        ]
        assert all(t.components["rules"] == 0.9 for t in threats)
    # One lookup per client and per agent of a batch, not one per threat.
    assert enricher.lookups == 2 * (3 + 3)
