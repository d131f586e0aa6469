"""The stage objects one analysing process holds, built from the settings: the parser, the rule
engine, the behaviour windows and the enricher. The main process's `Analyzer` and the helper
process each build their own."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from vigil.config import Settings
from vigil.detect.behaviour import BehaviourEngine
from vigil.detect.engine import DetectionEngine
from vigil.enrich import Enricher
from vigil.ingest.parser import LogParser, build_parser

__all__ = ["ClientFacts", "Stages", "behaviour_from_settings"]


@dataclass(slots=True)
class Stages:
    """Parser, rules, behaviour windows and enricher of one process."""

    parser: LogParser
    detection: DetectionEngine
    behaviour: BehaviourEngine
    enricher: Enricher

    @classmethod
    def from_settings(cls, settings: Settings) -> Stages:
        return cls(
            parser=build_parser(settings.log_format, trusted_proxies=settings.trusted_proxies),
            detection=DetectionEngine.from_settings(settings),
            behaviour=behaviour_from_settings(settings),
            enricher=Enricher(settings.geoip_city_db, settings.geoip_asn_db),
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


def behaviour_from_settings(settings: Settings) -> BehaviourEngine:
    """The behaviour stage with the operator's thresholds, if any."""
    if settings.behaviour_config_file is None:
        return BehaviourEngine()
    import yaml

    from vigil.detect.behaviour import BehaviourConfig
    from vigil.errors import ConfigError

    path = settings.behaviour_config_file
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return BehaviourEngine(BehaviourConfig.model_validate(raw))
    except (OSError, yaml.YAMLError, ValueError) as exc:
        reason = str(exc).splitlines()[0]
        raise ConfigError(f"cannot use VIGIL_BEHAVIOUR_CONFIG_FILE {path}: {reason}") from None
