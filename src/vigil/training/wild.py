"""Seeded log lines from the development corpora in data/: attacks in every field, and benign
traffic with the oddities of real logs. Each corpus is split into a tuning and a reporting part.

Attacks: every payload of ``data/payloads/<source>/<family>.txt`` becomes one request, the
payload placed in one of the fields that family can live in (argument value, path segment, raw
query, user agent, the referer's own query, a cookie, X-Forwarded-For, another header; probes in
the path, unknown methods as the method), encoded the way clients send it there.

Benign: requests of an ordinary shop and blog, built from vocabularies that hold what real logs
are full of and rules must leave LOW: searches with SQL words and quotes, code snippets, JSON
and base64 in parameters, long tracking parameters, e-mail addresses, non-Latin text, CMS and
forum query strings (Joomla, WordPress, Drupal, phpBB, MediaWiki, shop carts),
crawler-mangled and template-leftover URLs, spam-bot junk paths, WordPress logins answered 200
on the blog that runs it, research scanners fetching / and robots.txt, real browser user agents
(data/benign/user-agents), cookies, referers and proxy headers.

The split: a payload (or a vocabulary entry, or a user agent) belongs to the tuning or the
reporting part by a hash of its text, so the two parts never share one. Every benign class is in
both parts with many distinct entries: beside the hand-written vocabularies, `POOLS` generates
each class's entries from templates and word lists (the same for both parts) and splits them
entry by entry, so the tuning part has the kinds of value the reporting part has, never the same
values. Lines are JSON (nginx
``escape=json`` style) so that cookies and headers travel with the request.

    python benchmarks/wild_corpus.py --split reporting --benign 1000000 --out benchmarks/data

Training (`vigil.training.train`) reads the tuning part only; benchmarks report on the other.
"""

# ruff: noqa: E501  (vocabularies read better unwrapped)

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

SPLITS = ("tuning", "reporting")
START = datetime(2025, 5, 1, 6, 0, 0, tzinfo=UTC)
LOG_FORMAT = "json"
MAX_PER_FAMILY = 3000
SITE_HOST = "shop.example.com"

INJECTION_FIELDS = (
    "arg",
    "arg",
    "path_segment",
    "query",
    "user_agent",
    "referer",
    "cookie",
    "xff",
    "header",
)
FIELDS_BY_FAMILY: dict[str, tuple[str, ...]] = {
    "probe": ("path",),
    "method": ("method",),
    "open-redirect": ("arg",),
    "crlf": ("arg", "path_segment", "referer", "cookie"),
    "rfi": ("path",),
    "ssrf": ("arg", "arg", "cookie", "referer", "header", "user_agent"),
}


def split_of(*parts: str) -> str:
    """The part (tuning or reporting) a payload or vocabulary entry belongs to."""
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=4).digest()
    return SPLITS[digest[0] & 1]


@dataclass(frozen=True, slots=True)
class Sample:
    """One generated log line and what it is."""

    line: str
    label: str  # attack or benign
    source: str
    family: str
    field: str
    """Where the payload sat (arg, path_segment, user_agent, ...), or ``request`` if benign."""


def _json_line(
    ip: str, when: datetime, method: str, target: str, status: int, *, agent: str, referer: str = "",
    cookie: str = "", xff: str = "", headers: dict[str, str] | None = None, host: str = SITE_HOST,
) -> str:  # fmt: skip
    record = {
        "remote_addr": ip,
        "time_iso8601": when.isoformat(),
        "request": f"{method} {target} HTTP/1.1",
        "status": status,
        "body_bytes_sent": 1000 + 7 * len(target),
        "http_referer": referer or "-",
        "http_user_agent": agent or "-",
        "host": host,
    }
    if cookie:
        record["http_cookie"] = cookie
    if xff:
        record["http_x_forwarded_for"] = xff
    for name, value in (headers or {}).items():
        record[f"http_{name}"] = value
    return json.dumps(record, ensure_ascii=False)


def _ip(rng: random.Random) -> str:
    first = rng.choice([23, 31, 45, 62, 77, 81, 88, 91, 95, 104, 151, 176, 185, 188, 193, 212])
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


# -- attacks ------------------------------------------------------------------------------------


def payload_files(root: Path) -> list[tuple[str, str, Path]]:
    """(source, family, file) of every payload file under ``root/payloads``."""
    out: list[tuple[str, str, Path]] = []
    for folder in sorted((root / "payloads").iterdir()):
        if folder.is_dir():
            out.extend((folder.name, f.stem, f) for f in sorted(folder.glob("*.txt")))
    return out


def load_payloads(root: Path, split: str, seed: int = 7) -> list[tuple[str, str, str]]:
    """(source, family, payload) of one split, at most `MAX_PER_FAMILY` per source and family."""
    rng = random.Random(seed)
    out: list[tuple[str, str, str]] = []
    for source, family, path in payload_files(root):
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line]
        chosen = [p for p in lines if split_of(source, family, p) == split]
        if len(chosen) > MAX_PER_FAMILY:
            chosen = rng.sample(chosen, MAX_PER_FAMILY)
        out.extend((source, family, p) for p in chosen)
    return out


def _encoded(value: str, rng: random.Random) -> str:
    return quote_plus(value, safe="") if rng.random() < 0.5 else quote(value, safe="")


@dataclass(slots=True)
class Pieces:
    """The parts of one request that a payload can be placed in."""

    agent: str
    method: str = "GET"
    target: str = "/"
    status: int = 200
    referer: str = ""
    cookie: str = ""
    xff: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def place(payload: str, family: str, where: str, rng: random.Random) -> Pieces:
    """The request pieces that carry `payload` in the field `where`."""
    pieces = Pieces(
        agent=rng.choice(BROWSER_AGENTS), status=rng.choice([200, 200, 403, 404, 400, 500])
    )
    page = rng.choice(["/index.php", "/search", "/products/view", "/api/v1/items", "/page"])
    param = rng.choice(
        ["id", "q", "page", "file", "url", "name", "cat", "redirect", "lang", "view"]
    )
    if where == "arg":
        extra = rng.choice(["", "&lang=en", "&page=2"])
        pieces.target = f"{page}?{param}={_encoded(payload, rng)}{extra}"
    elif where == "path_segment":
        pieces.target = f"{page}/{quote(payload, safe='')}"
    elif where == "path":
        pieces.target = quote(payload, safe="/%?&=:;,+~@!$'()*")
        pieces.status = rng.choice([404, 404, 404, 403])
    elif where == "query":
        pieces.target = f"{page}?{quote(payload, safe='=&')}"
    elif where == "user_agent":
        pieces.agent = payload
    elif where == "referer":
        host = rng.choice(["www.google.com", SITE_HOST, "evil.example"])
        page_name = rng.choice(["search", "page"])
        pieces.referer = f"https://{host}/{page_name}?{param}={_encoded(payload, rng)}"
    elif where == "cookie":
        value = payload if rng.random() < 0.5 and ";" not in payload else quote(payload, safe="")
        pieces.cookie = f"sid={rng.randbytes(8).hex()}; {param}={value}"
    elif where == "xff":
        pieces.xff = payload
    elif where == "header":
        name = rng.choice(["x_api_version", "x_requested_with", "x_client_data", "accept_language"])
        pieces.headers = {name: payload}
    elif where == "method":
        pieces.method = payload
    return pieces


def attack_samples(root: Path, split: str, seed: int = 7) -> Iterator[Sample]:
    """One request per payload of the split, fields assigned in turn within each family."""
    rng = random.Random(seed)
    when = START
    turn: dict[str, int] = {}
    for source, family, payload in load_payloads(root, split, seed):
        fields = FIELDS_BY_FAMILY.get(family, INJECTION_FIELDS)
        index = turn.get(family, 0)
        turn[family] = index + 1
        where = fields[index % len(fields)]
        pieces = place(payload, family, where, rng)
        when += timedelta(milliseconds=rng.randrange(50, 5000))
        line = _json_line(
            _ip(rng), when, pieces.method, pieces.target, pieces.status, agent=pieces.agent,
            referer=pieces.referer, cookie=pieces.cookie, xff=pieces.xff, headers=pieces.headers,
        )  # fmt: skip
        yield Sample(line, "attack", source, family, where)


# -- benign ---------------------------------------------------------------------------------------

