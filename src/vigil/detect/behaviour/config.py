"""Thresholds and exclusions of the behaviour detectors, with defaults sized for a small site.

Every number here is a default an operator can override (YAML or keyword arguments); the
field descriptions say what each one means. Windows are in event-time seconds: the short window
(60 s) serves rates, the long window (600 s) serves everything that needs a wider view (scans,
brute force, rotation, error spikes).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

log = logging.getLogger(__name__)

CLIENT_CLASSES: tuple[str, ...] = ("browser", "bot", "api")

_RETIRED_SLOW = frozenset({"member_min_family_paths"})
"""Long-window settings of earlier versions (the missing-paths family they tuned is gone)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WindowConfig(_Frozen):
    """Lengths of the two sliding windows kept per client."""

    short_seconds: int = Field(60, ge=2, le=3600, description="rate window (flood)")
    long_seconds: int = Field(600, ge=2, le=86_400, description="wide window (other detectors)")

    @model_validator(mode="after")
    def _ordered(self) -> WindowConfig:
        if self.short_seconds > self.long_seconds:
            raise ValueError("short_seconds must not exceed long_seconds")
        return self


class LoginEndpoint(_Frozen):
    """A login form or API; a request to it with one of `methods` is one authentication attempt.

    An attempt fails when its status is in `failure_statuses`. Access logs carry no response
    bodies or usernames, so failure is read from the status alone: forms that re-render on a
    bad password answer 200 (and 302/303 on success); JSON APIs answer 401/403/422.
    """

    path: str = Field(description="exact path, compared case-insensitively without trailing /")
    methods: tuple[str, ...] = ("POST",)
    failure_statuses: tuple[int, ...] = (401, 403, 429)


def _form(path: str) -> LoginEndpoint:
    # A form answered 200 was re-shown with an error; success redirects (302/303).
    return LoginEndpoint(path=path, failure_statuses=(200, 401, 403, 422, 429))


def _api(path: str) -> LoginEndpoint:
    return LoginEndpoint(path=path, failure_statuses=(400, 401, 403, 422, 429))


DEFAULT_LOGIN_ENDPOINTS: tuple[LoginEndpoint, ...] = (
    # WordPress re-renders wp-login.php with 200 on a wrong password and redirects (302) on
    # success. xmlrpc.php answers 200 whether or not the credentials were right (the fault is
    # in the body), so every POST to it counts as a failed attempt; legitimate XML-RPC use is
    # rare enough on a small site that the failure-count threshold absorbs it.
    _form("/wp-login.php"),
    _form("/xmlrpc.php"),
    _form("/login"),
    _form("/signin"),
    _form("/user/login"),
    _form("/users/sign_in"),
    _form("/account/login"),
    _api("/api/auth"),
    _api("/api/login"),
    _api("/api/auth/login"),
    _api("/api/v1/auth/login"),
)

DEFAULT_SENSITIVE_PATTERNS: tuple[str, ...] = (
    r"/\.env(?:\.[\w.-]+)?$",
    r"/\.git(?:/|$)",
    r"/\.svn(?:/|$)",
    r"/\.hg(?:/|$)",
    r"/\.ds_store$",
    r"/\.ht(?:access|passwd)$",
    r"/\.(?:aws|ssh|docker|kube)(?:/|$)",
    r"/id_(?:rsa|dsa|ecdsa|ed25519)(?:\.pub)?$",
    r"/wp-config\.php",
    r"/(?:config|configuration|settings|database|db)\.(?:php|inc|ya?ml|json|ini)\.(?:bak|old|orig|save|swp)$",
    r"\.(?:sql|bak|old|orig|save|swp|backup|dump)$",
    r"~$",
    r"/(?:backup|backups|db|database|dump|site|www|wwwroot|htdocs|public_html)"
    r"\.(?:zip|tar|tar\.gz|tgz|gz|bz2|rar|7z|sql)$",
    r"/(?:phpmyadmin|pma|myadmin|mysqladmin|dbadmin)(?:/|$)",
    r"/adminer(?:[\w.-]*)\.php$",
    r"/manager/html",
    r"/(?:jmx|web)-console",
    r"/server-(?:status|info)$",
    r"/actuator/(?:env|heapdump|configprops|mappings|beans|jolokia|threaddump)",
    r"/(?:phpinfo|info|test|i)\.php$",
    r"/vendor/phpunit/",
    r"/_profiler(?:/|$)",
    r"/debug/pprof",
    r"/\.(?:vscode|idea)/",
    r"/(?:web|app)\.config$",
)

