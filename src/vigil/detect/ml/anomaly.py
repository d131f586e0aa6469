"""The site-baseline anomaly model: what each parameter of this site normally looks like.

Fitted on the site's own (mostly benign) access log, it learns per path template and argument
name (falling back to the argument name alone across the site) how many values were seen,
how often they were numeric, which character classes occurred and how long they were. A
path template replaces every path segment containing a digit with ``{}``, so
``/products/boots-3359`` and ``/products/bag-12`` share a profile.

A value scores high when it does not fit a profile learned from at least `MIN_SAMPLES`
values:

- characters of a class an injection needs (quotes, brackets, ``<>``, ``;|&$```, ``=``) that
  this parameter (almost) never had: 0.95;
- other character classes it (almost) never had, e.g. letters in a numeric id: 0.8;
- much longer than ever seen: 0.6 (over 2× the 99th percentile and 16 characters more),
  0.8 (over 4× the longest).

A request's anomaly score is the highest over its argument values. Profiles are plain JSON,
so an operator can read what the model learned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from vigil.batch import LogRecord
from vigil.detect.ml import features

MIN_SAMPLES: Final = 20
RARE: Final = 0.01
ANOMALY_FILE: Final = "anomaly.json"
MAX_PROFILES: Final = 20_000
_MAX_LENGTHS: Final = 512

CLASSES: Final = {
    "digit": frozenset("0123456789"),
    "alpha": frozenset("abcdefghijklmnopqrstuvwxyz"),
    "space": frozenset(" \t\n"),
    "word_punct": frozenset("-_.~,"),
    "at": frozenset("@"),
    "url": frozenset("/:?#"),
    "plus_percent": frozenset("+%*!"),
    "quote": frozenset("'\"`"),
    "bracket": frozenset("()[]{}"),
    "angle": frozenset("<>"),
    "shell": frozenset(";|&$\\^"),
    "equals": frozenset("="),
}
DANGEROUS: Final = frozenset({"quote", "bracket", "angle", "shell", "equals"})
_DIGIT_SEGMENT = re.compile(r"/[^/]*\d[^/]*")


def path_template(path: str) -> str:
    """The path with every segment that contains a digit replaced by ``{}``."""
    return _DIGIT_SEGMENT.sub("/{}", path.lower())


_CLASS_OF: Final = {ch: name for name, members in CLASSES.items() for ch in members}


def char_classes(text: str) -> frozenset[str]:
    """The character classes present in a decoded value (``other`` for anything unlisted)."""
    get = _CLASS_OF.get
    return frozenset([get(ch, "other") for ch in set(text)])


@dataclass(slots=True)
class Profile:
    """What the values of one parameter looked like in the baseline."""

    count: int = 0
    numeric: int = 0
    classes: dict[str, int] = field(default_factory=dict)
    lengths: list[int] = field(default_factory=list)
    p99_length: int = 0
    max_length: int = 0

    def add(self, text: str) -> None:
        self.count += 1
        self.numeric += text.isdigit()
        for name in char_classes(text):
            self.classes[name] = self.classes.get(name, 0) + 1
        if len(self.lengths) < _MAX_LENGTHS:
            self.lengths.append(len(text))
        self.max_length = max(self.max_length, len(text))

    def finish(self) -> None:
        ordered = sorted(self.lengths)
        self.p99_length = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0
        self.lengths = []

    def score(self, text: str) -> tuple[float, str]:
        """How far `text` is out of this profile, in [0, 1], and why."""
        novel = [
            name
            for name in char_classes(text)
            if self.classes.get(name, 0) < max(1.0, RARE * self.count)
        ]
        if DANGEROUS.intersection(novel):
            return 0.95, "unusual characters: " + ",".join(sorted(DANGEROUS.intersection(novel)))
        length = len(text)
        if length > 4 * max(self.max_length, 4):
            return 0.8, f"length {length} > 4x longest {self.max_length}"
        if novel:
            return 0.8, "unusual characters: " + ",".join(sorted(novel))
        if length > max(2 * self.p99_length, self.p99_length + 16):
            return 0.6, f"length {length} far above usual {self.p99_length}"
        return 0.0, ""

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "numeric": self.numeric,
            "classes": dict(sorted(self.classes.items())),
            "p99_length": self.p99_length,
            "max_length": self.max_length,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        return cls(
            count=int(data["count"]),
            numeric=int(data["numeric"]),
            classes={str(k): int(v) for k, v in data["classes"].items()},
            p99_length=int(data["p99_length"]),
            max_length=int(data["max_length"]),
        )


@dataclass(slots=True)
class AnomalyScore:
    """The anomaly verdict on one request: score, the argument that drove it and why."""

    score: float
    target: str = ""
    reason: str = ""


_NONE: Final = AnomalyScore(0.0)


class SiteBaseline:
    """Per-parameter profiles of one site's normal traffic, fitted and scored per batch."""

    def __init__(self, profiles: dict[str, Profile] | None = None, version: str = "") -> None:
        self.profiles: dict[str, Profile] = profiles or {}
        self.version = version
        self._cache: dict[tuple[str, str], AnomalyScore] = {}
        self._templates: dict[str, str] = {}
        self._texts: dict[str, str] = {}
        self._judged = not self.empty

    @property
    def empty(self) -> bool:
        """Whether no parameter has enough samples to be judged."""
        return not any(p.count >= MIN_SAMPLES for p in self.profiles.values())

    def _args(self, record: LogRecord) -> Iterable[tuple[str, str, str]]:
        texts = self._texts
        for target, kind, raw in features.request_values(record):
            if kind == "args":
                text = texts.get(raw)
                if text is None:
                    if len(texts) > 100_000:
                        texts.clear()
                    text = texts[raw] = features.decode_value(raw, kind)[0]
                yield target[5:], target, text

    def fit(self, records: Iterable[LogRecord]) -> int:
        """Learn profiles from `records` (mostly benign traffic); returns how many were used."""
        used = 0
        for record in records:
            if record.malformed:
                continue
            used += 1
            template = path_template(record.path)
            for name, _target, text in self._args(record):
                for key in (f"{template} {name}", f"* {name}"):
                    profile = self.profiles.get(key)
                    if profile is None:
                        if len(self.profiles) >= MAX_PROFILES:
                            continue
                        profile = self.profiles[key] = Profile()
                    profile.add(text)
        for profile in self.profiles.values():
            profile.finish()
        self._cache.clear()
        self._judged = not self.empty
        return used

    def score(self, record: LogRecord) -> AnomalyScore:
        """The anomaly score of one request (highest over its argument values)."""
        query = record.query
        if not query:
            return _NONE
        template = self._templates.get(record.path)
        if template is None:
            template = self._templates[record.path] = path_template(record.path)
        key = (template, query)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        best = _NONE
        for name, target, text in self._args(record):
            profile = self.profiles.get(f"{template} {name}")
            if profile is None or profile.count < MIN_SAMPLES:
                profile = self.profiles.get(f"* {name}")
            if profile is None or profile.count < MIN_SAMPLES:
                continue
            value, reason = profile.score(text)
            if value > best.score:
                best = AnomalyScore(value, target, reason)
        if len(self._cache) > 100_000:
            self._cache.clear()
        if len(self._templates) > 100_000:
            self._templates.clear()
        self._cache[key] = best
        return best

    def score_batch(self, records: Iterable[LogRecord]) -> list[AnomalyScore]:
        """One anomaly score per record, in order."""
        if not self._judged:
            return [_NONE for _ in records]
        score = self.score
        return [score(record) if record.query else _NONE for record in records]

    def to_json(self) -> dict[str, Any]:
        return {
            "model_type": "anomaly",
            "version": self.version,
            "min_samples": MIN_SAMPLES,
            "profiles": {k: p.to_json() for k, p in sorted(self.profiles.items())},
        }

    def save(self, directory: Path) -> Path:
        """Write the profiles to ``anomaly.json`` in `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / ANOMALY_FILE
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> SiteBaseline:
        """Profiles written by `save` (a directory or the JSON file itself)."""
        if path.is_dir():
            path = path / ANOMALY_FILE
        data = json.loads(path.read_text())
        profiles = {k: Profile.from_json(v) for k, v in data["profiles"].items()}
        return cls(profiles, str(data.get("version", "")))


def baseline_version(baseline: SiteBaseline) -> str:
    """A version derived from the profiles: the same baseline gives the same version."""
    import hashlib

    blob = json.dumps(baseline.to_json()["profiles"], sort_keys=True).encode()
    return "anom-" + hashlib.sha256(blob).hexdigest()[:10]