BROWSER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
]
SEARCHES = [
    "select comfort mattress",
    "union jack cushion",
    "drop earrings",
    "o'brien's pub glasses",
    "women's shoes size 8",
    '"exact phrase" please',
    "the 'best' laptop 2025",
    "5' 10\" height chart",
    "50% off sale",
    "don't stop believin vinyl",
    "rock and roll",
    "black or white",
    "1 or 2 bedrooms",
    "size 10 and up",
    "where to buy",
    "how to drop a table in excel",
    "delete from favorites",
    "update my address",
    "insert molding kit",
    "order by price",
    "group by color",
    "join the club",
    "c# tutorial",
    "c++ vs java",
    "javascript: the good parts",
    "sql tutorial for beginners",
    "price alert",
    "document cookie policy",
    "cat food 5kg",
    "ping pong table",
    "sleep better tonight",
    "shell suit retro",
    "system shock remake",
    "drop-down menu css",
    "user's guide",
    "3 < 5 > 2",
    "email me @ work",
    "tom & jerry",
    "fish & chips",
    "r&b music",
    "1+1=2",
    "-20% coupon",
    "it's 5 o'clock",
    '"hello world" program',
    "path/to/file",
    "~/documents",
    "#hashtag",
    "café crème",
    "naïve résumé",
    "東京 ホテル 予約",
    "Привет мир",
    "مرحبا بالعالم",
    "שלום עולם",
    "नमस्ते दुनिया",
    "서울 맛집",
    "ελληνικά βιβλία",
    "emoji 😀 test",
    "where's waldo?",
    "what is 2*3",
    "a+b=c",
    "a && b || c",
    "x > 0 and y < 10",
    "yes/no",
    "and/or",
    "admin dashboard template",
    "wordpress theme",
    "how to install php",
    "python print() function",
    "jquery $(document).ready",
    "array.map(x => x * 2)",
    "list comprehension [x for x in y]",
    "std::vector<int> push_back",
    "git reset --hard HEAD~1",
    "docker run -it ubuntu bash",
    "regex ^[a-z]+$",
    "css flex: 1 1 auto",
    "print_r vs var_dump",
    "curl -X POST example",
    "for (let i = 0; i < n; i++)",
    "if (a == b) { return }",
    "SELECT vs WHERE difference",
    "what does 1=1 mean in sql",
    'json {"a": 1}',
    "kubectl get pods -n default",
    "npm install --save-dev",
    "ls -la explained",
    "chmod 755 meaning",
    "ssh-keygen tutorial",
    "windows cmd dir command",
    "powershell get-childitem example",
    "bash script if else",
    "ordering pizza online",
    "union station hotel",
    "script writing course",
    "alert whistle for dogs",
    "exec office chair",
    "cast iron skillet",
    "having fun",
    "between the lines book",
    "null and void",
    "true story movie",
    "drop shipping",
    "truncate text css",
    "benchmark test results",
    "sleep(ing) bag",
    "char grill",
    "concat strings in go",
    "waitfor godot",
]
MORE_SEARCHES = [  # product, help, code and non-Latin searches
    "iphone 15 pro max case",
    "samsung galaxy s24 (256gb)",
    "nike air max 90 - white",
    "lego star wars 75192",
    "coffee grinder burr vs blade",
    "mens jacket size xl",
    "kids shoes (size 12)",
    "4k tv 55 inch",
    "best budget headphones 2024",
    "usb-c to hdmi adapter",
    "bluetooth speaker waterproof",
    "running shoes for flat feet",
    "gift ideas for dad",
    "birthday card 'happy 40th'",
    "wine glasses set of 6",
    "king size duvet cover",
    "led strip lights 5m",
    "air fryer recipes",
    "protein powder chocolate 1kg",
    "yoga mat non slip",
    "garden hose 30m",
    "office chair with lumbar support",
    "standing desk 160x80",
    "mechanical keyboard cherry mx",
    "gaming mouse <50",
    "monitor arm dual",
    "laptop stand aluminium",
    "wireless charger 15w",
    "hair dryer ionic",
    "electric toothbrush heads",
    "baby stroller lightweight",
    "dog bed large washable",
    "cat tree for large cats",
    "fish tank 60l",
    "bike helmet mips",
    "tent 4 person",
    "sleeping bag -10c",
    "hiking boots women's",
    "rain jacket gore-tex",
    "ski goggles otg",
    "how to tie a tie",
    "what's the weather tomorrow",
    "who wrote 1984",
    "when is black friday",
    "why is the sky blue",
    "how much is shipping to canada",
    "can i return opened items?",
    "do you ship to p.o. boxes",
    "track my order #12345",
    "order 100234 status",
    "invoice pdf download",
    "reset password not working",
    "delete my account",
    "unsubscribe from emails",
    "change delivery address",
    "cancel order",
    "drop table lamp",
    "union pacific model train",
    "select all checkbox jquery",
    "insert coin arcade machine",
    "update firmware router",
    "create table pine",
    "alter ego book",
    "grant thornton careers",
    "revoke consent",
    "exec summary template",
    "execute order 66 shirt",
    "script font generator",
    "alert banner html",
    "onload vs domcontentloaded",
    "javascript alert box",
    "window.location.href redirect",
    "document.getelementbyid not working",
    "innerhtml vs textcontent",
    "eval in python",
    "system requirements gta 6",
    "cmd prompt commands list",
    "bash: command not found",
    "sudo apt-get update error",
    "wget vs curl",
    "ping -t",
    "whoami command",
    "ifconfig vs ip addr",
    "sql inner join vs left join",
    "mysql 'order by' two columns",
    "sqlite insert or replace",
    "sql count(*) vs count(1)",
    'excel =if(a1>0,"yes","no")',
    "=vlookup(a2,b:c,2,false)",
    "sum(a1:a10)",
    "concat(first, ' ', last)",
    "mongodb $in operator",
    "regex (\\d+)-(\\d+)",
    "template {{ variable }} jinja",
    "${variable} bash",
    "%s format python",
    'f"{name}" python',
    "<br> tag",
    "<div> center css",
    "html <img> alt",
    "&nbsp; in html",
    "a < b < c python",
    "x != y",
    "i++ vs ++i",
    "// comment in json",
    "/* comment */ css",
    "-- comment sql",
    "# heading markdown",
    "@media query",
    "1/2 price",
    "3/4 inch pipe",
    "50/50 raffle",
    "24/7 support",
    "ben & jerry's",
    "m&m's",
    "at&t phone",
    "h&m jeans",
    "procter & gamble",
    "johnson & johnson",
    "l'oréal paris",
    "l'occitane hand cream",
    "dr. martens 1460",
    "levi's 501 '93",
    "o'reilly auto parts",
    "mcdonald's menu",
    "kellogg's",
    "children's books",
    "ciudad de méxico",
    "são paulo hotels",
    "zürich airport",
    "kraków old town",
    "düsseldorf",
    "北京 天气",
    "大阪 観光",
    "부산 여행",
    "москва театр",
    "київ кава",
    "istanbul kebap",
    "athína ξενοδοχείο",
    "القاهرة فنادق",
    "תל אביב",
    "बैंगलोर",
    "1' 2\" frame",
    "6'2\" basketball",
    '12" pizza pan',
    '27" monitor',
    "8' x 10' rug",
    "t-shirt 100% cotton",
    "30% off code",
    "90% dark chocolate",
    "0% apr",
    "price: low to high",
    "rating >= 4 stars",
    "under $100",
    "$$$ restaurants",
    "c# linq where",
    "f# tutorial",
    "objective-c blocks",
    "node.js fs.readfile",
    "react useeffect()",
    "vue v-if v-else",
    "angular *ngfor",
    "svelte {#each}",
    "go func() goroutine",
    "rust Option<T>",
    "java List<String>",
    "kotlin ?: operator",
    "php $_GET example",
    "perl =~ regex",
    "ruby <=> operator",
    "haskell >>= monad",
    "null pointer exception",
    "undefined is not a function",
    "segmentation fault (core dumped)",
    "error 404 not found",
    "http 500 internal server error",
    "403 forbidden nginx",
    "502 bad gateway cloudflare",
    "err_connection_refused",
    "shell shock game",
    "system of a down",
    "cmd+shift+4 screenshot",
    "ctrl+alt+del",
    "iframe game",
    "object lesson",
    "embed code youtube",
    "applet java old",
    "union square",
    "select bar",
    "where the wild things are",
    "from dusk till dawn",
    "or else",
    "and then there were none",
    "not today",
    "having it all",
    "1 or 2 players",
    "2 and 3 bedroom apartments",
    "yes or no questions",
    "order of operations",
    "sleep apnea",
    "sleep mask silk",
    "benchmark gpu",
    "waitfor it",
    "char siu pork",
    "ascii art",
    "substring of",
    "version control git",
    "database design",
    "user agent string",
    "hackers movie 1995",
]
MORE_NAMES = [
    "Anne-Marie O'Neill",
    "D'Artagnan, Charles",
    "Jean-Pierre Lévêque",
    "Åsa Öberg",
    "Bjørn Ødegård",
    "Łukasz Żółć",
    "Đorđe Petrović",
    "Nguyễn Văn An",
    "Müller-Lüdenscheidt",
    "Siân Ó Briain",
    "Mary-Kate & Ashley",
    "Dr. John Smith Jr.",
    "van der Merwe",
    "de la Cruz, Ana",
    "Zhang Wei (张伟)",
]
MORE_STREETS = [
    "Calle de Alcalá, 48 - 2º izq.",
    "Rue de Rivoli 12, bât. B",
    "Hauptstraße 5a / 3. OG",
    "1600 Amphitheatre Pkwy #4",
    "Flat 3/2, 10 Downing St",
    "P.O. Box 1234",
    "Via Roma 1, int. 7",
    "221B Baker Street",
]
MORE_NOTES = [
    "Leave at the door; don't ring :)",
    "Fragile!!! (glass)",
    "Deliver after 18:00 <please>",
    "Call +34 600-000-000 on arrival",
    "Gate code #1234*",
    "No plastic, thanks & regards",
    "50% now / 50% on delivery?",
    "It's a gift -- hide the price",
    "Use the side entrance (left)",
    "Back door / garage",
    "email me: a.b@example.com",
    "Ref: PO-2025/117",
]
CMS_TARGETS = [
    "/index.php?option=com_content&view=article&id={n}&Itemid={m}",
    "/index.php?option=com_content&view=category&layout=blog&id={m}",
    "/?p={n}",
    "/?page_id={m}",
    "/?s={q}",
    "/?cat={m}",
    "/?feed=rss2",
    "/node/{n}",
    "/node/{n}?destination=node/{n}%23comment-form",
    "/?q=node/{n}",
    "/user/login?destination=/node/{n}",
    "/blog/{y}/{mo:02d}/{slug}/",
    "/blog/{y}/{mo:02d}/{slug}/?replytocom={n}#respond",
    "/{y}/{mo:02d}/{d:02d}/{slug}.html",
    "/catalog/product/view/id/{n}/",
    "/catalogsearch/result/?q={q}",
    "/checkout/cart/add/uenc/{b64},/product/{n}/",
    "/forum/viewtopic.php?f={m}&t={n}&start={s}",
    "/forum/showthread.php?t={n}&page={m}",
    "/wiki/index.php?title={title}&action=edit",
    "/index.php?route=product/product&product_id={n}",
    "/index.php?main_page=product_info&cPath={m}_{m2}&products_id={n}",
    "/calendar?date={y}-{mo:02d}-{d:02d}&view=month",
    "/events?from={y}-{mo:02d}-01T00:00:00Z&to={y}-{mo:02d}-28T23:59:59Z",
    "/download.php?file=brochure-{y}.pdf",
    "/view.php?doc=manual_v{m}.pdf&lang=en",
    "/print.php?page=order&id={n}",
    "/redirect?to=/account/orders",
    "/out?url=https%3A%2F%2Fpartner.example.net%2Foffer%3Fid%3D{n}",
    "/img.php?src=/uploads/{y}/{mo:02d}/photo-{n}.jpg&w=300&h=200",
    "/thumb?path=products%2F{n}%2Fmain.png&size=small",
    "/api/v1/search?q={q}&sort=-created_at&fields[]=id&fields[]=title",
    "/api/v1/items?filter[status]=active&page[size]=20",
    "/rss.xml?category={slug}",
    "/sitemap-{y}-{mo:02d}.xml",
    "/tags/{slug}?sort=new&t=week",
]
SLUGS = [
    "hello-world",
    "10-tips-for-better-sleep",
    "why-we-moved-to-postgres",
    "select-the-right-mattress",
    "union-vs-league",
    "drop-in-sales",
    "script-writing-101",
    "the-or-operator-explained",
    "etc-and-more",
    "passwd-managers-compared",
    "cmd-vs-powershell",
    "how-to-use-curl",
    "alert-fatigue",
    "1-2-3-done",
    "caf%C3%A9-reviews",
    "%E6%96%B0%E3%81%97%E3%81%84",
]
JUNK_PATHS = [
    "/%22file://$file/%22",
    "/${WEBLOC}",
    "/%24%7BWEBLOC%7D",
    "/undefined",
    "/null",
    "/[object%20Object]",
    "/%7B%7Burl%7D%7D",
    "/$%7Bpath%7D",
    "/'+url+'",
    "/%22+link+%22",
    "/&quot;https://shop.example.com/&quot;",
    "/http:/www.example.com/page",
    "/images/%20",
    "/index.php/%22",
    "/%7Bimage%7D",
    "/%7B%7B%20item.url%20%7D%7D",
    "/$%7Bbase%7D/app.js",
    "/{{asset}}",
    "/<%=%20url%20%>",
    "/%3C%25=url%25%3E",
    "/__NEXT_URL__",
    "/%s",
    "/%25s",
    "/$1",
    "/${1}",
    "/#{id}",
    "/:id",
    "/[id]",
    "/products/%5Bobject%20Object%5D",
    "/blog/javascript:void(0)",
    "/mailto:info@example.com",
    "/tel:+34600000000",
    "/cheap-viagra-online-pharmacy",
    "/buy-replica-watches-2024.html",
    "/casino-bonus-%E8%B5%8C%E5%9C%BA",
    "/aB3xK9pLqZ",
    "/xzqwvbkl/ghjtyu.html",
    "/wp-content/uploads/2019/07/logo-1.png",
    "/index.html?ref=seo-backlinks-cheap",
    "/%E8%B4%AD%E4%B9%B0/%E4%BF%A1%E7%94%A8%E5%8D%A1",
    "/%D0%BA%D0%B0%D0%B7%D0%B8%D0%BD%D0%BE-%D0%BE%D0%BD%D0%BB%D0%B0%D0%B9%D0%BD",
    "/.well-known/traffic-advice",
    "/.well-known/security.txt",
    "/ads.txt",
    "/apple-app-site-association",
    "/humans.txt",
    "/favicon.ico",
    "/apple-touch-icon-precomposed.png",
    "/sitemap_index.xml",
    "/feed/",
    "/amp/",
    "/page/2/",
    "/search/%22%20%22",
    "/tag/c%2B%2B",
    "/category/r%26b",
    "/products/o%27neill-wetsuit",
    "/author/d%27angelo",
    "/%F0%9F%98%80",
    "/caf%C3%A9/men%C3%BA",
    "/%E6%9D%B1%E4%BA%AC",
    "/files/report%20(1).pdf",
    "/files/Q3%20-%20summary.xlsx",
]
TRACKING = [
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "gclid",
    "fbclid",
    "msclkid",
    "mc_eid",
    "_ga",
    "yclid",
    "ttclid",
    "_hsenc",
    "mkt_tok",
]
EMAILS = [
    "maria.garcia@example.com",
    "o'connor.sean@example.ie",
    "jean-luc+shop@example.fr",
    "user_01@sub.example.co.uk",
    "test@example.org",
]
RESEARCH_AGENTS = [
    "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
    "Expanse, a Palo Alto Networks company, searches across the global IPv4 space multiple times per day to identify customers&#39; presences on the Internet. If you would like to be excluded from our scans, please send IP addresses/domains to: scaninfo@paloaltonetworks.com",
    "Mozilla/5.0 (compatible; InternetMeasurement/1.0; +https://internet-measurement.com/)",
    "Mozilla/5.0 (compatible; Odin; https://docs.getodin.com/)",
]
COOKIES = [
    "_ga=GA1.2.{n}.{t}; _gid=GA1.2.{n2}.{t}",
    "sessionid={hex}; csrftoken={hex}",
    "PHPSESSID={hex}",
    "OptanonConsent=isGpcEnabled=0&datestamp=Mon+May+05+2025&version=202401.1.0&groups=C0001%3A1%2CC0002%3A0",
    "cart=%7B%22items%22%3A%5B1%2C2%5D%2C%22total%22%3A19.99%7D",
    "token={jwt}",
    "lang=es; currency=EUR; theme=dark",
    'prefs={{"view":"grid","sort":"price"}}',
]