DEFAULT_HEALTH_PATHS: tuple[str, ...] = (
    "/health",
    "/healthz",
    "/health/live",
    "/health/ready",
    "/livez",
    "/readyz",
    "/ping",
    "/status",
)

DEFAULT_GOOD_BOT_AGENTS: tuple[str, ...] = (
    "Googlebot",
    "AdsBot-Google",
    "Google-InspectionTool",
    "bingbot",
    "BingPreview",
    "DuckDuckBot",
    "Applebot",
    "YandexBot",
    "Baiduspider",
    "Slurp",
    "facebookexternalhit",
    "LinkedInBot",
    "Twitterbot",
)

DEFAULT_API_AGENTS: tuple[str, ...] = (
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "go-http-client",
    "okhttp",
    "java/",
    "apache-httpclient",
    "libwww-perl",
    "node-fetch",
    "axios/",
    "postmanruntime",
    "insomnia",
    "guzzlehttp",
    "ruby",
    "dart:io",
)

DEFAULT_BOT_AGENTS: tuple[str, ...] = ("bot", "crawler", "spider", "scan", "slurp", "fetch")

DEFAULT_ASSET_SUFFIXES: tuple[str, ...] = (
    ".css",
    ".js",
    ".mjs",
    ".map",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".svg",
    ".ico",
    ".webp",
    ".avif",
    ".woff",
    ".woff2",
    ".ttf",
    ".eot",
)


class ExclusionConfig(_Frozen):
    """Who and what the detectors leave alone, as a rule exclusion would.

    Good bots are recognised by user agent only: reverse-DNS verification needs the network and
    is out of scope offline, so a spoofed crawler UA buys higher thresholds, never immunity.
    """

    allow_clients: tuple[str, ...] = Field((), description="IPs or CIDRs never flagged")
    health_paths: tuple[str, ...] = Field(
        DEFAULT_HEALTH_PATHS, description="paths no detector counts (monitors, probes)"
    )
    good_bot_agents: tuple[str, ...] = Field(
        DEFAULT_GOOD_BOT_AGENTS, description="UA substrings of search-engine crawlers"
    )
    good_bot_factor: float = Field(
        5.0, ge=1.0, description="scan and flood thresholds are multiplied by this for good bots"
    )


class ScanConfig(_Frozen):
    """Directory brute force and vulnerability scanners: many distinct paths, mostly missing."""

    enabled: bool = True
    min_distinct_paths: int = Field(30, ge=1, description="distinct paths in the long window")
    min_not_found: int = Field(20, ge=1, description="404/410 answers in the long window")
    min_not_found_ratio: float = Field(0.5, ge=0, le=1, description="404/410 share of requests")
    not_found_statuses: tuple[int, ...] = (404, 410)


class ProbeConfig(_Frozen):
    """Several distinct sensitive-file probes (/.env, /.git/, backups, admin consoles)."""

    enabled: bool = True
    min_distinct_probes: int = Field(3, ge=1, description="distinct sensitive paths, long window")
    patterns: tuple[str, ...] = Field(
        DEFAULT_SENSITIVE_PATTERNS, description="regular expressions searched in the path"
    )


class BruteforceConfig(_Frozen):
    """Many failed logins by one client against one endpoint."""

    enabled: bool = True
    min_failures: int = Field(10, ge=1, description="failed attempts at one endpoint, long window")
    min_failure_ratio: float = Field(
        0.8, ge=0, le=1, description="failures / attempts at that endpoint (a NAT mixes successes)"
    )
    endpoints: tuple[LoginEndpoint, ...] = DEFAULT_LOGIN_ENDPOINTS


