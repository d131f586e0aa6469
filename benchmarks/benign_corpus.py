"""Seeded generator of benign web traffic, to measure false positives of the detection rules.

The requests imitate what a shop, a blog and an API behind one server receive: browsers and
crawlers fetching pages and static assets, searches with quotes and apostrophes, product
names containing SQL words ("Select Comfort", "Union Jack", "drop earrings"), form values
with Spanish names and addresses, JSON and base64 in query strings, long tracking parameters,
OAuth callbacks and API calls from HTTP libraries. The output has the same shape as
`httpparams_corpus`: a combined-format log and a labels file (every line ``benign``).

    python benchmarks/benign_corpus.py --count 100000 --out benchmarks/data
"""

# ruff: noqa: E501  (tables of user agents and sample values read better unwrapped)

from __future__ import annotations

import argparse
import base64
import json
import random
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus, urlencode

from httpparams_corpus import START, log_line, random_ip

BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 Edg/119.0.2151.97",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/119.0.6045.169 Mobile/15E148 Safari/604.1",
]  # fmt: skip
CRAWLERS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
]  # fmt: skip
API_CLIENTS = [
    "okhttp/4.12.0", "python-requests/2.31.0", "Go-http-client/2.0", "axios/1.6.2",
    "MyShopApp/5.4.1 (iPhone; iOS 17.1; Scale/3.00)", "curl/8.4.0", "PostmanRuntime/7.36.0",
]  # fmt: skip
PRODUCTS = [
    "Select Comfort Mattress", "Union Jack Cushion", "Drop Earrings Silver", "Table Lamp Oak",
    "Delete Key Replacement", "Insert Molding Kit", "Update Firmware Cable", "Drop Leaf Table",
    "Union Square Print", "Select Blend Coffee", "Order Book Leather", "Where's Waldo Book",
    "Script Font Poster", "Alert Collar for Dogs", "Exec Office Chair", "Grant's Whisky",
    "Levi's 501 Jeans", "Women's Running Shoes", "Kid's Bike 16\"", "12\" Pizza Pan",
    "O'Neill Wetsuit", "Rock 'n' Roll Vinyl", "Ben & Jerry's Cup", "AT&T Phone Case",
    "Dr. Martens 1460", "Procter & Gamble Set", "Mac'n'Cheese Mix", "L'Oreal Shampoo",
    "C++ Primer 5th Ed.", "C# in Depth", "Sleep Mask Silk", "Ping Pong Table",
    "Cat Food 5kg", "Shell Suit Retro", "System Shock Game", "Eval Board Arduino",
]  # fmt: skip
SEARCHES = [
    "select comfort", "union jack", "drop earrings", "\"exact phrase\" search", "women's shoes",
    "the \"best\" laptop 2024", "5' 10\" height chart", "50% off sale", "o'brien", "don't stop",
    "rock and roll", "black or white", "1 or 2 bedrooms", "size 10 and up", "where to buy",
    "how to drop a table in excel", "credit union selection", "delete from favorites",
    "update my address", "c# tutorial", "c++ vs java", "javascript: the good parts",
    "price alert", "document cookie policy", "cat food", "ping pong", "sleep better",
    "drop-down menu css", "sql tutorial for beginners", "user's guide", "3 < 5 > 2",
    "email me @ work", "tom & jerry", "fish & chips", "r&b music", "1+1", "-20% coupon",
    "it's 5 o'clock", "\"hello world\" program", "path/to/file", "~/documents", "#hashtag",
    "café crème", "naïve résumé", "東京 ホテル", "Привет мир", "emoji 😀 test",
]  # fmt: skip
FIRST = ["José", "María", "Juan", "Ana", "Luis", "Carmen", "Jean-Luc", "Zoë", "Siobhán", "Ole"]
LAST = ["García", "O'Connor", "Fernández-López", "D'Angelo", "Smith", "van der Berg", "Núñez"]
STREETS = ["C/ Mayor, 12, 3ºB", "Av. de la Constitución 4", "Calle Alcalá 125 - 2º izq",
           "12 Baker St. (rear)", "Rua Augusta, 27/2", "Plaza España s/n", "P.º de Gracia, 43"]  # fmt: skip
CITIES = ["Madrid", "Barcelona", "València", "A Coruña", "San Sebastián/Donostia", "L'Hospitalet"]


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _b64(rng: random.Random, n: int) -> str:
    return base64.urlsafe_b64encode(rng.randbytes(n)).decode().rstrip("=")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _q(pairs: list[tuple[str, str]], rng: random.Random) -> str:
    return urlencode(pairs, quote_via=quote_plus if rng.random() < 0.6 else quote)


Request = tuple[str, str, str]  # method, target, user agent


