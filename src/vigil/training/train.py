"""Training of the supervised classifier: examples, fit, calibration, validation gates, ONNX export.

Examples are request values (see `features`) labelled benign (0) or attack (1), from three
sources, later ones overriding earlier ones for the same decoded value:

1. the train split of the HttpParams payload data set (``payload_train.csv``);
2. benign values of generated traffic (`vigil.simulate.traffic`), which teaches the model what
   ordinary paths, searches and tracking parameters look like, and seeded benign values with
   punctuation (`benign_values`: id lists, prices, dates, e-mail addresses, short phrases);
3. analyst-reviewed events from the database: ``false_positive`` → benign,
   ``true_positive`` → attack. They carry `REVIEW_WEIGHT` times the weight of other examples,
   so a handful of reviews moves the model.

A seeded stratified split keeps `VALIDATION_FRACTION` of the non-reviewed examples aside. The
model is a logistic regression over hashed n-grams and numeric features. Its probabilities are
calibrated by Platt scaling fitted on out-of-fold decision values of the training part, and
the scaling is folded into the weights, so the exported model is one linear layer whose
output already is the calibrated probability. The operating threshold is chosen on those
out-of-fold probabilities, then F1, PR-AUC and the false-positive rate at that threshold are
measured on the held-out validation part: the model is activated only when every `GATES`
condition holds. The same seed gives the same split, weights, metrics and version.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import logging
import os
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from vigil.detect.ml import features
from vigil.detect.ml.runtime import CLASSIFIER_FILE, MANIFEST_FILE
from vigil.errors import VigilError

log = logging.getLogger(__name__)

VALIDATION_FRACTION: Final = 0.2
REVIEW_WEIGHT: Final = 25.0
TARGET_OOF_FPR: Final = 0.001
MIN_THRESHOLD: Final = 0.8
MAX_THRESHOLD: Final = 0.95
GATES: Final = {"f1": 0.97, "pr_auc": 0.99, "fpr_at_threshold": 0.005}
SOURCE_GATES: Final = {"attack_recall": 0.85, "benign_fpr": 0.005}
"""Gates every source must pass on its own share of the validation part: an attack source's
values flagged at the threshold, a benign source's values wrongly flagged. A model that only
learnt one data set fails on the others' share."""
SOURCE_GATE_MIN_SAMPLES: Final = 40
CORPUS_BENIGN_WEIGHT: Final = 2.0
"""The benign corpus is a few thousand distinct values of the oddities real logs are full of
(junk paths, code in searches); weighted so that they count against the many attacks."""
DATASETS_ENV: Final = "VIGIL_DATASETS_DIR"
"""Overrides where the labelled data sets are (default: the checkout's `data/`)."""
DATASETS_IN_CHECKOUT: Final = Path("data")


class TrainingError(VigilError):
    """Training could not run (no data set, nothing to learn from)."""


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled request value: raw text as logged, its kind, label and weight."""

    raw: str
    kind: str
    label: int
    weight: float = 1.0
    origin: str = "dataset"


@dataclass(slots=True)
class TrainConfig:
    """What to train from and how."""

    seed: int = 7
    bits: int = features.DEFAULT_BITS
    c: float = 4.0
    datasets: Path | None = None
    traffic_lines: int = 40_000
    benign_values: int = 10_000
    max_examples: int | None = None
    shuffle_labels: bool = False
    corpora: Path | None = None
    """Root of the development corpora (data/payloads, data/benign); default: the data sets'."""
    wild_benign_lines: int = 40_000
    """Benign requests of the development corpora's tuning part whose values are learnt."""