class StuffingConfig(_Frozen):
    """Many clients, one login endpoint, mostly failures, few attempts each."""

    enabled: bool = True
    min_clients: int = Field(20, ge=2, description="distinct clients at one endpoint, long window")
    min_failure_ratio: float = Field(0.8, ge=0, le=1, description="failures / attempts")
    max_attempts_per_client: float = Field(
        5.0, gt=0, description="mean attempts per client; more is brute force, not stuffing"
    )
    group_by: Literal["asn", "country"] | None = Field(
        "asn", description="enrichment key that groups clients when enrichment is given"
    )
    max_groups: int = Field(10_000, ge=1, description="group windows kept per site")
    max_clients_tracked: int = Field(
        5_000, ge=10, description="client entries kept per endpoint window generation"
    )


class FloodConfig(_Frozen):
    """A client's request rate far above the learned rate of its class of clients.

    The baseline is an EWMA of per-client requests per short window, learned per class of
    client (browser, bot, api by user agent); the threshold is `baseline_factor` times it, never
    below the class floor. An address that loads page assets under many browser UAs is a crowd
    (a corporate NAT, a school): its threshold is multiplied by its distinct UAs, up to
    `crowd_max_factor`, so it is judged per person. A flood from rotating UAs without assets
    gets no such allowance.
    """

    enabled: bool = True
    floor_per_minute: dict[str, int] = Field(
        default_factory=lambda: {"browser": 300, "bot": 300, "api": 600},
        description="never flag below this many requests per short window",
    )
    baseline_factor: float = Field(
        20.0, gt=1, description="flag above this many times the class baseline"
    )
    ewma_alpha: float = Field(
        0.02, gt=0, le=1, description="weight of one client-window sample in the baseline"
    )
    crowd_min_asset_ratio: float = Field(
        0.25, ge=0, le=1, description="asset share above which many UAs mean many browsers"
    )
    crowd_max_factor: float = Field(
        50.0, ge=1, description="most a crowd's distinct UAs may multiply the threshold"
    )

    @model_validator(mode="after")
    def _known_classes(self) -> FloodConfig:
        unknown = set(self.floor_per_minute) - set(CLIENT_CLASSES)
        if unknown:
            raise ValueError(f"unknown client classes {sorted(unknown)}; use {CLIENT_CLASSES}")
        return self


class UaRotationConfig(_Frozen):
    """One client cycling through many user agents.

    Spraying: many distinct UAs, each used for only a few requests. Cycling: a smaller set of
    UAs switched on nearly every request with machine-regular timing. Clients whose requests
    are largely page assets (css, js, images) behave like browsers behind a NAT and are left
    alone: a corporate NAT shows many UAs, but each one loads pages with their assets and makes
    many requests, at irregular human intervals.
    """

    enabled: bool = True
    min_distinct_uas: int = Field(10, ge=2, description="spraying: distinct UAs, long window")
    max_requests_per_ua: float = Field(3.0, gt=0, description="spraying: requests per UA")
    cycling_min_uas: int = Field(3, ge=2, description="cycling: distinct UAs")
    cycling_min_requests: int = Field(30, ge=2, description="cycling: requests, long window")
    cycling_min_switch_ratio: float = Field(
        0.8, ge=0, le=1, description="cycling: share of requests with a UA unlike the previous"
    )
    cycling_max_cv: float = Field(
        0.5, ge=0, description="cycling: coefficient of variation of inter-arrival times"
    )
    max_asset_ratio: float = Field(
        0.25, ge=0, le=1, description="clients loading more assets than this look like browsers"
    )