def static_asset(rng: random.Random) -> Request:
    kind = rng.random()
    if kind < 0.4:
        target = f"/static/js/{rng.choice(['app', 'vendor', 'runtime', 'chunk-' + _hex(rng, 4)])}.{_hex(rng, 8)}.js"
    elif kind < 0.6:
        target = f"/assets/css/main.css?v={rng.randrange(100, 999)}"
    elif kind < 0.85:
        target = f"/images/products/{_slug(rng.choice(PRODUCTS))}-{rng.randrange(1, 6)}.jpg"
    else:
        target = rng.choice(["/favicon.ico", "/fonts/inter-var.woff2", "/robots.txt",
                             "/sitemap.xml", "/apple-touch-icon.png", "/manifest.json"])  # fmt: skip
    return "GET", target, rng.choice(BROWSERS + CRAWLERS)


def page_view(rng: random.Random) -> Request:
    kind = rng.random()
    if kind < 0.3:
        target = f"/products/{_slug(rng.choice(PRODUCTS))}"
    elif kind < 0.55:
        pairs = [("page", str(rng.randrange(1, 30))),
                 ("sort", rng.choice(["price_asc", "price_desc", "newest", "rating"]))]  # fmt: skip
        if rng.random() < 0.4:
            pairs.append(("price", f"{rng.randrange(0, 50)}-{rng.randrange(50, 500)}"))
        if rng.random() < 0.3:
            pairs.append(("size", rng.choice(["S", "M", "L", "XL", "M/L", "42 1/2"])))
        target = f"/category/{rng.choice(['shoes', 'home', 'books', 'toys'])}?{_q(pairs, rng)}"
    elif kind < 0.75:
        target = f"/blog/2024/{rng.randrange(1, 13):02d}/{_slug(rng.choice(SEARCHES))}"
    else:
        target = rng.choice(["/", "/about", "/contact", "/cart", "/checkout/step-2",
                             "/account/orders", "/help/returns", "/es/", "/en/"])  # fmt: skip
    return "GET", target, rng.choice(BROWSERS * 3 + CRAWLERS)


def search(rng: random.Random) -> Request:
    text = rng.choice(SEARCHES + [p.lower() for p in PRODUCTS])
    pairs = [("q", text)]
    if rng.random() < 0.3:
        pairs.append(("page", str(rng.randrange(2, 9))))
    if rng.random() < 0.2:
        pairs.append(("filter", json.dumps({"brand": rng.choice(["Levi's", "O'Neill", "AT&T"]),
                                            "in_stock": True})))  # fmt: skip
    return "GET", f"/search?{_q(pairs, rng)}", rng.choice(BROWSERS)


def form_submit(rng: random.Random) -> Request:
    pairs = [
        ("nombre", rng.choice(FIRST)), ("apellidos", rng.choice(LAST)),
        ("email", f"{_slug(rng.choice(FIRST))}.{rng.randrange(99)}@example.org"),
        ("direccion", rng.choice(STREETS)), ("ciudad", rng.choice(CITIES)),
        ("cp", f"{rng.randrange(1000, 52999):05d}"), ("tel", f"+34 6{rng.randrange(10**7, 10**8)}"),
        ("password", rng.choice(["c4rb0n4to", "Qwerty!2024", "p@ss w0rd", "abc'123", "x--y"])),
        ("comentario", rng.choice(["Entregar por la tarde, por favor.", "Call me after 5pm -- thanks!",
                                  "Gift wrap: yes/no? Yes.", "N/A", "Ring twice; dog inside."])),
    ]  # fmt: skip
    return "GET", f"/tienda1/publico/registro.jsp?{_q(pairs, rng)}", rng.choice(BROWSERS)


def api_call(rng: random.Random) -> Request:
    kind = rng.random()
    agent = rng.choice(API_CLIENTS)
    if kind < 0.3:
        pairs = [("status", rng.choice(["shipped", "pending", "cancelled"])),
                 ("limit", str(rng.choice([20, 50, 100]))), ("offset", str(rng.randrange(0, 5000)))]  # fmt: skip
        return "GET", f"/api/v2/orders?{_q(pairs, rng)}", agent
    if kind < 0.5:
        return (
            rng.choice(["GET", "PUT", "DELETE", "PATCH"]),
            f"/api/v1/users/{rng.randrange(10**6)}",
            agent,
        )
    if kind < 0.65:
        variables = {
            "id": rng.randrange(10**5),
            "filter": {"name": rng.choice(LAST), "tags": ["a", "b"]},
        }
        query = "query Product($id: ID!) { product(id: $id) { name price } }"
        pairs = [("query", query), ("variables", json.dumps(variables))]
        return "GET", f"/graphql?{_q(pairs, rng)}", agent
    if kind < 0.8:
        payload = json.dumps(
            {"user": rng.randrange(10**6), "events": ["view", "click"], "ts": 1709280000}
        )
        token = base64.b64encode(payload.encode()).decode()
        return "GET", f"/api/events?filter={quote(token, safe='')}&cursor={_b64(rng, 24)}", agent
    if kind < 0.9:
        return "OPTIONS", f"/api/v2/cart/{_hex(rng, 12)}", rng.choice(BROWSERS)
    return "POST", rng.choice(["/api/v1/cart", "/api/v1/login", "/api/v2/checkout"]), agent


