"""Seeded behaviour scenarios: attacks each behaviour detector must catch, and near-misses it
must leave alone, as labelled combined-format log lines.

Scenarios are structured requests first (`ScenarioRequest`) and text second
(`format_combined`), so tests can build records without a parser and the benchmark can feed
the real parser the very same traffic. Every attack line is labelled with the detector that
should catch it; near-miss and background lines are labelled `benign`. Addresses come from the
documentation and benchmarking ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
198.18.0.0/15), except the crawler, which uses a real search-engine range as crawlers do.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from vigil.batch import LogRecord

BENIGN = "benign"
Kind = Literal["attack", "near-miss", "background"]


@dataclass(frozen=True, slots=True)
class ScenarioRequest:
    """One request of a scenario, before it is written as a log line."""

    at: datetime
    client_ip: str
    method: str
    path: str
    status: int
    bytes_sent: int
    user_agent: str
    referer: str = "-"
    query: str = ""
    label: str = BENIGN

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


@dataclass(frozen=True, slots=True)
class ScenarioLine:
    """A combined-format log line with its label (`benign` or the detector that should fire)."""

    text: str
    label: str
    request: ScenarioRequest


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named traffic pattern: what it is, and which detectors must (or must not) fire."""

    name: str
    kind: Kind
    expects: tuple[str, ...]
    description: str
    build: Callable[[datetime, random.Random], list[ScenarioRequest]]