class ErrorSpikeConfig(_Frozen):
    """A client whose requests keep producing 5xx answers while the rest of the site does not."""

    enabled: bool = True
    min_errors: int = Field(20, ge=1, description="5xx answers to the client, long window")
    min_error_ratio: float = Field(0.5, ge=0, le=1, description="5xx share of its requests")
    site_ratio_factor: float = Field(
        3.0, ge=1, description="its 5xx share must exceed the rest of the site's by this factor"
    )


class SlowConfig(_Frozen):
    """Long windows per client (hourly and daily buckets) and campaigns across clients.

    Only failing requests are counted (4xx/5xx answers, failed logins, sensitive-path probes).
    A client is a campaign member of a target (endpoint template × method × outcome, or a
    probe family) once it repeated the failing request `member_min_hits` times with no page
    assets around it; a target with `min_clients` members within the horizon (or
    `baseline_factor` times its usual members per day, once learned) is a campaign.
    """

    enabled: bool = True
    hours: int = Field(3, ge=1, le=48, description="hourly buckets kept per client")
    days: int = Field(3, ge=1, le=14, description="daily buckets kept per client (the horizon)")
    max_clients: int = Field(50_000, ge=1, description="clients with long windows per site")
    not_found_statuses: tuple[int, ...] = (404, 410)
    bruteforce_min_failures: int = Field(
        20, ge=1, description="failed logins by one client over the horizon"
    )
    bruteforce_min_failure_ratio: float = Field(0.8, ge=0, le=1)
    scan_min_not_found: int = Field(40, ge=1, description="not-found answers over the horizon")
    scan_min_distinct_paths: int = Field(
        25, ge=1, le=64, description="distinct failing paths over the horizon (with the above)"
    )
    scan_min_distinct_probes: int = Field(
        5, ge=1, le=64, description="distinct sensitive paths over the horizon"
    )
    member_min_hits: int = Field(3, ge=1, description="focused failing hits to be a member")
    min_clients: int = Field(10, ge=2, description="members that make a campaign")
    min_member_prefixes: int = Field(
        3, ge=1, le=64, description="distinct networks (/24, /48) the members must come from"
    )
    baseline_factor: float = Field(5.0, ge=1, description="members above the daily baseline")
    baseline_alpha: float = Field(0.3, gt=0, le=1, description="weight of a day in the baseline")
    baseline_min_days: int = Field(2, ge=1, description="days before the baseline is used")
    max_targets: int = Field(2_048, ge=1, description="targets tracked per site")
    max_clients_per_target: int = Field(5_000, ge=10)
    reannounce_seconds: int = Field(
        14_400, ge=60, description="a member still active this long after its event gets another"
    )

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        """Settings that no longer mean anything are accepted, logged and ignored."""
        if isinstance(data, dict):
            for name in _RETIRED_SLOW & data.keys():
                log.warning("event=setting_ignored setting=behaviour.slow.%s reason=retired", name)
                data = {k: v for k, v in data.items() if k != name}
        return data


class BehaviourConfig(_Frozen):
    """All behaviour-detection settings."""

    windows: WindowConfig = WindowConfig()
    exclusions: ExclusionConfig = ExclusionConfig()
    scan: ScanConfig = ScanConfig()
    probe: ProbeConfig = ProbeConfig()
    bruteforce: BruteforceConfig = BruteforceConfig()
    stuffing: StuffingConfig = StuffingConfig()
    flood: FloodConfig = FloodConfig()
    ua_rotation: UaRotationConfig = UaRotationConfig()
    error_spike: ErrorSpikeConfig = ErrorSpikeConfig()
    slow: SlowConfig = SlowConfig()
    cooldown_seconds: int = Field(
        600, ge=1, description="quiet time after which a detector may fire again for a client"
    )
    escalation_factor: float = Field(
        4.0, gt=1, description="within an episode, re-fire when the count grew by this factor"
    )
    api_agents: tuple[str, ...] = DEFAULT_API_AGENTS
    bot_agents: tuple[str, ...] = DEFAULT_BOT_AGENTS
    asset_suffixes: tuple[str, ...] = DEFAULT_ASSET_SUFFIXES