# -- generated vocabularies -----------------------------------------------------------------------
#
# The hand-written vocabularies above have a few hundred entries, each repeated about a thousand
# times in a corpus of a million requests, and a class with two or three entries may fall wholly
# in one part. The pools below are generated from templates and word lists (seeded, the same for
# both parts), so every class of benign oddity has hundreds to thousands of distinct entries;
# each entry then goes to the tuning or the reporting part by the hash of its text, like the
# hand-written ones. Both parts have every class; they never share an entry.

SQL_WORDS = ["select", "union", "drop", "delete", "insert", "update", "order", "group", "join", "where", "from", "having", "exec", "sleep", "table", "or", "and", "not", "null", "like", "between", "case", "declare", "truncate", "grant", "alter", "create", "values", "limit", "char", "cast", "ascii", "benchmark", "waitfor", "into"]  # fmt: skip
NOUNS = ["mattress", "cushion", "earrings", "lamp", "sofa", "chair", "jacket", "boots", "shoes", "pillow", "blanket", "table", "desk", "phone case", "charger", "headphones", "kettle", "toaster", "vinyl", "poster", "book", "mug", "tent", "backpack", "watch", "ring", "scarf", "gloves", "helmet", "bike", "guitar", "camera", "lens", "tripod", "printer", "router", "keyboard", "mouse", "monitor", "speaker"]  # fmt: skip
BRANDS = ["Levi's", "O'Neill", "McDonald's", "Kellogg's", "L'Oréal", "Dunkin'", "Ben & Jerry's", "AT&T", "H&M", "M&S", "Marks & Spencer", "Dr. Martens", "Toys\"R\"Us", "Lands' End", "Macy's", "Trader Joe's", "Wendy's", "Sainsbury's", "Hershey's", "Barnes & Noble"]  # fmt: skip
ADJECTIVES = ["best", "cheap", "red", "black", "white", "large", "small", "vintage", "wireless", "organic", "kids'", "men's", "women's", "girls'", "boys'", "new", "used", "waterproof", "leather", "wooden"]  # fmt: skip
DATABASES = ["mysql", "postgres", "sqlite", "oracle", "sql server", "mariadb", "bigquery", "snowflake", "access", "db2"]  # fmt: skip
COLUMNS = ["name", "price", "created_at", "id", "email", "status", "total", "qty", "city", "age", "score", "date"]  # fmt: skip
TABLES = ["users", "orders", "products", "customers", "items", "sales", "employees", "posts"]
LANGUAGES = ["python", "javascript", "java", "c#", "go", "rust", "php", "ruby", "kotlin", "swift", "typescript", "bash", "powershell", "c++", "scala", "perl", "lua", "r", "dart", "elixir"]  # fmt: skip
IDENTS = ["x", "i", "n", "item", "user", "data", "result", "value", "count", "list", "arr", "obj", "name", "key", "row", "node", "msg", "err", "total", "config"]  # fmt: skip
FUNCTIONS = ["print", "len", "map", "filter", "sort", "parse", "format", "split", "join", "open", "read", "fetch", "push", "append", "reduce", "log", "max", "min", "round", "trim"]  # fmt: skip
DOM_APIS = ["window.open", "document.write", "document.getElementById", "document.querySelector", "window.location.replace", "window.location.assign", "document.createElement", "window.alert", "window.confirm", "localStorage.getItem", "window.scrollTo", "document.addEventListener", "window.postMessage", "history.pushState", "navigator.clipboard.writeText"]  # fmt: skip
DOM_ARGS = ["url", "'_blank'", "url, '_blank'", "'app'", "\"div\"", "0, 0", "'#main'", "'click', fn", "'hello'", "href", "'token'", "e.target.value", "'/login'", "link.href, '_self'", "{}"]  # fmt: skip
DOM_QUESTIONS = ["not working", "new tab", "example", "in iframe", "blocked", "returns null", "undefined", "safari", "vs href", "after login", "stack overflow", "mdn", ""]  # fmt: skip
DOM_PROPERTIES = ["window.location.href", "document.cookie", "document.title", "window.name", "document.domain", "element.innerHTML", "location.hash", "document.body.style", "window.location.search", "document.referrer"]  # fmt: skip
SHEET_FUNCTIONS = ["IF", "SUMIF", "COUNTIF", "AVERAGEIF", "IFS", "SUMIFS", "COUNTIFS", "MAXIFS", "IFERROR", "VLOOKUP", "XLOOKUP", "INDEX", "MATCH", "AND", "OR", "NOT", "FILTER", "SUMPRODUCT", "TEXT", "LEFT"]  # fmt: skip
COMPARISONS = [">", "<", ">=", "<=", "=", "<>", "!=", "=="]
NON_LATIN = ["東京", "大阪", "北京", "上海", "天气", "酒店", "预订", "ホテル", "予約", "観光", "ラーメン", "서울", "부산", "맛집", "여행", "Москва", "Привет", "театр", "кава", "книги", "купить", "مرحبا", "فنادق", "القاهرة", "שלום", "עולם", "ירושלים", "नमस्ते", "दुनिया", "दिल्ली", "ελληνικά", "βιβλία", "ξενοδοχείο", "กรุงเทพ", "ร้านอาหาร", "Việt Nam", "phở", "Türkiye", "İstanbul", "çay", "Ελλάδα", "Україна", "Київ", "ქართული", "Հայաստան", "বাংলা", "தமிழ்", "తెలుగు"]  # fmt: skip
FIRST_NAMES = ["maria", "sean", "jean-luc", "anne", "li", "josé", "zoë", "dmitri", "aisha", "kenji", "o'brien", "d'angelo", "mary-kate", "björn", "łukasz", "nguyen", "fatima", "sven", "chloé", "raj"]  # fmt: skip
LAST_NAMES = ["garcia", "o'connor", "smith", "müller", "van.der.berg", "nakamura", "okafor", "rossi", "dubois", "kowalski", "silva", "kim", "patel", "cohen", "ivanova", "o'neill", "lópez", "ng", "andersson", "hughes"]  # fmt: skip
MAIL_DOMAINS = ["example.com", "example.org", "example.net", "mail.example.co.uk", "example.ie", "example.fr", "sub.example.de", "example.com.br", "example.jp", "uni.example.edu"]  # fmt: skip
TEMPLATE_NAMES = ["url", "link", "href", "src", "path", "file", "image", "img", "WEBLOC", "item.url", "baseUrl", "asset", "post.slug", "product.id", "page", "BASE_URL", "cdn", "thumb", "logo", "canonical", "site_url", "lang", "id", "slug", "node.path"]  # fmt: skip
TEMPLATE_SHAPES = ["${%s}", "{{%s}}", "{{ %s }}", "<%%= %s %%>", "#{%s}", "[%s]", ":%s", "$%s", "%%%s%%", "{%s}", "__%s__", "@%s@", "'+%s+'", '"+%s+"', "' + %s + '", "${%s}/", "{{%s}}.jpg", "[[%s]]"]  # fmt: skip
SPAM_WORDS = ["cheap", "buy", "viagra", "cialis", "casino", "bonus", "replica", "watches", "loans", "payday", "crypto", "bitcoin", "seo", "backlinks", "essay", "writing", "pills", "online", "free", "download", "movie", "hd", "outlet", "sale", "discount", "bet", "porn", "dating", "weight-loss", "keto", "forex", "vpn", "apk", "mod", "crack", "2024", "2025", "best", "top10", "review"]  # fmt: skip
RETURN_PARAMS = ["next", "returnUrl", "ReturnUrl", "return_to", "redirect_to", "redirect", "continue", "dest", "destination", "goto", "back", "from", "redirect_uri", "return", "callback", "target", "r", "url", "came_from", "successUrl"]  # fmt: skip
LOGIN_PATHS = ["/login", "/signin", "/account/login", "/user/login", "/auth/login", "/wp-login.php", "/Account/LogOn", "/users/sign_in", "/sso/login", "/accounts/login/", "/customer/account/login/", "/my-account/", "/oauth/authorize", "/cas/login", "/session/new"]  # fmt: skip
SITE_PAGES = ["/account/orders", "/checkout", "/cart", "/wishlist", "/blog/{slug}", "/products/{slug}", "/search", "/admin/", "/wp-admin/", "/settings/profile", "/dashboard", "/orders/{n}", "/support/tickets/{n}", "/category/{slug}", "/"]  # fmt: skip
RESEARCH_NAMES = [("CensysInspect", "https://about.censys.io/"), ("InternetMeasurement", "https://internet-measurement.com/"), ("Odin", "https://docs.getodin.com/"), ("LeakIX", "https://leakix.net"), ("Shadowserver", "https://www.shadowserver.org/what-we-do/network-reporting/"), ("ONYPHE", "https://www.onyphe.io"), ("Netcraft Web Server Survey", "https://www.netcraft.com"), ("Stretchoid", "https://stretchoid.com/"), ("ModatScanner", "https://modat.io/"), ("Palo Alto Networks Expanse", "https://expanse.co/"), ("BinaryEdge", "https://www.binaryedge.io"), ("CriminalIP", "https://www.criminalip.io"), ("HypeStat", "https://hypestat.com/bot"), ("GenomeCrawlerd", "https://www.nokia.com/genomecrawler"), ("Shodan", "https://shodan.io"), ("zgrab", "https://github.com/zmap/zgrab2")]  # fmt: skip


