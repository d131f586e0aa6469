"""Country (offline, iptocc), city and ASN (operator's MaxMind database), user-agent family and
client class (ua-parser), each looked up once per distinct value and kept in a bounded cache."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil.config import EnrichSection

log = logging.getLogger(__name__)

# Agents that identify as tools rather than browsers; matched on the lowercased string.
_SCRIPT_MARKERS = (
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww-perl",
    "httpclient",
    "node-fetch",
    "axios/",
    "powershell",
    "ruby",
    "php/",
)
_SCANNER_MARKERS = (
    "sqlmap",
    "nikto",
    "nmap",
    "masscan",
    "zgrab",
    "nuclei",
    "dirbuster",
    "gobuster",
    "wpscan",
    "acunetix",
    "nessus",
    "openvas",
    "feroxbuster",
    "ffuf",
    "wfuzz",
    "whatweb",
)
_CRAWLER_MARKERS = ("bot", "crawler", "spider", "slurp", "crawl")


@dataclass(frozen=True, slots=True)
class ClientInfo:
    country: str | None = None
    city: str | None = None
    asn: int | None = None
    as_org: str | None = None


@dataclass(frozen=True, slots=True)
class AgentInfo:
    family: str
    client_class: str  # browser, crawler, script, scanner, empty


class _Lru:
    def __init__(self, capacity: int) -> None:
        self._data: OrderedDict[str, Any] = OrderedDict()
        self._capacity = capacity

    def get(self, key: str) -> Any:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: str, value: Any) -> None:
        self._data[key] = value
        if len(self._data) > self._capacity:
            self._data.popitem(last=False)


def classify_agent(user_agent: str, family: str | None) -> str:
    """A coarse client class from the user-agent string."""
    if not user_agent or user_agent == "-":
        return "empty"
    lowered = user_agent.lower()
    if any(marker in lowered for marker in _SCANNER_MARKERS):
        return "scanner"
    if any(marker in lowered for marker in _SCRIPT_MARKERS):
        return "script"
    if any(marker in lowered for marker in _CRAWLER_MARKERS) or family in ("Googlebot", "bingbot"):
        return "crawler"
    if lowered.startswith("mozilla/") or (family and family != "Other"):
        return "browser"
    return "script"


class Enricher:
    """Looks up client and agent facts; every lookup is cached per distinct string."""

    @classmethod
    def from_section(cls, section: EnrichSection) -> Enricher:
        """The enricher of the settings' enrich section (its GeoIP databases)."""
        return cls(section.geoip_city_db, section.geoip_asn_db)

    def __init__(
        self,
        city_db: Path | None = None,
        asn_db: Path | None = None,
        cache_size: int = 65_536,
    ) -> None:
        self._clients = _Lru(cache_size)
        self._agents = _Lru(cache_size)
        self._city = self._open(city_db)
        self._asn = self._open(asn_db)
        self._country: Callable[[str], str | None] | None = None
        self._ua: Callable[[str], Any] | None = None
        try:
            import iptocc

            self._country = iptocc.country_code
        except ImportError:  # pragma: no cover - dependency is declared
            log.warning("event=enrich_no_country reason=iptocc-not-installed")
            self._country = None
        try:
            import ua_parser

            self._ua = ua_parser.parse_user_agent
        except ImportError:  # pragma: no cover - dependency is declared
            self._ua = None

    @staticmethod
    def _open(path: Path | None) -> Any:
        if path is None:
            return None
        import maxminddb

        return maxminddb.open_database(str(path))

    def client(self, ip: str) -> ClientInfo:
        cached = self._clients.get(ip)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        info = self._lookup_client(ip)
        self._clients.put(ip, info)
        return info

    def _lookup_client(self, ip: str) -> ClientInfo:
        country = city = as_org = None
        asn = None
        try:
            if self._country is not None:
                country = self._country(ip)
            if self._city is not None:
                found = self._city.get(ip) or {}
                city = (found.get("city") or {}).get("names", {}).get("en")
                country = (found.get("country") or {}).get("iso_code") or country
            if self._asn is not None:
                found = self._asn.get(ip) or {}
                asn = found.get("autonomous_system_number")
                as_org = found.get("autonomous_system_organization")
        except (ValueError, TypeError):
            pass  # not an IP address (a malformed log field): no geo facts
        return ClientInfo(country=country, city=city, asn=asn, as_org=as_org)

    def agent(self, user_agent: str) -> AgentInfo:
        cached = self._agents.get(user_agent)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        family = None
        if self._ua is not None and user_agent and user_agent != "-":
            parsed = self._ua(user_agent[:2048])
            family = parsed.family if parsed is not None else None
        info = AgentInfo(family=family or "Other", client_class=classify_agent(user_agent, family))
        self._agents.put(user_agent, info)
        return info
