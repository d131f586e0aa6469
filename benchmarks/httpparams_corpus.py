"""Labeled access-log corpus from the HttpParams dataset (seeded, reproducible).

Each payload of a split is URL-encoded into one query parameter of a plausible request line,
with varied paths, parameter names, extra benign parameters, client IPs, user agents and
timestamps. The output is a combined-format log file plus a labels file with one tab-separated
line per log line: ``line_number  label  attack_type`` (line numbers start at 1), so any tool
that reads the log (``vigil scan``, the engine directly) can be scored against it.

    python benchmarks/httpparams_corpus.py --split test --out benchmarks/data
"""

# ruff: noqa: E501  (tables of user agents and sample values read better unwrapped)

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

from vigil.training.train import default_datasets_root

DEFAULT_DATASETS = default_datasets_root()
SPLITS = {"train": "payload_train.csv", "test": "payload_test.csv"}

PATHS = [
    "/search", "/products/view", "/account/profile", "/api/v1/items", "/index.php",
    "/catalog/item.jsp", "/tienda1/publico/anadir.jsp", "/tienda1/publico/autenticar.jsp",
    "/tienda1/publico/registro.jsp", "/blog/post", "/download", "/view", "/cart/add",
    "/user/settings", "/api/search", "/shop/category", "/news/article.php", "/forum/thread",
    "/login", "/contact", "/page.aspx", "/cgi-bin/query.pl", "/app/report", "/files/get",
]  # fmt: skip
PARAMS = [
    "id", "q", "search", "name", "user", "email", "page", "file", "cat", "item", "ref",
    "address", "city", "nombre", "apellidos", "dni", "direccion", "cp", "provincia", "pwd",
    "login", "query", "keyword", "path", "doc", "lang", "sort", "filter", "product", "title",
    "comment", "msg", "url", "tel", "ntc", "precio", "cantidad", "modo",
]  # fmt: skip
EXTRA_PARAMS = [
    ("lang", ["es", "en", "fr", "de"]), ("page", ["1", "2", "3", "10"]),
    ("sort", ["price", "name", "date", "relevance"]), ("view", ["grid", "list"]),
    ("utm_source", ["newsletter", "google", "twitter"]), ("B1", ["Entrar", "Registrar"]),
    ("modo", ["entrar", "registro", "insertar"]), ("limit", ["20", "50", "100"]),
]  # fmt: skip
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Konqueror/3.5; Linux) KHTML/3.5.8 (like Gecko)",
]  # fmt: skip
START = datetime(2024, 3, 1, 8, 0, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Sample:
    """One labeled parameter value from the dataset."""

    payload: str
    attack_type: str  # norm, sqli, xss, cmdi, path-traversal

    @property
    def label(self) -> str:
        return "benign" if self.attack_type == "norm" else "attack"


def load_samples(split: str, datasets: Path = DEFAULT_DATASETS) -> list[Sample]:
    """Every row of one split of the HttpParams dataset."""
    path = datasets / "httpparams" / SPLITS[split]
    with path.open(newline="", encoding="utf-8") as handle:
        return [Sample(row["payload"], row["attack_type"]) for row in csv.DictReader(handle)]


def random_ip(rng: random.Random) -> str:
    """A public-looking IPv4 address."""
    first = rng.choice([23, 31, 45, 62, 77, 81, 88, 91, 95, 104, 151, 176, 185, 188, 193, 212])
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def log_line(
    ip: str, when: datetime, method: str, target: str, status: int, size: int, referer: str,
    agent: str,
) -> str:  # fmt: skip
    """One combined-format access-log line."""
    stamp = when.strftime("%d/%b/%Y:%H:%M:%S %z")
    request = f"{method} {target} HTTP/1.1".replace("\\", "\\\\").replace('"', '\\"')
    return f'{ip} - - [{stamp}] "{request}" {status} {size} "{referer}" "{agent}"'


def encode_value(value: str, rng: random.Random) -> str:
    """`value` percent-encoded the way different clients do it."""
    return quote_plus(value, safe="") if rng.random() < 0.5 else quote(value, safe="")


def request_target(value: str, rng: random.Random) -> str:
    """A request target carrying `value` in one parameter among a few benign ones."""
    params = [(rng.choice(PARAMS), encode_value(value, rng))]
    for name, choices in rng.sample(EXTRA_PARAMS, rng.randrange(0, 3)):
        params.append((name, rng.choice(choices)))
    rng.shuffle(params)
    query = "&".join(f"{name}={val}" for name, val in params)
    return f"{rng.choice(PATHS)}?{query}"


def lines_for(samples: list[Sample], seed: int) -> Iterator[tuple[str, Sample]]:
    """(log line, sample) for every sample, in a seeded random order."""
    rng = random.Random(seed)
    order = list(samples)
    rng.shuffle(order)
    when = START
    for sample in order:
        when += timedelta(milliseconds=rng.randrange(5, 3000))
        status = 200 if sample.label == "benign" else rng.choice([200, 200, 400, 403, 404, 500])
        referer = rng.choice(["-", "https://shop.example.com/", "https://shop.example.com/search"])
        line = log_line(
            random_ip(rng), when, rng.choice(["GET"] * 9 + ["HEAD"]),
            request_target(sample.payload, rng), status, rng.randrange(200, 40000), referer,
            rng.choice(AGENTS),
        )  # fmt: skip
        yield line, sample


def write_corpus(
    split: str, out_dir: Path, *, datasets: Path = DEFAULT_DATASETS, seed: int = 7
) -> tuple[Path, Path]:
    """Write ``httpparams-<split>.log`` and its ``.labels`` file into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / f"httpparams-{split}.log"
    labels_path = out_dir / f"httpparams-{split}.labels"
    with log_path.open("w", encoding="utf-8") as log, labels_path.open("w") as labels:
        for number, (line, sample) in enumerate(lines_for(load_samples(split, datasets), seed), 1):
            log.write(line + "\n")
            labels.write(f"{number}\t{sample.label}\t{sample.attack_type}\n")
    return log_path, labels_path


def read_labels(path: Path) -> dict[int, tuple[str, str]]:
    """Line number -> (label, attack type) from a labels file."""
    labels: dict[int, tuple[str, str]] = {}
    with path.open() as handle:
        for row in handle:
            number, label, kind = row.rstrip("\n").split("\t")
            labels[int(number)] = (label, kind)
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=sorted(SPLITS), default="test")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    log_path, labels_path = write_corpus(
        args.split, args.out, datasets=args.datasets, seed=args.seed
    )
    print(f"wrote {log_path} and {labels_path}")


if __name__ == "__main__":
    main()
