"""Detection quality of the models: rules-only and hybrid side by side on the same corpora.

Reports, with the shipped (or `--model DIR`) classifier:

1. the HttpParams test split as access-log lines (reporting only; training never saw it):
   attacks flagged, benign values flagged and PR-AUC, rules-only vs hybrid;
2. obfuscated variants of the test attacks (case mixing, inline comments, odd blanks,
   double encoding, concatenation) and how many of them the rules miss but the hybrid flags;
3. generated benign traffic (the traffic simulator's benign lines, ordinary 404s included, and
   the benign corpus): flagged in hybrid mode;
4. the anomaly model fitted on the benign part of a simulated site log: out-of-profile values
   flagged vs held-back normal requests flagged.

    python benchmarks/bench_ml_quality.py [--model DIR] [--benign 50000]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import numpy as np

import benign_corpus
import httpparams_corpus
from vigil.batch import LineBatch, LogRecord
from vigil.config import load_settings
from vigil.detect.engine import DetectionEngine
from vigil.detect.ml import fusion, runtime
from vigil.ingest.parser import build_parser
from vigil.simulate.traffic import generate
from vigil.training.retrain import fit_baseline

BATCH = 2048


def parse(lines: Sequence[str]) -> list[LogRecord]:
    parser = build_parser("combined")
    out: list[LogRecord] = []
    for start in range(0, len(lines), BATCH):
        chunk = [line.encode() for line in lines[start : start + BATCH]]
        result = parser.parse_batch(LineBatch("bench", "f", chunk, list(range(len(chunk))), 0))
        assert not result.dead_letters, result.dead_letters[:1]
        out.extend(result.records)
    return out


def score(
    records: Sequence[LogRecord], engine: DetectionEngine, models: runtime.HybridModels
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rules score, hybrid score and classifier probability per record."""
    rules, hybrid, ml = [], [], []
    for start in range(0, len(records), BATCH):
        chunk = records[start : start + BATCH]
        detections = engine.detect_batch(chunk)
        for d, f in zip(detections, models.score_batch(chunk, detections), strict=True):
            rules.append(d.score)
            hybrid.append(f.score)
            ml.append(f.components["ml"])
    return np.array(rules), np.array(hybrid), np.array(ml)


def pr_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(labels, scores))


def rate(mask: np.ndarray) -> str:
    return f"{mask.mean() * 100:7.3f}% ({int(mask.sum())}/{mask.size})"


STYLES = (
    "case-mix",
    "inline-comments",
    "odd-blanks",
    "double-encoding",
    "paren-blanks",
    "versioned-comments",
    "fullwidth-quote",
    "concatenation",
)


def obfuscate(payload: str, style: str, rng: random.Random) -> str:
    """A variant of an attack payload written the way evasive tools write it, URL-encoded."""
    text = payload
    if style == "case-mix":
        text = "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in text)
    elif style == "inline-comments":
        text = text.replace(" ", "/*" + rng.choice(["", "x", "foo", "!"]) + "*/")
    elif style == "odd-blanks":
        text = text.replace(" ", rng.choice(["\t", "\n", "\x0b", "\x0c", "  "]))
    elif style == "double-encoding":
        return quote(quote(text, safe=""), safe="")
    elif style == "paren-blanks":
        text = re.sub(r" (\w+)", r"(\1)", text)
    elif style == "versioned-comments":
        text = re.sub(r"\b(union|select|and|or|sleep|from)\b", r"/*!50000\1*/", text)
    elif style == "fullwidth-quote":
        text = text.replace("'", "\uff07").replace("<", "\uff1c").replace(">", "\uff1e")
    else:
        text = text.replace("'", "'||'") if "'" in text else text.replace("/", "/./")
    return quote(text, safe="")


def section_httpparams(engine: DetectionEngine, models: runtime.HybridModels) -> None:
    samples = httpparams_corpus.load_samples("test")
    pairs = list(httpparams_corpus.lines_for(samples, seed=7))
    records = parse([line for line, _ in pairs])
    labels = np.array([s.label == "attack" for _, s in pairs])
    rules, hybrid, ml = score(records, engine, models)
    print(f"\n== HttpParams test split as log lines: {labels.size} lines, {labels.sum()} attacks")
    print(f"{'':14}{'attacks flagged':>26}{'benign flagged':>26}{'PR-AUC':>10}")
    for name, s in (("rules-only", rules), ("ml alone", None), ("hybrid", hybrid)):
        if s is None:
            flagged = ml >= models.threshold
            auc = pr_auc(ml, labels)
        else:
            flagged = s >= fusion.MEDIUM
            auc = pr_auc(s, labels)
        print(f"{name:14}{rate(flagged[labels]):>26}{rate(flagged[~labels]):>26}{auc:10.5f}")
    by_type: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    for (_, sample), hit in zip(pairs, hybrid >= fusion.MEDIUM, strict=True):
        if sample.label == "attack":
            by_type[sample.attack_type] += 1
            missed[sample.attack_type] += not hit
    print("hybrid misses by type:", {k: f"{missed[k]}/{by_type[k]}" for k in sorted(by_type)})
    examples = [
        s.payload for (_, s), h, y in zip(pairs, hybrid, labels, strict=True) if y and h < 0.5
    ]
    print("missed examples:", [e[:60] for e in examples[:5]])
    fps = [
        s.payload for (_, s), h, y in zip(pairs, hybrid, labels, strict=True) if not y and h >= 0.5
    ]
    print("benign flagged examples:", [e[:60] for e in fps[:8]])