def _pool(name: str, size: int, make: Callable[[random.Random], str]) -> list[str]:
    """`size` distinct entries of one generated class (the same for both parts)."""
    rng = random.Random(f"vigil-benign-{name}")
    seen: dict[str, None] = {}
    for _ in range(size * 20):
        seen[make(rng)] = None
        if len(seen) >= size:
            break
    return list(seen)


def _sql_word_search(rng: random.Random) -> str:
    word, noun, brand = rng.choice(SQL_WORDS), rng.choice(NOUNS), rng.choice(BRANDS)
    return rng.choice(
        [
            f"{word} {noun}",
            f"{rng.choice(ADJECTIVES)} {noun} {word} {rng.choice(NOUNS)}",
            f"{brand} {noun}",
            f"{brand} {word} {noun}",
            f"{noun} {rng.choice(['or', 'and', 'vs', '&', 'or not'])} {rng.choice(NOUNS)}",
            f"'{word}' {noun}",
            f'"{noun} {word}"',
            f"{noun}'s {word}",
            f"how to {word} {rng.choice(TABLES)} in {rng.choice(DATABASES)}",
            f"{rng.choice(DATABASES)} {word} {rng.choice(['syntax', 'example', 'tutorial', 'not working', 'vs ' + rng.choice(SQL_WORDS)])}",
            f"{word} {rng.choice(COLUMNS)} from {rng.choice(TABLES)} {rng.choice(['', 'example', 'tutorial'])}".strip(),
            f"{rng.randrange(2, 12)}' {rng.choice(['or', 'x', 'by'])} {rng.randrange(2, 12)}' {noun}",
            f'{rng.randrange(4, 40)}" {noun}',
            f"{rng.choice(ADJECTIVES)} {noun} {rng.choice(['under', 'over', 'around'])} ${rng.randrange(5, 500)}",
            f"{rng.choice(FIRST_NAMES).title()} {rng.choice(LAST_NAMES).title()}'s {noun}",
            f'"{word}" {rng.choice(["meaning", "definition", "synonym", "in a sentence"])}',
        ]
    )


