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
Kind = Literal["attack", "near-miss", "background", "slow-attack", "slow-near-miss"]
DAY = 86_400


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
        out.append(_crawl(rng, _at(start, t), ip, agent))
        t += rng.expovariate(1.2)
    return out


def _crawl(rng: random.Random, at: datetime, ip: str, agent: str) -> ScenarioRequest:
    """One crawler request: a blog post, product or tag page; 8% gone, 4% moved."""
    path = rng.choice(
        (
            f"/blog/post-{rng.randint(1, 1500)}",
            f"/products/{rng.randint(1, 3000)}",
            f"/tag/{rng.randint(1, 400)}",
        )
    )
    roll = rng.random()
    status = 404 if roll < 0.08 else (301 if roll < 0.12 else 200)
    return ScenarioRequest(at, ip, "GET", path, status, rng.randint(3000, 50000), agent)


def _visitors(
    start: datetime,
    rng: random.Random,
    *,
    people: int,
    split: int,
    visits: int,
    span: int,
    poll_every: int,
) -> list[ScenarioRequest]:
    """Ordinary visitors browsing within `span` seconds, and five API pollers."""
    agents = browser_agents(120, rng)
    out: list[ScenarioRequest] = []
    for n in range(people):
        ip = f"198.51.100.{n % 200 + 40}" if n < split else f"192.0.2.{n - split + 100}"
        agent = rng.choice(agents)
        for _ in range(rng.randint(1, visits)):
            begin = _at(start, rng.uniform(0, span - 100))
            out.extend(_session(rng, ip, agent, begin, rng.randint(1, 6), (5, 90)))
    for n in range(5):
        ip, agent = f"203.0.113.{200 + n}", "curl/8.5.0"
        out += [
            ScenarioRequest(_at(start, s + n), ip, "GET", "/api/status.json", 200, 120, agent)
            for s in range(0, span, poll_every)
        ]
    out.sort(key=lambda r: r.at)
    return out