def section_obfuscated(engine: DetectionEngine, models: runtime.HybridModels) -> None:
    rng = random.Random(13)
    attacks = [s for s in httpparams_corpus.load_samples("test") if s.label == "attack"]
    print("\n== obfuscated variants of test attacks (300 per style)")
    print(f"{'style':20}{'rules-only':>24}{'hybrid':>24}{'ML adds':>9}")
    examples: list[str] = []
    for style in STYLES:
        lines = []
        for sample in rng.sample(attacks, 300):
            target = (
                f"{rng.choice(httpparams_corpus.PATHS)}?q={obfuscate(sample.payload, style, rng)}"
            )
            lines.append(
                httpparams_corpus.log_line(
                    "198.51.100.20",
                    httpparams_corpus.START,
                    "GET",
                    target,
                    200,
                    512,
                    "-",
                    "Mozilla/5.0",
                )
            )
        records = parse(lines)
        rules, hybrid, _ = score(records, engine, models)
        r_hit, h_hit = rules >= 0.5, hybrid >= 0.5
        added = np.flatnonzero(h_hit & ~r_hit)
        examples.extend(records[i].query[:90] for i in added[:2])
        print(f"{style:20}{rate(r_hit):>24}{rate(h_hit):>24}{added.size:>9}")
    print("examples the rules miss and the hybrid flags:")
    for example in examples[:8]:
        print("   ", example)


def section_benign(engine: DetectionEngine, models: runtime.HybridModels, count: int) -> None:
    generated = [g.text for g in generate(count, seed=23) if g.label is None]
    corpus = list(benign_corpus.benign_lines(count, seed=29))
    print("\n== generated benign traffic")
    for name, lines in (("traffic simulator", generated), ("benign corpus", corpus)):
        records = parse(lines)
        rules, hybrid, _ = score(records, engine, models)
        not_found = np.array([r.status == 404 for r in records])
        print(
            f"{name:18} rules-only flagged {rate(rules >= 0.5)}   hybrid flagged "
            f"{rate(hybrid >= 0.5)}   404s flagged (hybrid) {rate((hybrid >= 0.5)[not_found])}"
        )
        flagged = [records[i].target[:90] for i in np.flatnonzero(hybrid >= 0.5)[:5]]
        if flagged:
            print("   examples:", flagged)


def section_anomaly() -> None:
    lines = [g.text for g in generate(60_000, seed=31) if g.label is None]
    records = [r for r in parse(lines) if r.query]
    rng = random.Random(5)
    rng.shuffle(records)
    cut = int(len(records) * 0.8)
    fitted, held = records[:cut], records[cut:]
    baseline = fit_baseline(fitted)
    held_scores = np.array([baseline.score(r).score for r in held])
    print(f"\n== anomaly model: fitted on {len(fitted)} benign requests with parameters")
    print(f"held-back normal requests flagged (a >= 0.5): {rate(held_scores >= 0.5)}")
    mutations = {
        "numeric given text": lambda v: "abc" + v,
        "quote appended": lambda v: v + "'",
        "bracket expression": lambda v: f"({v})",
        "very long": lambda v: v * 12 + "x" * 40,
        "angle brackets": lambda v: f"<{v}>",
    }
    candidates = [r for r in held if any(p.split("=")[-1].isdigit() for p in r.query.split("&"))]
    for name, mutate in mutations.items():
        hits = []
        for r in candidates[:500]:
            parts = r.query.split("&")
            idx = next(i for i, p in enumerate(parts) if p.split("=")[-1].isdigit())
            key, _, value = parts[idx].partition("=")
            parts[idx] = f"{key}={quote(mutate(value), safe='')}"
            changed = LogRecord(
                r.source, r.file_id, r.offset, r.client_ip, r.observed_at, r.method, r.target,
                r.path, "&".join(parts), r.protocol, r.status, r.bytes_sent, r.referer,
                r.user_agent,
            )  # fmt: skip
            hits.append(baseline.score(changed).score >= 0.5)
        print(f"out-of-profile ({name:18}) flagged: {rate(np.array(hits))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="classifier directory")
    parser.add_argument("--benign", type=int, default=50_000, help="lines per benign corpus")
    args = parser.parse_args()
    settings = load_settings()
    engine = DetectionEngine.from_section(settings.rules)
    models = runtime.load_models(args.model or runtime.shipped_model_dir())
    print(f"model {models.version}, threshold {models.threshold}")
    started = time.perf_counter()
    section_httpparams(engine, models)
    section_obfuscated(engine, models)
    section_benign(engine, models, args.benign)
    section_anomaly()
    print(f"\n({time.perf_counter() - started:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