def tracking(rng: random.Random) -> Request:
    if rng.random() < 0.5:
        pairs = [("utm_source", rng.choice(["google", "newsletter", "facebook"])),
                 ("utm_medium", rng.choice(["cpc", "email", "social"])),
                 ("utm_campaign", rng.choice(["spring_sale", "black-friday-2024", "drop_week"])),
                 ("gclid", _b64(rng, 60)), ("fbclid", _b64(rng, 45))]  # fmt: skip
        return "GET", f"/?{_q(pairs, rng)}", rng.choice(BROWSERS)
    page = f"https://shop.example.com/search?q={quote_plus(rng.choice(SEARCHES))}&page=2"
    pairs = [("v", "1"), ("_v", "j101"), ("a", str(rng.randrange(10**9))), ("t", "pageview"),
             ("dl", page), ("dt", rng.choice(PRODUCTS) + " | Shop"), ("cid", f"{rng.randrange(10**9)}.{rng.randrange(10**9)}"),
             ("sd", "24-bit"), ("sr", "1920x1080"), ("z", str(rng.randrange(10**9))),
             ("_gid", _b64(rng, 120))]  # fmt: skip
    return "GET", f"/collect?{_q(pairs, rng)}", rng.choice(BROWSERS)


def auth_flow(rng: random.Random) -> Request:
    kind = rng.random()
    if kind < 0.35:
        nxt = rng.choice(["/account/orders", "/checkout?step=2", "/search?q=women%27s+shoes"])
        return "GET", f"/login?{_q([('next', nxt)], rng)}", rng.choice(BROWSERS)
    if kind < 0.7:
        pairs = [("code", _b64(rng, 32)), ("state", _hex(rng, 32)),
                 ("redirect_uri", "https://shop.example.com/oauth/callback")]  # fmt: skip
        return "GET", f"/oauth/callback?{_q(pairs, rng)}", rng.choice(BROWSERS)
    if kind < 0.85:
        return "GET", f"/reset-password?token={_hex(rng, 48)}", rng.choice(BROWSERS)
    return "POST", "/login", rng.choice(BROWSERS)


GENERATORS: list[tuple[float, Callable[[random.Random], Request]]] = [
    (0.30, static_asset), (0.22, page_view), (0.15, search), (0.05, form_submit),
    (0.13, api_call), (0.10, tracking), (0.05, auth_flow),
]  # fmt: skip


def benign_lines(count: int, seed: int = 11) -> Iterator[str]:
    """`count` benign combined-format log lines."""
    rng = random.Random(seed)
    weights = [w for w, _ in GENERATORS]
    makers = [g for _, g in GENERATORS]
    clients = [random_ip(rng) for _ in range(max(50, count // 40))]
    when = START
    for _ in range(count):
        method, target, agent = rng.choices(makers, weights)[0](rng)
        when += timedelta(milliseconds=rng.randrange(1, 400))
        status = rng.choice([200] * 12 + [301, 304, 404])
        referer = rng.choice(["-", "https://shop.example.com/", "https://www.google.com/",
                              f"https://shop.example.com/search?q={quote_plus(rng.choice(SEARCHES))}"])  # fmt: skip
        yield log_line(rng.choice(clients), when, method, target, status,
                       rng.randrange(100, 90000), referer, agent)  # fmt: skip


def write_corpus(out_dir: Path, count: int = 100_000, seed: int = 11) -> tuple[Path, Path]:
    """Write ``benign-<count>.log`` and its ``.labels`` file into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / f"benign-{count}.log"
    labels_path = out_dir / f"benign-{count}.labels"
    with log_path.open("w", encoding="utf-8") as log, labels_path.open("w") as labels:
        for number, line in enumerate(benign_lines(count, seed), 1):
            log.write(line + "\n")
            labels.write(f"{number}\tbenign\tnorm\n")
    return log_path, labels_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    args = parser.parse_args()
    log_path, labels_path = write_corpus(args.out, args.count, args.seed)
    print(f"wrote {log_path} and {labels_path}")


if __name__ == "__main__":
    main()