def _background(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    return _visitors(start, rng, people=200, split=150, visits=3, span=1800, poll_every=60)


# -- low and slow: over days, across many clients ------------------------------------------


def _slow_times(
    rng: random.Random, count: int, begin: float, end: float, *, min_gap: float = 60.0
) -> list[float]:
    """`count` sorted instants in [begin, end), never two closer than `min_gap` seconds: at
    most one request a minute per client."""
    times = sorted(rng.uniform(begin, end) for _ in range(count))
    for i in range(1, len(times)):
        times[i] = max(times[i], times[i - 1] + min_gap)
    return times


def _xmlrpc_botnet(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    """The shape measured on a real blog: 65 clients, 20-100 POST /xmlrpc.php each over about
    three days, all answered 404, never more than 8 in ten minutes per client."""
    agents = browser_agents(12, rng)
    out = []
    for n in range(65):
        ip = f"198.18.{10 + n % 40}.{n // 40 + 11}"
        agent = rng.choice(agents)
        begin = rng.uniform(0, 0.6 * DAY)
        span = rng.uniform(1.5 * DAY, 3 * DAY - begin)
        for t in _slow_times(rng, rng.randint(20, 100), begin, begin + span):
            out.append(ScenarioRequest(_at(start, t), ip, "POST", "/xmlrpc.php", 404, 153, agent))
    return _label(out, "campaign")


def _bruteforce_botnet(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    """Distributed WordPress brute force: 80 clients, 15-50 wrong passwords each over three
    days (the form comes back 200), at most one a minute."""
    agents = browser_agents(30, rng)
    out = []
    for n in range(80):
        ip = f"198.18.{60 + n % 40}.{n // 40 + 21}"
        agent = rng.choice(agents)
        begin = rng.uniform(0, DAY)
        for t in _slow_times(rng, rng.randint(15, 50), begin, begin + rng.uniform(DAY, 2 * DAY)):
            out.append(
                ScenarioRequest(
                    _at(start, t),
                    ip,
                    "POST",
                    "/wp-login.php",
                    200,
                    rng.randint(4000, 4400),
                    agent,
                    "https://www.example.org/wp-login.php",
                )
            )
    return _label(out, "campaign")


def _stuffing_botnet(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    """Slow credential stuffing against a JSON API: 150 clients over two days, 4-15 attempts
    each at most one a minute, 2% of them succeeding."""
    agents = [*browser_agents(40, rng), "python-requests/2.31.0", "okhttp/4.12.0"]
    out = []
    for n in range(150):
        ip = f"198.19.{n % 40}.{n // 40 + 31}"
        agent = rng.choice(agents)
        begin = rng.uniform(0, DAY)
        for t in _slow_times(rng, rng.randint(4, 15), begin, begin + rng.uniform(6 * 3600, DAY)):
            ok = rng.random() < 0.02
            out.append(
                ScenarioRequest(
                    _at(start, t), ip, "POST", "/api/login", 200 if ok else 401, 96, agent
                )
            )
    return _label(out, "campaign")


_PROBES = (
    "/.env",
    "/.env.bak",
    "/.git/config",
    "/.git/HEAD",
    "/wp-config.php.bak",
    "/config.php.bak",
    "/backup.zip",
    "/backup.sql",
    "/db.sql",
    "/phpinfo.php",
    "/info.php",
    "/.aws/credentials",
    "/.ssh/id_rsa",
    "/server-status",
    "/phpmyadmin/",
    "/adminer.php",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/.vscode/sftp.json",
    "/web.config",
    "/_profiler/phpinfo",
    "/actuator/env",
    "/.DS_Store",
    "/.htpasswd",
    "/database.yml.bak",
)


def _vuln_scan_botnet(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    """A slow vulnerability scan spread over a botnet: 50 clients, each probing 8-20 of the
    well-known sensitive paths over three days, answered 404 (403 for .git)."""
    out = []
    for n in range(50):
        ip = f"198.19.{40 + n % 40}.{n // 40 + 41}"
        agent = "Mozilla/5.0 zgrab/0.x" if n % 3 else "Go-http-client/1.1"
        begin = rng.uniform(0, DAY)
        paths = rng.sample(_PROBES, rng.randint(8, 20))
        times = _slow_times(rng, len(paths), begin, begin + rng.uniform(DAY, 2 * DAY))
        for t, path in zip(times, paths, strict=True):
            status = 403 if path.startswith("/.git") else 404
            out.append(ScenarioRequest(_at(start, t), ip, "GET", path, status, 153, agent))
    return _label(out, "campaign")


def _launch_crowd(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    """A product launch: 600 browsers over two hours, reloading the page that answers 404
    until it goes live, reserving (some turned away with 429/503 under load)."""
    agents = browser_agents(200, rng)
    live = 3600.0
    out: list[ScenarioRequest] = []
    for n in range(600):
        ip = f"198.19.{100 + n % 20}.{n // 20 + 1}"
        agent = rng.choice(agents)
        t = rng.uniform(live - 1800, live + 3600)
        for _ in range(rng.randint(1, 5)):
            status = 404 if t < live else 200
            out.append(ScenarioRequest(_at(start, t), ip, "GET", "/launch", status, 5200, agent))
            for asset in rng.sample(_ASSETS, 3):
                out.append(ScenarioRequest(_at(start, t + 1), ip, "GET", asset, 200, 900, agent))
            t += rng.uniform(30, 240)
        if t >= live:
            busy = rng.random() < 0.3
            out.append(
                ScenarioRequest(
                    _at(start, t),
                    ip,
                    "POST",
                    "/launch/reserve",
                    rng.choice((429, 503)) if busy else 302,
                    310,
                    agent,
                )
            )
    return out


def _popular_login(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    """A popular login page over three days: 500 people sign in a few times each (the form,
    its assets, then the POST); some mistype a password once or twice first."""
    agents = browser_agents(150, rng)
    out: list[ScenarioRequest] = []
    for n in range(500):
        ip = f"198.19.{120 + n % 20}.{n // 20 + 1}"
        agent = rng.choice(agents)
        t = rng.uniform(0, DAY)
        for _ in range(rng.randint(1, 4)):
            out.append(ScenarioRequest(_at(start, t), ip, "GET", "/login", 200, 3100, agent))
            for asset in rng.sample(_ASSETS, 3):
                out.append(ScenarioRequest(_at(start, t + 1), ip, "GET", asset, 200, 900, agent))
            t += rng.uniform(8, 30)
            roll = rng.random()
            for _typo in range(2 if roll < 0.03 else 1 if roll < 0.2 else 0):
                out.append(ScenarioRequest(_at(start, t), ip, "POST", "/login", 200, 3300, agent))
                t += rng.uniform(8, 30)
            out.append(ScenarioRequest(_at(start, t), ip, "POST", "/login", 302, 0, agent))
            t += rng.uniform(3 * 3600, 20 * 3600)
    return out


def _monitoring_fleet(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    """Fifteen monitoring locations, each checking the home page, a status API and the health
    endpoint every ten minutes for three days."""
    out: list[ScenarioRequest] = []
    agent = "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"
    for n in range(15):
        ip = f"198.19.{140 + n}.10"
        offset = rng.uniform(0, 600)
        for k in range(3 * 144):
            t = offset + k * 600
            out.append(ScenarioRequest(_at(start, t), ip, "HEAD", "/", 200, 0, agent))
            out.append(
                ScenarioRequest(_at(start, t + 1), ip, "GET", "/api/status.json", 200, 120, agent)
            )
            out.append(ScenarioRequest(_at(start, t + 2), ip, "GET", "/health", 200, 15, agent))
    return out


def _crawler_fleet(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    """Twenty Googlebot addresses crawling for three days, 8% of their pages gone (404)."""
    agent = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    out: list[ScenarioRequest] = []
    for n in range(20):
        ip = f"66.249.{64 + n % 4}.{n + 1}"
        for t in _slow_times(rng, 300, 0, 3 * DAY, min_gap=5):
            out.append(_crawl(rng, _at(start, t), ip, agent))
    return out


def _background_days(start: datetime, rng: random.Random) -> list[ScenarioRequest]:
    """Three days of ordinary visitors (2% of their pages missing) and API pollers."""
    return _visitors(start, rng, people=300, split=200, visits=4, span=3 * DAY, poll_every=900)


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
    Scenario(
        "xmlrpc-botnet",
        "slow-attack",
        ("campaign",),
        "65 clients, 20-100 POST /xmlrpc.php (404) each over 3 days, <= 1/min",
        _xmlrpc_botnet,
    ),
    Scenario(
        "bruteforce-botnet",
        "slow-attack",
        ("campaign",),
        "80 clients, 15-50 wrong WordPress passwords each over 1-3 days, <= 1/min",
        _bruteforce_botnet,
    ),
    Scenario(
        "stuffing-botnet",
        "slow-attack",
        ("campaign",),
        "150 clients, 4-15 API logins each over 2 days (98% 401), <= 1/min",
        _stuffing_botnet,
    ),
    Scenario(
        "vuln-scan-botnet",
        "slow-attack",
        ("campaign",),
        "50 clients, 8-20 sensitive-file probes each over 1-3 days, <= 1/min",
        _vuln_scan_botnet,
    ),
    Scenario(
        "launch-crowd",
        "slow-near-miss",
        (),
        "600 browsers reloading a launch page (404 until live), some turned away 429/503",
        _launch_crowd,
    ),
    Scenario(
        "popular-login",
        "slow-near-miss",
        (),
        "500 people signing in over 3 days, a fifth mistyping once or twice",
        _popular_login,
    ),
    Scenario(
        "monitoring-fleet",
        "slow-near-miss",
        (),
        "15 monitoring locations checking 3 URLs every 10 min for 3 days",
        _monitoring_fleet,
    ),
    Scenario(
        "crawler-fleet",
        "slow-near-miss",
        (),
        "20 Googlebot addresses crawling for 3 days, 8% 404",
        _crawler_fleet,
    ),
    Scenario(
        "background-days",
        "background",
        (),
        "3 days of 300 ordinary visitors and API pollers",
        _background_days,
    ),
)

REGISTRY: dict[str, Scenario] = {s.name: s for s in _ALL}
SCENARIOS: tuple[str, ...] = tuple(s.name for s in _ALL if s.kind == "attack")
NEAR_MISSES: tuple[str, ...] = tuple(s.name for s in _ALL if s.kind == "near-miss")
BACKGROUND = "background"
SLOW_SCENARIOS: tuple[str, ...] = tuple(s.name for s in _ALL if s.kind == "slow-attack")
SLOW_NEAR_MISSES: tuple[str, ...] = tuple(s.name for s in _ALL if s.kind == "slow-near-miss")
SLOW_BACKGROUND = "background-days"
"""The background the low-and-slow scenarios are played over (three days)."""


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