def _code_search(rng: random.Random) -> str:
    lang, a, b, f = (
        rng.choice(LANGUAGES),
        rng.choice(IDENTS),
        rng.choice(IDENTS),
        rng.choice(FUNCTIONS),
    )
    n = rng.randrange(0, 100)
    return rng.choice(
        [
            f"{lang} {f}({a})",
            f"{lang} {a}.{f}()",
            f"{a}.{f}({b}) {lang}",
            f"{lang} if {a} > {n}",
            f"if ({a} {rng.choice(COMPARISONS)} {b}) {lang}",
            f"for ({a} = 0; {a} < {n}; {a}++)",
            f"{lang} for {a} in range({n})",
            f"{a} = [{b} for {b} in {a}s if {b} > {n}]",
            f"{a} => {a} * {n}",
            f"{lang} {a} != null",
            f"{lang} {a} ?? {b}",
            f"{lang} {a} && {b} || {rng.choice(IDENTS)}",
            f'{lang} "{a}" + "{b}" concat',
            f"{lang} '{a}' vs \"{a}\"",
            f"{lang} {f}('{a}', {n})",
            f'{lang} dict["{a}"] = {n}',
            f"{lang} {a}[{n}] out of range",
            f"{lang} {{{a}: {b}}} destructuring",
            f"{lang} {a} == {b} vs {a} === {b}",
            f"{lang} while ({a} < {n}) {{ {a}++ }}",
            f"{lang} return {a} > {b} ? {a} : {b}",
            f"select {a}, count(*) from {rng.choice(TABLES)} group by {a}",  # noqa: S608 (a search)
            f"sql where {rng.choice(COLUMNS)} {rng.choice(COMPARISONS)} {n}",
            f"{rng.choice(DATABASES)} {rng.choice(COLUMNS)} between {n} and {n + 10}",
            f"{lang} {a} += {n}",
            f"{lang} #include <{a}.h>",
            f"{lang} // {f} comment",
            f"{lang} /* {a} */",
            f"$ {rng.choice(['git', 'npm', 'pip', 'docker', 'kubectl', 'cargo'])} {f} --{a}",
            f"{lang} {a}.{f}(x => x.{b} > {n})",
            f"{rng.choice(DOM_APIS)}({rng.choice(DOM_ARGS)}) {rng.choice(DOM_QUESTIONS)}",
            f"{rng.choice(DOM_APIS)}({rng.choice(DOM_ARGS)})",
            f"{rng.choice(['js', 'javascript', 'jquery', 'react'])} {rng.choice(DOM_APIS)}({rng.choice(DOM_ARGS)}) {rng.choice(DOM_QUESTIONS)}",
            f"{rng.choice(DOM_PROPERTIES)} = {rng.choice(DOM_ARGS)} {rng.choice(DOM_QUESTIONS)}",
            f"{rng.choice(DOM_PROPERTIES)} vs {rng.choice(DOM_PROPERTIES)}",
        ]
    )


def _formula(rng: random.Random) -> str:
    """A spreadsheet formula as people search for it or paste it: upper or lower case, commas
    or semicolons between arguments (European locales), often after a word or two."""
    fn, op = rng.choice(SHEET_FUNCTIONS), rng.choice(COMPARISONS[:6])
    col, row = rng.choice("ABCDEFGH"), rng.randrange(1, 50)
    cell, other = f"{col}{row}", f"{rng.choice('ABCDEFGH')}{rng.randrange(1, 50)}"
    word = rng.choice(
        [
            "yes",
            "no",
            "ok",
            "late",
            "paid",
            "done",
            "x",
            "pass",
            "fail",
            "N/A",
            "",
            "A",
            "B",
            "high",
            "low",
        ]
    )
    word2 = rng.choice(["no", "", "open", "due", "-", "C", "0"])
    n = rng.randrange(0, 1000)
    quote_mark = '"' if rng.random() < 0.85 else "'"
    formula = rng.choice(
        [
            f'=IF({cell}{op}{other},"{word}","{word2}")',
            f'=IF({cell}{op}{n},"{word}",{other})',
            f'=IF({cell}{op}{n},"{word}","{word2}")',
            f'=IF({cell}="{word}",{n},0)',
            f'=IF({cell}="","",{cell}*{rng.randrange(2, 12)})',
            f'=IF({cell}<>"",{cell},"{word}")',
            f'=IF({cell}>={n},"{word}",IF({cell}>={n // 2},"{word2}","{word}"))',
            f'={fn}({col}:{col},"{op}{n}")',
            f'={fn}({col}2:{col}{row + 10},"{op}{n}")',
            f'={fn}({col}2:{col}{row + 10},"{op}"&{other})',
            f'=IF(AND({cell}{op}{n},{other}<>""),1,0)',
            f'=IF(OR({cell}="{word}",{other}="{word}"),"{word}","")',
            f'=COUNTIF({col}:{col},"<>")',
            f'=COUNTIF({col}:{col},"*{word}*")',
            f'=SUMIF({col}:{col},"{word}",{other[0]}:{other[0]})',
            f'=SUMIFS({col}:{col},{other[0]}:{other[0]},"{word}",{cell[0]}:{cell[0]},"{op}{n}")',
            f'=IFERROR(VLOOKUP({cell},{other[0]}:{chr(ord(other[0]) + 2)},{rng.randrange(2, 5)},FALSE),"")',
            f"=VLOOKUP({cell},{other[0]}:{chr(ord(other[0]) + 2)},{rng.randrange(2, 5)},{rng.choice(['FALSE', 'TRUE', '0'])})",
            f"={cell}{op}{other}",
            f"=({cell}-{other})/{other}",
            f"=SUM({col}1:{col}{row}){op}{n}",
            f"=MAX({col}1:{col}{row})*{rng.randrange(2, 9)}",
            f"=LEFT({cell},{rng.randrange(1, 9)})",
            f'={cell}&" "&{other}',
            f"=INDEX({col}:{col},MATCH({cell},{other[0]}:{other[0]},0))",
            f"=IF(ISBLANK({cell}),0,{other})",
            f"=IFERROR({cell}/{other},0)",
        ]
    )
    if rng.random() < 0.5:
        formula = formula.lower()
    if rng.random() < 0.2:
        formula = formula.replace(",", ";")
    if quote_mark != '"':
        formula = formula.replace('"', quote_mark)
    if rng.random() < 0.25:
        formula = formula.lstrip("=")
    prefix = rng.choice(
        [
            "",
            "",
            "excel ",
            "excel ",
            "sheets ",
            "google sheets ",
            "formula ",
            "calc ",
            "libreoffice ",
            "how to ",
            "numbers ",
            "xlsx ",
            "excel formula ",
        ]
    )
    suffix = rng.choice(
        ["", "", "", " not working", " error", " help", " example", " #value!", " returns 0"]
    )
    return rng.choice(
        [
            f"{prefix}{formula}{suffix}",
            f"{prefix}{formula}{suffix}",
            f"{fn.lower()} formula {cell} {op} {other}",
            f"excel {rng.choice(['if', 'countif', 'sumif'])} {rng.choice(['greater than', 'less than', 'not equal'])} {n}",
            f"{cell}{op}{n} then {word}",
        ]
    )