@dataclass(slots=True)
class TrainedClassifier:
    """A fitted classifier with its threshold, validation metrics and gate verdict."""

    coef: npt.NDArray[np.float64]
    intercept: float
    bits: int
    threshold: float
    metrics: dict[str, float]
    samples: int
    seed: int
    sources: dict[str, int] = field(default_factory=dict)
    failed_gates: list[str] = field(default_factory=list)
    source_metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether every validation gate held."""
        return not self.failed_gates

    def predict_proba(self, values: Sequence[features.Value]) -> npt.NDArray[np.float64]:
        """Calibrated attack probabilities computed with numpy (reference for the ONNX model)."""
        x = features.dense_features(values, self.bits).astype(np.float64)
        z = x @ self.coef + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


def default_datasets_root() -> Path:
    """The labelled data sets: `$VIGIL_DATASETS_DIR`, else the checkout's ``data/`` (each set
    with its licence and provenance). Training, the tests and the benchmarks all look here."""
    configured = os.environ.get(DATASETS_ENV)
    if configured:
        return Path(configured).expanduser()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists():
            return parent / DATASETS_IN_CHECKOUT
    # Installed without a checkout: the data sets are where the user runs vigil from.
    return DATASETS_IN_CHECKOUT


def default_dataset_dir() -> Path:
    """The HttpParams data set (see `default_datasets_root`)."""
    return default_datasets_root() / "httpparams"


def load_payloads(path: Path) -> list[Example]:
    """Examples from one HttpParams CSV (columns payload, length, attack_type, label)."""
    if not path.exists():
        raise TrainingError(f"data set file not found: {path} (pass --datasets DIR)")
    out: list[Example] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            out.append(Example(row["payload"], "args", int(row["label"] == "anom"), 1.0, "dataset"))
    return out


def benign_line_examples(
    lines: Iterable[str], log_format: str, origin: str, weight: float = 1.0
) -> list[Example]:
    """The distinct non-trivial values (path and arguments) of benign log lines."""
    from vigil.batch import LogRecord
    from vigil.ingest.parser import parse_line

    seen: set[tuple[str, str]] = set()
    out: list[Example] = []
    for line in lines:
        record = parse_line(line, log_format)
        if not isinstance(record, LogRecord):
            continue
        for _target, kind, raw in features.request_values(record):
            text, _ = features.decode_value(raw, kind)
            if features.is_trivial(text, kind) or (kind, text) in seen:
                continue
            seen.add((kind, text))
            out.append(Example(raw, kind, 0, weight, origin))
    return out


def traffic_examples(lines: int, seed: int) -> list[Example]:
    """Benign values of generated traffic (the generator's attack lines are left out)."""
    if lines <= 0:
        return []
    try:
        from vigil.simulate.traffic import generate
    except ImportError:
        log.warning("event=ml_train_no_traffic reason=simulate.traffic unavailable")
        return []
    benign = (line.text for line in generate(lines, seed=seed) if line.label is None)
    return benign_line_examples(benign, "combined", "traffic")


_WORDS: Final = (
    "blue", "red", "new", "bag", "shoes", "garden", "table", "lamp", "winter", "sale", "kids",
    "coffee", "mug", "book", "guide", "black", "white", "large", "small", "gift", "card",
    "price", "color", "size", "brand", "stock", "name", "city", "order", "user", "page",
)  # fmt: skip
# Ordinary words that are also SQL, shell or script keywords: benign searches contain them.
_KEYWORDS: Final = (
    "select", "union", "drop", "delete", "update", "insert", "where", "order by", "from",
    "script", "alert", "exec", "sleep", "table", "join", "cat", "ping", "shell", "system",
    "eval", "or", "and", "not", "like", "group", "having", "document", "window", "cookie",
)  # fmt: skip
_CODE_NAMES: Final = (
    "print_r", "var_dump", "map", "filter", "reduce", "push_back", "vector", "install", "flex",
    "useEffect", "setState", "printf", "len", "append", "join", "split", "format", "async",
    "await", "lambda", "match", "grid", "list", "dict", "array", "string", "parseInt", "fetch",
)  # fmt: skip
_SCRIPTS: Final = ((0x00C0, 0x00FF), (0x0400, 0x044F), (0x3040, 0x30FF), (0x4E00, 0x4FFF))


# A minifier drops the blanks around GraphQL's punctuation, never those between two names.
_GRAPHQL_BLANKS: Final = re.compile(r"\s*([{}():,!])\s*")


def benign_values(count: int, seed: int) -> list[Example]:
    """Seeded benign values with the punctuation and structure that plain-word data sets lack.

    Id lists, prices, ranges, dates, e-mail addresses, URLs with query strings, JSON objects,
    GraphQL-like queries, non-Latin text and searches that mix ordinary words with SQL or
    script keywords, quotes, ampersands and comparison signs all appear in ordinary query
    strings; without them the classifier would learn that any punctuation means attack.
    """
    rng = random.Random(seed)
    out: list[Example] = []

    def word() -> str:
        return rng.choice(_WORDS)

    def keyword() -> str:
        return rng.choice(_KEYWORDS)

    def foreign() -> str:
        low, high = rng.choice(_SCRIPTS)
        return "".join(chr(rng.randrange(low, high)) for _ in range(rng.randrange(2, 7)))

    def scalar() -> str:
        kind = rng.randrange(4)
        if kind == 0:
            return str(rng.randrange(1000))
        if kind == 1:
            return rng.choice(("true", "false", "null"))
        if kind == 2:
            return f"[{', '.join(str(rng.randrange(99)) for _ in range(rng.randrange(1, 4)))}]"
        return f'"{word()}"'

    def json_object() -> str:
        keys = rng.sample(_WORDS, rng.randrange(1, 4))
        sep = rng.choice((",", ", "))
        return "{" + sep.join(f'"{k}":{rng.choice(("", " "))}{scalar()}' for k in keys) + "}"

    def graph_query() -> str:
        # GraphQL over GET as clients send it: spaced or minified, with variables, fragments
        # and nested connections. Without the minified form the classifier read "$first:Int"
        # and the braces as a NoSQL operator in JSON.
        fields = " ".join(rng.sample(_WORDS, rng.randrange(1, 4)))
        name, var, kind = word().title(), word(), rng.choice(("ID!", "Int", "String", "Boolean"))
        text = rng.choice(
            (
                f"query {name}(${var}: {kind}) {{ {word()}({var}: ${var}) {{ {fields} }} }}",
                f"query {name}(${var}:{kind}){{{word()}({var}:${var})"
                f"{{edges{{node{{{fields}}}}}}}}}",
                f"{{ {word()} {{ {word()}(first: {rng.randrange(1, 50)}) "
                f"{{ nodes {{ {fields} }} }} }} }}",
                f"fragment {name}Fields on {name} {{ {fields} }} "
                f"query {{ {word()} {{ ...{name}Fields }} }}",
                f'query {{ {word()}(handle: "{word()}-{word()}") {{ {fields} }} }}',
                "{__typename}",
            )
        )
        return text if rng.random() < 0.5 else _GRAPHQL_BLANKS.sub(r"\1", text)

    def wiki_markup() -> str:
        # What wiki users search for and preview: templates, parser functions, links. No
        # {{#expr:}} arithmetic: that is the shape of a template-injection probe.
        a, b = word(), word()
        return rng.choice(
            (
                f"{{{{#if:{{{{{{{rng.randrange(1, 4)}|}}}}}}|{a}|{b}}}}}",
                f"{{{{#invoke:{a.title()}|{b}|{word()}}}}}",
                f"{{{{#switch:{a}|{b}={word()}|#default={word()}}}}}",
                f"{{{{Infobox {a}|name={b.title()}|{word()}={rng.randrange(1800, 2025)}}}}}",
                f"{{{{cite web |url=https://www.example.org/{a} |title={b.title()}}}}}",
                f"{{{{{{{a}|{b}}}}}}}",
                f"[[Category:{a.title()} {b}]]",
                f"'''{a}''' and ''{b}''",
                f"insource:/\\{{\\{{{a.title()}/",
            )
        )

    def emoji() -> str:
        return "".join(chr(rng.randrange(0x1F300, 0x1FAFF)) for _ in range(rng.randrange(1, 4)))

    def code() -> str:
        # What people paste into a search box: calls, generics, flags, operators.
        name, other = rng.choice(_CODE_NAMES), rng.choice(_CODE_NAMES)
        tool = rng.choice(("npm", "pip", "git", "docker", "cargo"))
        return rng.choice(
            (
                f"{name}({other})",
                f"std::{name}<{rng.choice(('int', 'string', 'T'))}> {other}",
                f"{tool} {name} --{word()}-{word()}",
                f"{name}.{other}(x => x {rng.choice('*+-')} {rng.randrange(9)})",
                f"{name} vs {other}",
                f"[x for x in {name}] {word()}",
                f"{name}: {rng.randrange(9)} {rng.randrange(9)} auto;",
            )
        )

    def url() -> str:
        query = "&".join(f"{word()}={word()}" for _ in range(rng.randrange(1, 4)))
        host = rng.choice(("www.example.com", "shop.example.org", "cdn.example.net"))
        return f"https://{host}/{word()}/{word()}?{query}"

    def search() -> str:
        parts = [word(), keyword(), word()]
        rng.shuffle(parts)
        text = " ".join(parts)
        decoration = rng.randrange(8)
        if decoration == 0:
            return f'"{text}"'
        if decoration == 1:
            return f"{word()}'s {text}"
        if decoration == 2:
            return f"{text} & {word()}"
        if decoration == 3:
            return f"{text}?"
        if decoration == 4:
            return f"{rng.randrange(1, 50)} < {text} > {rng.randrange(50, 99)}"
        if decoration == 5:
            return f"{text} -{word()} +{word()}"
        return text

    def brands() -> str:
        # The browser brands of client hints that analytics beacons forward (uafvl=...).
        major = rng.randrange(100, 140)
        full = f"{major}.0.{rng.randrange(5000, 7000)}.{rng.randrange(10, 200)}"
        grease = rng.choice(("Not=A?Brand", "Not_A Brand", "Not/A)Brand", "Not A(Brand"))
        if rng.random() < 0.5:
            return f"Chromium;{full}|Google Chrome;{full}|{grease};99.0.0.0"
        return f'"Chromium";v="{major}", "Google Chrome";v="{major}", "{grease}";v="99"'

    def tool_input() -> str:
        # What calculators, regex testers, LaTeX renderers and jq playgrounds get in their
        # arguments, and a URI with a fragment as SAML's SigAlg names one. Not markup: a tag
        # of the kind forums allow (<b>, <h1>) is also how HTML injection is probed, and taught
        # as benign it cost XSS and XXE payloads of the corpora's tuning part.
        a, b = word(), word()
        return rng.choice(
            (
                f"^(\\d{{{rng.randrange(1, 5)}}})-(\\d{{{rng.randrange(1, 5)}}})$",
                f"\\d{{{rng.randrange(1, 5)}}}-\\w+",
                f"[A-Z][a-z]+\\s{a}",
                f"\\frac{{{a[0]}}}{{{b[0]}}} \\le \\sqrt{{x}}",
                f"\\sum_{{i=1}}^{{{rng.randrange(2, 99)}}} i^2",
                # As logged: the plus of a formula arrives encoded, a bare one is a blank.
                f"({rng.randrange(9)}%2B{rng.randrange(9)})*{rng.randrange(9)}^2/{rng.randrange(9)}",
                f"sqrt({rng.randrange(2, 99)}) * pi",
                f'.{a}[] | select(.{b} == "{word()}")',
                f".{a} | length",
                f"{rng.choice(('h1', 'p', '.btn'))}{{color:{rng.choice(('red', 'blue'))}}}",
                rng.choice(
                    (
                        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
                        "http://www.w3.org/2001/04/xmlenc#sha256",
                    )
                ),
                f"https://www.example.com/{a}#{b}-{rng.randrange(9)}",
            )
        )

    makers = (
        brands,
        tool_input,
        tool_input,
        lambda: ",".join(str(rng.randrange(1, 99999)) for _ in range(rng.randrange(2, 8))),
        lambda: f"{rng.randrange(1, 500)}-{rng.randrange(500, 2000)}",
        lambda: f"${rng.randrange(1, 999)}.{rng.randrange(10, 99)}",
        lambda: f"{rng.randrange(5, 80)}% off",
        lambda: (
            f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T"
            f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"
        ),
        lambda: f"{word()}.{word()}{rng.randrange(99)}@example.com",
        url,
        url,
        json_object,
        json_object,
        json_object,
        graph_query,
        graph_query,
        wiki_markup,
        search,
        search,
        search,
        search,
        foreign,
        lambda: f"{foreign()} {foreign()}",
        lambda: f"{word()} ({word()}).pdf",
        lambda: f"my ({word()}) {word()}",
        lambda: f"{rng.randrange(1, 9)}+{rng.randrange(1, 9)}={rng.randrange(2, 18)}",
        lambda: f"{word()}={word()}",
        lambda: f"{word()}:{rng.randrange(99)},{word()}:{rng.randrange(99)}",
        lambda: f"{word()}|{word()}|{word()}",
        lambda: f"{word()}/{word()}/{rng.randrange(999)}",
        lambda: f"{word()}_{word()}-{rng.randrange(999)} (copy)",
        lambda: f"#{word()} @{word()}",
        lambda: f"{rng.randrange(100)} x {rng.randrange(100)} cm",
        lambda: base64.b64encode(rng.randbytes(rng.randrange(8, 40))).decode(),
        emoji,
        lambda: f"{word()} {emoji()}",
        code,
        code,
        lambda: f"how to {code()}",
    )
    for _ in range(count):
        out.append(Example(rng.choice(makers)(), "args", 0, 1.0, "benign"))
    return out


def examples_from_request(
    path: str, query: str, label: int, weight: float = REVIEW_WEIGHT
) -> list[Example]:
    """Reviewed-event examples: the non-trivial values of one request, all with one label."""
    from vigil.batch import LogRecord

    record = LogRecord("review", "", 0, "", None, "GET", "", path, query, "", None, None, "", "")
    out: list[Example] = []
    for _target, kind, raw in features.request_values(record):
        text, _ = features.decode_value(raw, kind)
        if not features.is_trivial(text, kind):
            out.append(Example(raw, kind, label, weight, "review"))
    return out


def _dedupe(examples: Iterable[Example]) -> list[Example]:
    # Later sources override earlier ones: an analyst's label beats the data set's.
    by_key: dict[tuple[str, str], Example] = {}
    for example in examples:
        text, _ = features.decode_value(example.raw, example.kind)
        key = (example.kind, text)
        by_key.pop(key, None)
        by_key[key] = example
    return list(by_key.values())


def _matrix(values: Sequence[features.Value], bits: int) -> Any:
    from scipy.sparse import csr_matrix  # type: ignore[import-untyped]

    rows, cols, data, n = features.sparse_parts(values, bits)
    return csr_matrix((data, (rows, cols)), shape=(n, features.feature_width(bits)))


def _split(labels: npt.NDArray[np.int64], seed: int) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    train: list[int] = []
    valid: list[int] = []
    for cls in (0, 1):
        idx = [int(i) for i in np.flatnonzero(labels == cls)]
        rng.shuffle(idx)
        cut = round(len(idx) * VALIDATION_FRACTION)
        valid.extend(idx[:cut])
        train.extend(idx[cut:])
    return sorted(train), sorted(valid)


def _edge(benign: npt.NDArray[np.float64]) -> float:
    benign = np.sort(benign)
    allowed = int(np.floor(TARGET_OOF_FPR * benign.size))
    return float(benign[benign.size - 1 - allowed]) + 1e-6


def _choose_threshold(
    proba: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    origins: Sequence[str] = (),
) -> float:
    """The lowest threshold at which the benign values, pooled and each benign source on its
    own, are flagged at most `TARGET_OOF_FPR` of the time: a large easy source (HttpParams)
    must not buy a threshold that a smaller, harder one (the wild corpus) fails."""
    benign = labels == 0
    if not benign.any():
        return MIN_THRESHOLD
    edges = [_edge(proba[benign])]
    if origins:
        names = np.asarray(origins)
        for origin in sorted(set(names[benign].tolist())):
            part = proba[benign & (names == origin)]
            if part.size >= SOURCE_GATE_MIN_SAMPLES:
                edges.append(_edge(part))
    return float(np.clip(max(edges), MIN_THRESHOLD, MAX_THRESHOLD))


def evaluate(
    proba: npt.NDArray[np.float64], labels: npt.NDArray[np.int64], threshold: float
) -> dict[str, float]:
    """F1, precision, recall, PR-AUC and false-positive rate of probabilities at a threshold."""
    from sklearn.metrics import average_precision_score

    flagged = proba >= threshold
    attack = labels == 1
    tp = int(np.sum(flagged & attack))
    fp = int(np.sum(flagged & ~attack))
    fn = int(np.sum(~flagged & attack))
    negatives = int(np.sum(~attack))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    pr_auc = float(average_precision_score(labels, proba)) if attack.any() else 0.0
    return {
        "f1": round(f1, 6),
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "pr_auc": round(pr_auc, 6),
        "fpr_at_threshold": round(fp / negatives if negatives else 0.0, 6),
        "threshold": round(threshold, 6),
        "validation_samples": float(labels.size),
    }


def check_gates(metrics: dict[str, float]) -> list[str]:
    """The gates a model's validation metrics fail (empty when it may be activated)."""
    failed: list[str] = []
    if metrics["f1"] < GATES["f1"]:
        failed.append(f"f1 {metrics['f1']:.4f} < {GATES['f1']}")
    if metrics["pr_auc"] < GATES["pr_auc"]:
        failed.append(f"pr_auc {metrics['pr_auc']:.4f} < {GATES['pr_auc']}")
    if metrics["fpr_at_threshold"] > GATES["fpr_at_threshold"]:
        failed.append(
            f"fpr_at_threshold {metrics['fpr_at_threshold']:.4f} > {GATES['fpr_at_threshold']}"
        )
    return failed


def corpus_payload_examples(root: Path, seed: int) -> list[Example]:
    """Attack values from the tuning part of the payload corpora (data/payloads), one origin
    per source. Probe paths and methods are left out: the classifier reads values."""
    from urllib.parse import quote

    from vigil.training import wild

    if not (root / "payloads").is_dir():
        return []
    out: list[Example] = []
    for source, family, payload in wild.load_payloads(root, "tuning", seed):
        if family in ("probe", "method", "rfi"):
            continue
        out.append(Example(quote(payload, safe=""), "args", 1, 1.0, f"payloads:{source}"))
    return out


def corpus_benign_examples(root: Path, lines: int, seed: int) -> list[Example]:
    """Values of the benign requests of the corpora's tuning part (paths and arguments)."""
    from vigil.training import wild

    if lines <= 0 or not (root / "benign").is_dir():
        return []
    samples = (sample.line for sample in wild.benign_samples(root, "tuning", lines, seed))
    return benign_line_examples(samples, wild.LOG_FORMAT, "corpus-benign", CORPUS_BENIGN_WEIGHT)


def gather_examples(config: TrainConfig, reviewed: Sequence[Example] = ()) -> list[Example]:
    """Every training example, deduplicated, analyst labels last so that they win."""
    directory = config.datasets or default_dataset_dir()
    dataset = load_payloads(directory / "payload_train.csv")
    if config.max_examples is not None and len(dataset) > config.max_examples:
        dataset = random.Random(config.seed).sample(dataset, config.max_examples)
    traffic = traffic_examples(config.traffic_lines, config.seed)
    extra = benign_values(config.benign_values, config.seed)
    root = config.corpora or default_datasets_root()
    payloads = corpus_payload_examples(root, config.seed)
    corpus_benign = corpus_benign_examples(root, config.wild_benign_lines, config.seed)
    return _dedupe([*dataset, *payloads, *traffic, *extra, *corpus_benign, *reviewed])


def source_metrics(
    proba: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    origins: Sequence[str],
    threshold: float,
) -> dict[str, dict[str, float]]:
    """Per origin of the validation part: attack recall and benign false-positive rate."""
    out: dict[str, dict[str, float]] = {}
    origin_array = np.asarray(origins)
    for origin in sorted(set(origins)):
        mask = origin_array == origin
        entry: dict[str, float] = {}
        for label, name in ((1, "attack"), (0, "benign")):
            part = mask & (labels == label)
            count = int(part.sum())
            if count == 0:
                continue
            flagged = float(np.mean(proba[part] >= threshold))
            entry[f"{name}_samples"] = float(count)
            entry["attack_recall" if label else "benign_fpr"] = round(flagged, 6)
        out[origin] = entry
    return out


def check_source_gates(per_source: dict[str, dict[str, float]]) -> list[str]:
    """The per-source gates that fail (see `SOURCE_GATES`)."""
    failed: list[str] = []
    minimum = SOURCE_GATE_MIN_SAMPLES
    for origin, metrics in per_source.items():
        recall = metrics.get("attack_recall")
        low = SOURCE_GATES["attack_recall"]
        if recall is not None and metrics["attack_samples"] >= minimum and recall < low:
            failed.append(f"{origin}: attack recall {recall:.4f} < {low}")
        fpr = metrics.get("benign_fpr")
        high = SOURCE_GATES["benign_fpr"]
        if fpr is not None and metrics["benign_samples"] >= minimum and fpr > high:
            failed.append(f"{origin}: benign fpr {fpr:.4f} > {high}")
    return failed


def fit(config: TrainConfig, examples: Sequence[Example]) -> TrainedClassifier:
    """Fit, calibrate and validate a classifier on `examples` (see the module docstring)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    if not examples:
        raise TrainingError("no training examples")
    values = [features.make_value("train", e.kind, e.raw) for e in examples]
    labels = np.asarray([e.label for e in examples], dtype=np.int64)
    weights = np.asarray([e.weight for e in examples], dtype=np.float64)
    if config.shuffle_labels:
        labels = labels[np.random.default_rng(config.seed).permutation(labels.size)]
    if len(set(labels.tolist())) < 2:
        raise TrainingError("training needs both benign and attack examples")
    reviewed = np.asarray([e.origin == "review" for e in examples])
    split_idx = np.flatnonzero(~reviewed)
    train_local, valid_local = _split(labels[split_idx], config.seed)
    train_idx = np.concatenate([split_idx[train_local], np.flatnonzero(reviewed)])
    valid_idx = split_idx[valid_local]

    x = _matrix(values, config.bits)
    x_train, y_train, w_train = x[train_idx], labels[train_idx], weights[train_idx]

    def model() -> Any:
        return LogisticRegression(
            C=config.c, solver="liblinear", max_iter=2000, random_state=config.seed
        )

    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=config.seed)
    oof = cross_val_predict(
        model(),
        x_train,
        y_train,
        cv=folds,
        method="decision_function",
        params={"sample_weight": w_train},
    )
    platt = LogisticRegression(C=1e4, solver="lbfgs")
    platt.fit(oof.reshape(-1, 1), y_train, sample_weight=w_train)
    a = float(platt.coef_[0, 0])
    b = float(platt.intercept_[0])
    oof_proba = 1.0 / (1.0 + np.exp(-(a * oof + b)))
    threshold = _choose_threshold(oof_proba, y_train, [examples[i].origin for i in train_idx])

    final = model()
    final.fit(x_train, y_train, sample_weight=w_train)
    coef = np.asarray(final.coef_[0], dtype=np.float64) * a
    intercept = float(final.intercept_[0]) * a + b
    trained = TrainedClassifier(
        coef=coef,
        intercept=intercept,
        bits=config.bits,
        threshold=round(threshold, 6),
        metrics={},
        samples=int(train_idx.size),
        seed=config.seed,
        sources=dict(sorted(Counter(e.origin for e in examples).items())),
    )
    valid_values = [values[i] for i in valid_idx]
    proba = trained.predict_proba(valid_values)
    trained.metrics = evaluate(proba, labels[valid_idx], trained.threshold)
    trained.source_metrics = source_metrics(
        proba, labels[valid_idx], [examples[i].origin for i in valid_idx], trained.threshold
    )
    trained.failed_gates = check_gates(trained.metrics) + check_source_gates(trained.source_metrics)
    return trained


def required_sources(config: TrainConfig) -> list[str]:
    """The origins a model must have been validated on: HttpParams and, where the development
    corpora are present, each payload source and the benign corpus."""
    root = config.corpora or default_datasets_root()
    required = ["dataset"]
    payloads = root / "payloads"
    if payloads.is_dir():
        required += [f"payloads:{d.name}" for d in sorted(payloads.iterdir()) if d.is_dir()]
    if (root / "benign").is_dir() and config.wild_benign_lines > 0:
        required.append("corpus-benign")
    return required


def train(config: TrainConfig, reviewed: Sequence[Example] = ()) -> TrainedClassifier:
    """Gather examples and fit a classifier (the whole of `vigil train` minus storage).

    A source the model was not validated on is a failed gate: leaving a corpus out of
    training cannot make a model pass.
    """
    examples = gather_examples(config, reviewed)
    log.info("event=ml_train_examples count=%d seed=%d", len(examples), config.seed)
    trained = fit(config, examples)
    for origin in required_sources(config):
        if origin not in trained.source_metrics:
            trained.failed_gates.append(f"{origin}: not in the validation part")
    return trained


def to_onnx(trained: TrainedClassifier) -> bytes:
    """The classifier as an ONNX graph (a scikit-learn logistic regression, via skl2onnx)."""
    from skl2onnx import to_onnx as sk_to_onnx
    from sklearn.linear_model import LogisticRegression

    width = features.feature_width(trained.bits)
    clone = LogisticRegression()
    clone.classes_ = np.array([0, 1])
    clone.coef_ = trained.coef.reshape(1, -1).astype(np.float64)
    clone.intercept_ = np.array([trained.intercept])
    clone.n_features_in_ = width
    onx = sk_to_onnx(
        clone,
        np.zeros((1, width), dtype=np.float32),
        options={id(clone): {"zipmap": False}},
        target_opset=17,
    )
    # Fixed metadata keeps the bytes (and so the version) identical for identical weights.
    onx.producer_version = "vigil"
    onx.doc_string = ""
    return bytes(onx.SerializeToString())


def classifier_version(onnx_bytes: bytes) -> str:
    """A version derived from the model bytes: the same training gives the same version."""
    return "clf-" + hashlib.sha256(onnx_bytes).hexdigest()[:10]


def export(trained: TrainedClassifier, out_dir: Path) -> dict[str, Any]:
    """Write ``classifier.onnx`` and ``manifest.json`` into `out_dir`; return the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_bytes = to_onnx(trained)
    version = classifier_version(onnx_bytes)
    manifest: dict[str, Any] = {
        "model_type": "classifier",
        "version": version,
        "bits": trained.bits,
        "numeric_features": list(features.NUMERIC_NAMES),
        "threshold": trained.threshold,
        "metrics": trained.metrics,
        "gates": dict(GATES),
        "source_gates": dict(SOURCE_GATES),
        "source_metrics": trained.source_metrics,
        "training_samples": trained.samples,
        "sources": trained.sources,
        "seed": trained.seed,
        "file": CLASSIFIER_FILE,
        "onnx_bytes": len(onnx_bytes),
    }
    (out_dir / CLASSIFIER_FILE).write_bytes(onnx_bytes)
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