def format_combined(req: ScenarioRequest) -> str:
    """The request as an nginx/Apache combined log line."""
    stamp = req.at.astimezone(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (
        f'{req.client_ip} - - [{stamp}] "{req.method} {req.target} HTTP/1.1" '
        f'{req.status} {req.bytes_sent} "{req.referer}" "{req.user_agent}"'
    )


def to_record(req: ScenarioRequest, *, source: str = "scenario", offset: int = 0) -> LogRecord:
    """The request as the `LogRecord` the parser would produce from its log line."""
    return LogRecord(
        source=source,
        file_id=source,
        offset=offset,
        client_ip=req.client_ip,
        observed_at=req.at.astimezone(UTC).replace(microsecond=0),
        method=req.method,
        target=req.target,
        path=req.path,
        query=req.query,
        protocol="HTTP/1.1",
        status=req.status,
        bytes_sent=req.bytes_sent,
        # The parser reads a lone "-" as an absent field.
        referer="" if req.referer == "-" else req.referer,
        user_agent="" if req.user_agent == "-" else req.user_agent,
        raw=format_combined(req),
    )


def to_records(requests: Iterable[ScenarioRequest], *, source: str = "scenario") -> list[LogRecord]:
    """Records of many requests, with increasing offsets so their event keys differ."""
    return [to_record(req, source=source, offset=i) for i, req in enumerate(requests)]


# -- building blocks -----------------------------------------------------------------------

_OSES = (
    "Windows NT 10.0; Win64; x64",
    "Windows NT 11.0; Win64; x64",
    "Macintosh; Intel Mac OS X 10_15_7",
    "Macintosh; Intel Mac OS X 14_4",
    "X11; Linux x86_64",
    "X11; Ubuntu; Linux x86_64",
    "iPhone; CPU iPhone OS 17_4 like Mac OS X",
    "Linux; Android 14; Pixel 8",
)


def browser_agents(count: int, rng: random.Random) -> list[str]:
    """`count` distinct, realistic browser user agents."""
    agents: list[str] = []
    seen: set[str] = set()
    while len(agents) < count:
        os_ = rng.choice(_OSES)
        family = rng.randrange(3)
        major = rng.randint(100, 128)
        minor = rng.randint(0, 6000)
        if family == 0:
            agent = (
                f"Mozilla/5.0 ({os_}) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{major}.0.{minor}.{rng.randint(0, 200)} Safari/537.36"
            )
        elif family == 1:
            agent = f"Mozilla/5.0 ({os_}; rv:{major}.0) Gecko/20100101 Firefox/{major}.{minor % 3}"
        else:
            agent = (
                f"Mozilla/5.0 ({os_}) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                f"Version/{major % 20}.{minor % 7} Safari/605.1.15"
            )
        if agent not in seen:
            seen.add(agent)
            agents.append(agent)
    return agents


_ASSETS = (
    "/static/css/site.css",
    "/static/css/print.css",
    "/static/js/app.js",
    "/static/js/vendor.js",
    "/static/img/logo.svg",
    "/static/fonts/inter.woff2",
    "/favicon.ico",
)


def _page(rng: random.Random) -> tuple[str, str]:
    roll = rng.random()
    if roll < 0.15:
        return "/", ""
    if roll < 0.45:
        return f"/blog/post-{rng.randint(1, 400)}", ""
    if roll < 0.75:
        return f"/products/{rng.randint(1, 900)}", ""
    if roll < 0.85:
        return "/search", f"q=item{rng.randint(1, 5000)}"
    return rng.choice(("/about", "/contact", "/pricing", "/docs", "/cart")), ""


def _session(
    rng: random.Random,
    ip: str,
    agent: str,
    start: datetime,
    pages: int,
    think: tuple[int, int],
    *,
    missing_ratio: float = 0.02,
) -> list[ScenarioRequest]:
    """A person browsing: pages with their assets, at irregular human pauses."""
    out: list[ScenarioRequest] = []
    t = start
    referer = "https://www.example.org/"
    for _ in range(pages):
        path, query = _page(rng)
        status = 404 if rng.random() < missing_ratio else 200
        out.append(
            ScenarioRequest(
                t, ip, "GET", path, status, rng.randint(4000, 60000), agent, referer, query
            )
        )
        page_url = f"https://www.example.org{path}"
        for asset in rng.sample(_ASSETS, rng.randint(3, len(_ASSETS))):
            at = t + timedelta(seconds=rng.choice((0, 0, 0, 1)))
            cached = rng.random() < 0.4
            out.append(
                ScenarioRequest(
                    at,
                    ip,
                    "GET",
                    asset,
                    304 if cached else 200,
                    0 if cached else rng.randint(500, 90000),
                    agent,
                    page_url,
                )
            )
        referer = page_url
        t += timedelta(seconds=rng.randint(*think))
    return out


def _label(requests: list[ScenarioRequest], label: str) -> list[ScenarioRequest]:
    return [
        ScenarioRequest(
            r.at,
            r.client_ip,
            r.method,
            r.path,
            r.status,
            r.bytes_sent,
            r.user_agent,
            r.referer,
            r.query,
            label,
        )
        for r in requests
    ]


def _at(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=int(seconds))


# -- attacks -------------------------------------------------------------------------------

_WORDS = (
    "admin",
    "administrator",
    "old",
    "new",
    "test",
    "tmp",
    "temp",
    "dev",
    "staging",
    "beta",
    "api",
    "v1",
    "v2",
    "uploads",
    "files",
    "images",
    "img",
    "assets",
    "include",
    "includes",
    "lib",
    "src",
    "cgi",
    "scripts",
    "private",
    "secret",
    "hidden",
    "portal",
    "console",
    "cms",
    "shop",
    "store",
    "forum",
    "members",
    "user",
    "users",
    "account",
    "accounts",
    "data",
    "db",
    "logs",
    "log",
    "stats",
    "reports",
    "download",
    "downloads",
    "archive",
    "archives",
    "web",
    "site",
    "home",
    "main",
    "default",
    "index",
    "install",
    "setup",
    "update",
    "upgrade",
    "core",
)


def _scan(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    ip, agent = "203.0.113.10", "gobuster/3.6"
    out = []
    words = [f"/{w}" for w in _WORDS] + [f"/{w}.php" for w in _WORDS] + [f"/{w}/" for w in _WORDS]
    rng.shuffle(words)
    for i, path in enumerate(words[:200]):
        roll = rng.random()
        status = 404 if roll < 0.92 else (403 if roll < 0.97 else 301)
        out.append(ScenarioRequest(_at(start, i * 0.5), ip, "GET", path, status, 162, agent))
    return _label(out, "scan")


def _probe_burst(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    ip, agent = "198.51.100.23", "python-requests/2.31.0"
    probes = [
        "/.env",
        "/.git/config",
        "/wp-config.php.bak",
        "/backup.zip",
        "/phpmyadmin/",
        "/.aws/credentials",
        "/server-status",
        "/config.php.bak",
    ]
    out = [ScenarioRequest(_at(start, 0), ip, "GET", "/", 200, 5120, agent)]
    for i, path in enumerate(probes):
        status = 403 if path.startswith("/.git") else 404
        out.append(
            ScenarioRequest(
                _at(start, 1 + i * 2 + rng.random()), ip, "GET", path, status, 153, agent
            )
        )
    return _label(out, "probe-burst")


def _wp_bruteforce(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    ip = "203.0.113.50"
    agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0"
    out = [ScenarioRequest(_at(start, 0), ip, "GET", "/wp-login.php", 200, 4870, agent)]
    t = 1.0
    for _ in range(60):
        out.append(
            ScenarioRequest(
                _at(start, t),
                ip,
                "POST",
                "/wp-login.php",
                200,
                5012,
                agent,
                "https://www.example.org/wp-login.php",
            )
        )
        t += rng.uniform(1.5, 2.5)
    return _label(out, "bruteforce")


def _login_bruteforce(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    ip, agent = "203.0.113.61", "python-httpx/0.27.0"
    out = []
    t = 0.0
    for _ in range(40):
        out.append(ScenarioRequest(_at(start, t), ip, "POST", "/login", 401, 64, agent))
        t += rng.uniform(0.8, 1.2)
    return _label(out, "bruteforce")


def _credential_stuffing(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    agents = browser_agents(60, rng)
    out = []
    for n in range(200):
        ip = f"198.18.{n // 250}.{n % 250 + 1}"
        agent = rng.choice(agents)
        t = rng.uniform(0, 540)
        for _ in range(rng.choice((1, 1, 2))):
            ok = rng.random() < 0.03
            out.append(
                ScenarioRequest(
                    _at(start, t),
                    ip,
                    "POST",
                    "/login",
                    302 if ok else 200,
                    480 if ok else 5230,
                    agent,
                    "https://www.example.org/login",
                )
            )
            t += rng.uniform(2, 20)
    out.sort(key=lambda r: r.at)
    return _label(out, "credential-stuffing")


def _flood(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    ip = "203.0.113.77"
    agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"
    out = []
    for second in range(90):
        for _ in range(rng.randint(18, 22)):
            out.append(
                ScenarioRequest(
                    _at(start, second),
                    ip,
                    "GET",
                    "/search",
                    200,
                    rng.randint(9000, 12000),
                    agent,
                    "-",
                    f"q={rng.randint(1, 10**6)}",
                )
            )
    return _label(out, "flood")


def _ua_rotation(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    ip = "203.0.113.99"
    agents = browser_agents(50, rng)
    out = []
    for i in range(150):
        out.append(
            ScenarioRequest(
                _at(start, i * 2),
                ip,
                "GET",
                f"/products/{rng.randint(1, 900)}",
                200,
                rng.randint(8000, 20000),
                rng.choice(agents),
            )
        )
    return _label(out, "ua-rotation")


def _error_spike(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    ip, agent = "203.0.113.120", "curl/8.5.0"
    out = []
    t = 0.0
    for _ in range(45):
        status = rng.choice((500, 500, 502, 503)) if rng.random() < 0.85 else 200
        out.append(
            ScenarioRequest(
                _at(start, t),
                ip,
                "POST",
                "/api/export",
                status,
                230,
                agent,
                "-",
                f"format=csv&rows={rng.randint(10**5, 10**7)}",
            )
        )
        t += rng.uniform(1, 4)
    return _label(out, "error-spike")


# -- near-misses and background ------------------------------------------------------------


def _busy_user(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    ip = "192.0.2.33"
    agent = browser_agents(1, rng)[0]
    out = _session(rng, ip, agent, start, 150, (4, 16))
    # One mistyped password, then a successful login (redirect).
    t = out[len(out) // 2].at
    out.append(ScenarioRequest(t, ip, "GET", "/login", 200, 3100, agent))
    out.append(ScenarioRequest(t + timedelta(seconds=9), ip, "POST", "/login", 200, 3300, agent))
    out.append(ScenarioRequest(t + timedelta(seconds=17), ip, "POST", "/login", 302, 0, agent))
    out.sort(key=lambda r: r.at)
    return out


def _corporate_nat(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    ip = "192.0.2.10"
    agents = browser_agents(300, rng)
    out: list[ScenarioRequest] = []
    for agent in agents:
        for _ in range(rng.randint(1, 3)):
            begin = _at(start, rng.uniform(0, 1700))
            out.extend(_session(rng, ip, agent, begin, rng.randint(2, 8), (5, 60)))
        if rng.random() < 0.15:
            # Morning logins: mostly right first time, sometimes one typo first.
            t = _at(start, rng.uniform(0, 1750))
            if rng.random() < 0.3:
                out.append(ScenarioRequest(t, ip, "POST", "/login", 200, 3300, agent))
                t += timedelta(seconds=rng.randint(5, 20))
            out.append(ScenarioRequest(t, ip, "POST", "/login", 302, 0, agent))
    out.sort(key=lambda r: r.at)
    return out


def _uptime_monitor(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    ip, agent = "192.0.2.50", "UptimeRobot/2.0 (+http://www.uptimerobot.com/)"
    out = [
        ScenarioRequest(_at(start, s), ip, "GET", "/health", 200, 15, agent) for s in range(1800)
    ]
    out += [
        ScenarioRequest(_at(start, s), ip, "HEAD", "/", 200, 0, agent) for s in range(0, 1800, 30)
    ]
    out.sort(key=lambda r: r.at)
    return out


def _search_crawler(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    ip = "66.249.66.1"
    agent = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    out = [
        ScenarioRequest(_at(start, 0), ip, "GET", "/robots.txt", 200, 310, agent),
        ScenarioRequest(_at(start, 1), ip, "GET", "/sitemap.xml", 200, 88000, agent),
    ]
    t = 2.0
    for _ in range(2000):
        path = rng.choice(
            (
                f"/blog/post-{rng.randint(1, 1500)}",
                f"/products/{rng.randint(1, 3000)}",
                f"/tag/{rng.randint(1, 400)}",
            )
        )
        roll = rng.random()
        status = 404 if roll < 0.08 else (301 if roll < 0.12 else 200)
        out.append(
            ScenarioRequest(_at(start, t), ip, "GET", path, status, rng.randint(3000, 50000), agent)
        )
        t += rng.expovariate(1.2)
    return out


def _background(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    agents = browser_agents(120, rng)
    out: list[ScenarioRequest] = []
    for n in range(200):
        ip = f"198.51.100.{n % 200 + 40}" if n < 150 else f"192.0.2.{n - 150 + 100}"
        agent = rng.choice(agents)
        for _ in range(rng.randint(1, 3)):
            out.extend(
                _session(
                    rng, ip, agent, _at(start, rng.uniform(0, 1700)), rng.randint(1, 6), (5, 90)
                )
            )
    for n in range(5):
        ip, agent = f"203.0.113.{200 + n}", "curl/8.5.0"
        out += [
            ScenarioRequest(_at(start, s + n), ip, "GET", "/api/status.json", 200, 120, agent)
            for s in range(0, 1800, 60)
        ]
    out.sort(key=lambda r: r.at)
    return out


_ALL: tuple[Scenario, ...] = (
    Scenario(
        "scan", "attack", ("scan",), "directory brute force: 200 guessed paths, 92% 404", _scan
    ),
    Scenario(
        "probe-burst",
        "attack",
        ("probe-burst",),
        "eight sensitive-file probes (/.env, /.git/config, backups, phpMyAdmin)",
        _probe_burst,
    ),
    Scenario(
        "wp-bruteforce",
        "attack",
        ("bruteforce",),
        "60 wrong passwords POSTed to /wp-login.php (answered 200)",
        _wp_bruteforce,
    ),
    Scenario(
        "login-bruteforce",
        "attack",
        ("bruteforce",),
        "40 wrong passwords POSTed to /login (answered 401)",
        _login_bruteforce,
    ),
    Scenario(
        "credential-stuffing",
        "attack",
        ("credential-stuffing",),
        "200 addresses, 1-2 login attempts each, 97% failures",
        _credential_stuffing,
    ),
    Scenario("flood", "attack", ("flood",), "20 requests/s to /search for 90 s", _flood),
    Scenario(
        "ua-rotation",
        "attack",
        ("ua-rotation",),
        "scraper switching among 50 browser user agents every 2 s",
        _ua_rotation,
    ),
    Scenario(
        "error-spike",
        "attack",
        ("error-spike",),
        "a client whose export requests keep failing with 5xx",
        _error_spike,
    ),
    Scenario(
        "busy-user", "near-miss", (), "one person browsing fast with assets for 30 min", _busy_user
    ),
    Scenario(
        "corporate-nat",
        "near-miss",
        (),
        "300 people behind one address, with a few mistyped passwords",
        _corporate_nat,
    ),
    Scenario(
        "uptime-monitor", "near-miss", (), "GET /health every second for 30 min", _uptime_monitor
    ),
    Scenario(
        "search-crawler", "near-miss", (), "Googlebot crawling 2000 pages, 8% 404", _search_crawler
    ),
    Scenario(
        "background", "background", (), "200 ordinary visitors and a few API pollers", _background
    ),
)

REGISTRY: dict[str, Scenario] = {s.name: s for s in _ALL}
SCENARIOS: tuple[str, ...] = tuple(s.name for s in _ALL if s.kind == "attack")
NEAR_MISSES: tuple[str, ...] = tuple(s.name for s in _ALL if s.kind == "near-miss")
BACKGROUND = "background"


def scenario_requests(name: str, start: datetime, seed: int) -> list[ScenarioRequest]:
    """The requests of scenario `name` starting at `start`, in time order (same seed, same
    requests)."""
    try:
        scenario = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(REGISTRY)}") from None
    requests = scenario.build(start, random.Random(f"{name}:{seed}"))
    requests.sort(key=lambda r: r.at)
    return requests


def scenario_lines(name: str, start: datetime, seed: int) -> list[ScenarioLine]:
    """The scenario as labelled combined-format log lines."""
    return [
        ScenarioLine(format_combined(r), r.label, r) for r in scenario_requests(name, start, seed)
    ]


def interleave(*streams: Sequence[ScenarioLine]) -> list[ScenarioLine]:
    """Merge time-ordered streams into one, ordered by timestamp (stable across streams)."""
    return list(heapq.merge(*streams, key=lambda line: line.request.at))


def combined_lines(names: Iterable[str], start: datetime, seed: int) -> list[ScenarioLine]:
    """Several scenarios played at once from `start`, merged into one log."""
    return interleave(*(scenario_lines(name, start, seed) for name in names))