def _comparison(rng: random.Random) -> str:
    a, b = rng.choice(COLUMNS + IDENTS), rng.choice(COLUMNS + IDENTS)
    n, m = rng.randrange(0, 500), rng.randrange(0, 500)
    op, op2 = rng.choice(COMPARISONS), rng.choice(COMPARISONS)
    return rng.choice(
        [
            f"{a} {op} {n}",
            f"{a}{op}{n}",
            f"{a} {op} {n} and {b} {op2} {m}",
            f"{n} {op} {a} {op2} {m}",
            f"{a} {op} {b}",
            f"{rng.choice(NOUNS)} {rng.choice(['under', 'price'])} {op} {n}",
            f"rating {op} {rng.randrange(1, 5)} stars",
            f"{n} {op} {m}?",
            f"is {n} {op} {m}",
            f"{a} {op} {n} or {b} {op2} {m}",
            f"{n}{op}{a}{op2}{m}",
        ]
    )


def _non_latin(rng: random.Random) -> str:
    words = rng.sample(NON_LATIN, rng.randrange(1, 4))
    extra = rng.choice(
        ["", f" {rng.randrange(1, 2030)}", f" {rng.choice(NOUNS)}", " 2025", "?", " !", " (1)"]
    )
    return " ".join(words) + extra


def _email(rng: random.Random) -> str:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    local = rng.choice(
        [
            f"{first}.{last}",
            f"{first}{rng.randrange(1, 99)}",
            f"{first}+{rng.choice(['shop', 'news', 'orders', 'tag'])}",
            f"{first[0]}{last}",
            f"{first}_{last}",
            f"{last}-{first}",
        ]
    )
    return f"{local}@{rng.choice(MAIL_DOMAINS)}"


def _template_leftover(rng: random.Random) -> str:
    name = rng.choice(TEMPLATE_NAMES)
    left = rng.choice(TEMPLATE_SHAPES) % name
    prefix = rng.choice(
        ["", "/images", "/blog", "/static", "/assets/img", "/products", "/en", "/p"]
    )
    suffix = rng.choice(["", "", "/", ".jpg", ".png", "/index.html", "?v=1"])
    if left.endswith("/") and suffix[:1] in ("/", "."):
        suffix = ""
    return f"{prefix}/{quote(left, safe='/:@$+!*()')}{suffix}"


def _crawler_mangled(rng: random.Random) -> str:
    page = rng.choice(["", "blog/", "products/", "page/2/", "category/shoes/", "en/"])
    host = rng.choice(["www.example.com", SITE_HOST, "cdn.example.net", "partner.example.org"])
    slug = rng.choice(["hello-world", "about", "contact", "shoes", "sale", "news", "faq"])
    return rng.choice(
        [
            f"/{page}%22file://${rng.choice(['file', 'path', 'src'])}/%22",
            f"/{page}&quot;https://{host}/{slug}&quot;",
            f"/{page}https:/{host}/{slug}",
            f"/{page}http://{host}/{slug}/",
            f"/{page}{slug}/%22",
            f"/{page}{slug}%22%3E",
            f"/{page}{slug}/%5C%22",
            f"/{page}{slug}/)",
            f"/{page}{slug}',",
            f"/{page}{slug}/&amp;",
            f"/{page}{slug}?a=1&amp;b={rng.randrange(99)}",
            f"/{page}{slug}/%20%20",
            f"/{page}{slug}/undefined",
            f"/{page}{slug}/null",
            f"/{page}{slug}/[object%20Object]",
            f"/{page}{slug}/javascript:void(0)",
            f"/{page}{slug}/mailto:{_email(rng)}",
            f"/{page}{slug}/tel:+{rng.randrange(10**9, 10**11)}",
            f"/{page}{slug}/%E2%80%A6",
            f"/{page}{slug}/'",
            f"/{page}{slug}%27%20+%20%27",
            f"/{page}{slug}/index.php/{slug}",
            f"/{page}//{slug}",
        ]
    )


def _spam_path(rng: random.Random) -> str:
    words = rng.sample(SPAM_WORDS, rng.randrange(2, 5))
    sep = rng.choice(["-", "-", "_", "+", "%20"])
    name = sep.join(words)
    return rng.choice(
        [
            f"/{name}",
            f"/{name}.html",
            f"/{rng.choice(['blog', 'forum', 'wp-content/uploads', 'tag', 'p'])}/{name}",
            f"/{name}/{rng.randrange(1000, 99999)}",
            f"/index.php?{name}={rng.randrange(1, 999)}",
            f"/?{rng.choice(['ref', 'src', 's', 'kw'])}={name}",
            f"/{''.join(rng.choice('abcdefghijklmnopqrstuvwxyz0123456789') for _ in range(rng.randrange(6, 14)))}{rng.choice(['', '.html', '.php', '/'])}",
            f"/{quote(rng.choice(NON_LATIN))}-{name}",
        ]
    )


def _json_param(rng: random.Random) -> str:
    key, other = rng.choice(COLUMNS), rng.choice(IDENTS)
    value: object = rng.choice(
        [
            rng.randrange(999),
            rng.choice(BRANDS),
            rng.choice(NOUNS),
            True,
            None,
            [rng.randrange(9) for _ in range(3)],
            {"op": rng.choice(["gt", "lt", "eq", "in"]), "v": rng.randrange(99)},
        ]
    )
    blob = json.dumps(
        {
            key: value,
            other: rng.choice([rng.choice(SQL_WORDS), rng.randrange(50), rng.choice(NON_LATIN)]),
        },
        ensure_ascii=rng.random() < 0.5,
    )
    if rng.random() < 0.4:
        return (
            base64.b64encode(blob.encode()).decode()
            if rng.random() < 0.5
            else base64.urlsafe_b64encode(blob.encode()).decode().rstrip("=")
        )
    return blob


def _return_url(rng: random.Random) -> str:
    """A login page's return address: a page of the site, often with its own query, once or
    twice encoded, sometimes a whole URL."""
    page = rng.choice(SITE_PAGES).format(slug=rng.choice(SLUGS), n=rng.randrange(1, 99999))
    if rng.random() < 0.5:
        page += "?" + rng.choice(
            [
                f"q={quote_plus(rng.choice(NOUNS))}&page={rng.randrange(1, 9)}",
                f"q={quote_plus(_sql_word_search(rng))}",
                f"q={quote_plus(_code_search(rng))}&page={rng.randrange(1, 9)}",
                f"q={quote_plus(_formula(rng))}",
                f"tab={rng.choice(['orders', 'returns', 'billing'])}",
                f"id={rng.randrange(999)}&ref={rng.choice(['email', 'nav', 'footer'])}",
                f"sort={rng.choice(COLUMNS)}&dir={rng.choice(['asc', 'desc'])}",
                f"utm_source={rng.choice(['newsletter', 'google', 'fb'])}&utm_campaign=spring-{rng.randrange(2020, 2026)}",
            ]
        )
    if rng.random() < 0.4:
        page = f"https://{SITE_HOST}{page}"
    param = rng.choice(RETURN_PARAMS)
    encoded = quote(page, safe="") if rng.random() < 0.8 else quote(page, safe="/")
    if rng.random() < 0.25:  # a second round of encoding by a proxy or a redirect chain
        encoded = quote(encoded, safe="")
    extra = rng.choice(
        [
            "",
            "",
            "&reauth=1",
            f"&lang={rng.choice(['en', 'es', 'de'])}",
            "&error=expired",
            f"&state={rng.randbytes(6).hex()}",
        ]
    )
    return f"{rng.choice(LOGIN_PATHS)}?{param}={encoded}{extra}"


def _double_encoded(rng: random.Random) -> str:
    """A request whose values were percent-encoded twice, as proxies, mail link wrappers and
    redirect chains do: %2520 for a space, %253D for "=", %25C3%25A9 for "é"."""
    value = rng.choice(
        [
            rng.choice(NOUNS) + " " + rng.choice(NOUNS),
            rng.choice(BRANDS),
            rng.choice(NON_LATIN),
            f"https://{SITE_HOST}/{rng.choice(['products', 'blog'])}/{rng.choice(SLUGS)}?ref={rng.choice(['mail', 'app'])}",
            f"/{rng.choice(['account', 'cart', 'search'])}?q={rng.choice(NOUNS)}&page={rng.randrange(1, 9)}",
            _email(rng),
            f"{rng.choice(COLUMNS)}={rng.randrange(99)}&{rng.choice(COLUMNS)}={rng.choice(NOUNS)}",
            f"{rng.choice(NOUNS)} 50% off",
            f"{rng.choice(['Q3', 'report', 'invoice'])} ({rng.randrange(1, 9)}).pdf",
        ]
    )
    twice = quote(quote(value, safe=""), safe="")
    param = rng.choice(
        ["q", "url", "u", "link", "return", "file", "name", "target", "redirect", "email", "path"]
    )
    return rng.choice(
        [
            f"/{rng.choice(['search', 'out', 'go', 'track/click', 'l', 'redirect'])}?{param}={twice}",
            f"/{rng.choice(['files', 'download', 'p'])}/{twice}",
            f"/{rng.choice(['search', 'api/v1/find'])}?{param}={twice}&page={rng.randrange(1, 5)}",
        ]
    )


def _research_agent(rng: random.Random) -> str:
    name, url = rng.choice(RESEARCH_NAMES)
    version = f"{rng.randrange(1, 4)}.{rng.randrange(0, 10)}"
    return rng.choice(
        [
            f"Mozilla/5.0 (compatible; {name}/{version}; +{url})",
            f"Mozilla/5.0 (compatible; {name}; {url})",
            f"{name}/{version} (+{url})",
            f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{rng.randrange(100, 131)}.0.0.0 Safari/537.36 ({name}; +{url})",
        ]
    )


POOLS: dict[str, tuple[int, Callable[[random.Random], str]]] = {
    "search-sql-words": (4000, _sql_word_search),
    "search-code": (4000, _code_search),
    "formula": (3000, _formula),
    "comparison": (3000, _comparison),
    "non-latin": (2000, _non_latin),
    "email": (2000, _email),
    "template-leftover": (1500, _template_leftover),
    "crawler-mangled": (1500, _crawler_mangled),
    "spam-path": (2000, _spam_path),
    "json-base64": (3000, _json_param),
    "login-redirect": (4000, _return_url),
    "double-encoded": (3000, _double_encoded),
    "research-agent": (400, _research_agent),
}


def generated(name: str, split: str) -> list[str]:
    """The entries of one generated class in one part."""
    size, make = POOLS[name]
    return [entry for entry in _pool(name, size, make) if split_of("benign", name, entry) == split]


def _vocab(items: list[str], split: str) -> list[str]:
    chosen = [item for item in items if split_of("benign", item) == split]
    return chosen or items


def _agents(root: Path, split: str) -> tuple[list[str], list[float]]:
    folder = root / "benign" / "user-agents"
    agents: list[str] = []
    weights: list[float] = []
    for row in (folder / "intoli-user-agents.tsv").read_text(encoding="utf-8").splitlines():
        weight, _, agent = row.partition("\t")
        if split_of("ua", agent) == split:
            agents.append(agent)
            weights.append(float(weight))
    extra = [
        a
        for a in (folder / "uap-core-test-agents.txt").read_text(encoding="utf-8").splitlines()
        if a and split_of("ua", a) == split
    ]
    share = sum(weights) * 0.15 / max(1, len(extra))
    return agents + extra, weights + [share] * len(extra)


def _jwt(rng: random.Random) -> str:
    head = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    body = (
        base64.urlsafe_b64encode(
            json.dumps({"sub": rng.randrange(10**6), "exp": 1746000000}).encode()
        )
        .decode()
        .rstrip("=")
    )
    return f"{head}.{body}.{rng.randbytes(32).hex()}"


def _url_params(rng: random.Random, searches: list[str], products: list[str]) -> str:
    """A request whose arguments carry whole URLs, as share links, OAuth, tracking pixels and
    login redirects do."""
    page = (
        f"https://{SITE_HOST}/{rng.choice(['products', 'blog', 'search'])}/{rng.choice(products)}"
    )
    if rng.random() < 0.5:
        page += f"?q={quote_plus(rng.choice(searches))}&page={rng.randrange(1, 9)}"
    shape = rng.randrange(4)
    if shape == 0:
        return f"/share?url={_encoded(page, rng)}&title={_encoded(rng.choice(searches), rng)}"
    if shape == 1:
        callback = f"https://{SITE_HOST}/oauth/callback"
        return f"/oauth/authorize?client_id=web&redirect_uri={_encoded(callback, rng)}&state={rng.randbytes(8).hex()}"
    if shape == 2:
        return f"/collect?v=1&t=pageview&dl={_encoded(page, rng)}&dt={_encoded(rng.choice(searches), rng)}&cid={rng.randrange(10**9)}.{rng.randrange(10**9)}"
    return f"/login?next={_encoded(page.split(SITE_HOST, 1)[1], rng)}"


SEARCH_MIX = (  # class of a search box's query, and its share of searches
    ("search", 0.34),
    ("search-sql-words", 0.22),
    ("search-code", 0.14),
    ("formula", 0.11),
    ("comparison", 0.08),
    ("non-latin", 0.07),
    ("email", 0.04),
)


def benign_samples(root: Path, split: str, count: int, seed: int = 11) -> Iterator[Sample]:
    """`count` benign requests of one split."""
    rng = random.Random(seed + (0 if split == "tuning" else 1000))
    agents, weights = _agents(root, split)
    searches, junk = _vocab(SEARCHES + MORE_SEARCHES, split), _vocab(JUNK_PATHS, split)
    cms, slugs = _vocab(CMS_TARGETS, split), _vocab(SLUGS, split)
    pools = {name: generated(name, split) for name in POOLS}
    queries = {name: searches if name == "search" else pools[name] for name, _ in SEARCH_MIX}
    query_classes = [name for name, _ in SEARCH_MIX]
    query_weights = [share for _, share in SEARCH_MIX]
    emails = _vocab(EMAILS, split) + pools["email"]
    research = _vocab(RESEARCH_AGENTS, split) + pools["research-agent"]

    def query() -> tuple[str, str]:
        cls = rng.choices(query_classes, query_weights)[0]
        return cls, rng.choice(queries[cls])

    names = _vocab(
        [
            "José García",
            "O'Connor, Siobhán",
            "Zoë van der Berg",
            "李小龙",
            "Núñez-López",
            *MORE_NAMES,
        ],
        split,
    )
    streets = _vocab(
        ["C/ Mayor, 12, 3ºB", "Av. de la Constitución 4", "12 Baker St. (rear)", *MORE_STREETS],
        split,
    )
    notes = _vocab(
        [
            "Ring twice; dog inside.",
            "Call me after 5pm -- thanks!",
            "Gift wrap: yes/no? Yes.",
            *MORE_NOTES,
        ],
        split,
    )
    clients = [_ip(rng) for _ in range(max(100, count // 30))]
    when = START
    products = [
        "select-comfort-pillow",
        "union-jack-flag",
        "drop-earrings",
        "script-pen-set",
        "oreilly-cookbook",
        "kids-puzzle-100",
    ]
    for _ in range(count):
        when += timedelta(milliseconds=rng.randrange(1, 200))
        agent = rng.choices(agents, weights)[0]
        method, status, referer, cookie, xff, headers = "GET", 200, "", "", "", None
        kind = rng.random()
        if kind < 0.30:
            cls = "asset"
            target = rng.choice(
                [
                    "/static/app.{h}.js",
                    "/static/main.{h}.css",
                    "/images/p/{n}.jpg",
                    "/fonts/inter.woff2",
                ]
            ).format(h=rng.randbytes(4).hex(), n=rng.randrange(9999))
        elif kind < 0.42:
            cls = "page"
            target = rng.choice(
                [
                    "/",
                    "/about",
                    "/cart",
                    f"/products/{rng.choice(products)}",
                    f"/category/shoes?page={rng.randrange(1, 30)}&sort=price_asc",
                ]
            )
        elif kind < 0.50:
            cls = "cms"
            target = rng.choice(cms).format(
                n=rng.randrange(1, 99999), m=rng.randrange(1, 99), m2=rng.randrange(1, 99),
                s=rng.randrange(0, 300, 15), y=rng.randrange(2009, 2026), mo=rng.randrange(1, 13),
                d=rng.randrange(1, 29), slug=rng.choice(slugs), q=quote_plus(query()[1]),
                title=quote(query()[1].replace(" ", "_"), safe=""),
                b64=base64.urlsafe_b64encode(f"https://{SITE_HOST}/p/{rng.randrange(999)}".encode()).decode().rstrip("="),
            )  # fmt: skip
        elif kind < 0.62:
            cls, text = query()
            target = (
                f"/{rng.choice(['search', 'search', 'catalogsearch/result/', 'forum/search.php', 'wiki/Special:Search'])}?{rng.choice(['q', 'q', 'query', 's', 'keywords', 'search'])}={_encoded(text, rng)}"
                + rng.choice(["", "&page=2", "&in=books"])
            )
        elif kind < 0.68:
            cls = "json-base64"
            if rng.random() < 0.5:
                target = f"/api/{rng.choice(['products', 'events', 'report', 'items'])}?{rng.choice(['filter', 'd', 'data', 'state', 'q', 'payload'])}={_encoded(rng.choice(pools['json-base64']), rng)}"
            else:
                blob = json.dumps(
                    {
                        "brand": rng.choice(["Levi's", "O'Neill", "AT&T"]),
                        "ids": [rng.randrange(99) for _ in range(3)],
                        "in_stock": True,
                    }
                )
                target = rng.choice(
                    [
                        f"/api/products?filter={_encoded(blob, rng)}",
                        f"/api/events?d={quote(base64.b64encode(blob.encode()).decode(), safe='')}",
                        f"/graphql?query={_encoded('query P($id: ID!) { product(id: $id) { name price } }', rng)}&variables={_encoded(json.dumps({'id': rng.randrange(999)}), rng)}",
                    ]
                )
        elif kind < 0.74:
            cls = "tracking"
            pairs = [
                (
                    name,
                    base64.urlsafe_b64encode(rng.randbytes(rng.randrange(8, 240)))
                    .decode()
                    .rstrip("="),
                )
                for name in rng.sample(TRACKING, rng.randrange(2, 6))
            ]
            target = "/?" + "&".join(f"{k}={v}" for k, v in pairs)
        elif kind < 0.76:
            cls = "email"
            target = f"/{rng.choice(['newsletter/subscribe', 'account/register', 'password/reset', 'contact'])}?email={_encoded(rng.choice(emails), rng)}&source=footer"
        elif kind < 0.80:
            cls = rng.choice(["junk-path", "template-leftover", "crawler-mangled", "spam-path"])
            target = rng.choice(junk if cls == "junk-path" else pools[cls])
            status = rng.choice([404, 404, 200, 301])
        elif kind < 0.83:
            cls = "wordpress-site"
            target = rng.choice(
                [
                    "/blog/wp-login.php",
                    "/wp-login.php",
                    "/wp-admin/",
                    "/wp-admin/admin-ajax.php",
                    "/xmlrpc.php",
                    "/wp-content/themes/blog/style.css",
                ]
            )
            status = 302 if target == "/wp-admin/" else 200
        elif kind < 0.84:
            cls = "research-scanner"
            agent = rng.choice(research)
            target = rng.choice(
                [
                    "/",
                    "/",
                    "/robots.txt",
                    "/favicon.ico",
                    "/sitemap.xml",
                    "/.well-known/security.txt",
                ]
            )
        elif kind < 0.86:
            cls = "url-params"
            target = _url_params(rng, searches, products)
        elif kind < 0.88:
            cls = "login-redirect"
            target = rng.choice(pools["login-redirect"])
            status = rng.choice([200, 200, 302])
        elif kind < 0.89:
            cls = "double-encoded"
            target = rng.choice(pools["double-encoded"])
            status = rng.choice([200, 302, 404])
        elif kind < 0.92:
            cls = "api"
            method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
            target = f"/api/v2/orders/{rng.randrange(10**6)}?fields=id,status,total&expand=items"
            agent = rng.choice(
                [
                    "okhttp/4.12.0",
                    "python-requests/2.32.3",
                    "Go-http-client/2.0",
                    "axios/1.7.7",
                    "curl/8.10.1",
                    agent,
                ]
            )
        else:
            cls = "form"
            target = f"/checkout/address?name={_encoded(rng.choice(names), rng)}&street={_encoded(rng.choice(streets), rng)}&note={_encoded(rng.choice(notes), rng)}"
        if rng.random() < 0.5:
            referer = rng.choice(
                [
                    f"https://www.google.com/search?q={quote_plus(query()[1])}",
                    f"https://{SITE_HOST}/",
                    f"https://{SITE_HOST}/search?q={quote_plus(query()[1])}&page=2",
                    f"https://www.bing.com/search?q={quote(query()[1], safe='')}&form=QBLH",
                    f"https://{SITE_HOST}{rng.choice(pools['login-redirect'])}",
                    "https://l.facebook.com/l.php?u=https%3A%2F%2Fshop.example.com%2F&h=AT0x",
                    "https://t.co/AbC123",
                ]
            )
        if rng.random() < 0.6:
            cookie = rng.choice(COOKIES).format(
                n=rng.randrange(10**9),
                n2=rng.randrange(10**9),
                t=1746000000 + rng.randrange(10**6),
                hex=rng.randbytes(16).hex(),
                jwt=_jwt(rng),
            )
        if rng.random() < 0.2:
            xff = f"{_ip(rng)}, 10.0.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if rng.random() < 0.1:
            headers = {
                "accept_language": rng.choice(
                    ["es-ES,es;q=0.9,en;q=0.8", "de-DE,de;q=0.9", "zh-CN,zh;q=0.9,en-US;q=0.8"]
                )
            }
        line = _json_line(
            rng.choice(clients),
            when,
            method,
            target,
            status,
            agent=agent,
            referer=referer,
            cookie=cookie,
            xff=xff,
            headers=headers,
        )
        yield Sample(line, "benign", "generated", cls, "request")


def write_corpus(
    out_dir: Path, split: str, benign: int, *, root: Path, seed: int = 7
) -> tuple[Path, Path]:
    """Write ``wild-<split>.jsonl`` and its ``.labels`` (line, label, source, family, field)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / f"wild-{split}.jsonl"
    labels_path = out_dir / f"wild-{split}.labels"
    with (
        log_path.open("w", encoding="utf-8") as log,
        labels_path.open("w", encoding="utf-8") as labels,
    ):
        number = 0
        for samples in (attack_samples(root, split, seed), benign_samples(root, split, benign)):
            for sample in samples:
                number += 1
                log.write(sample.line + "\n")
                labels.write(
                    f"{number}\t{sample.label}\t{sample.source}\t{sample.family}\t{sample.field}\n"
                )
    return log_path, labels_path
