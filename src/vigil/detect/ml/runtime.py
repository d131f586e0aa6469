"""The models at run time: ONNX classifier + site baseline, scored once per batch and fused.

`load_active_models(active)` gives the pipeline a `HybridModels`: the classifier and anomaly
baseline marked active in ``model_metadata`` if any, else the default classifier shipped in
``vigil/models``. `HybridModels.score_batch(records, detections)` returns one `Fused` per
record with the final score (`fusion.fuse`) and what each component contributed.

The classifier scores the path, every query argument value, and the values an attacker sets
as freely in the headers: each argument value of the referer's own URL (``referer_args:q``),
each cookie value (``cookie:sid``), and each application-defined header's value
(``header:x-client-data``; an X-Forwarded-For that holds more than addresses among them),
decoded as argument values are. Only values that are
not trivial (`features.is_trivial`) reach it, each distinct value once: results are cached
per value, per path, per query string, per referer and per set of headers, so repeated assets
and pages cost a dictionary lookup, and the ONNX session runs on the new values only.

Hot swap: a `HybridModels` is immutable once built (its caches only memoise its own answers),
so replacing the pipeline's models is one attribute assignment, atomic in CPython; `swap_in`
does it. A batch already being scored finishes with the models it started with; the next
batch uses the new ones; no line is skipped.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from itertools import compress, repeat
from operator import attrgetter, contains, is_, is_not, ne, or_
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from vigil.batch import EMPTY_EXTRA, LogRecord
from vigil.detect import fields, normalize
from vigil.detect.ml import features, fusion
from vigil.detect.ml.anomaly import ANOMALY_FILE, AnomalyScore, SiteBaseline
from vigil.detect.result import CLEAN, Detection
from vigil.errors import VigilError

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

CLASSIFIER_FILE: Final = "classifier.onnx"
MANIFEST_FILE: Final = "manifest.json"
"""The exported classifier and its manifest inside a model directory (written by training)."""
CACHE_LIMIT: Final = 200_000
_NOT_SCORED: Final = -1.0
_UNSEEN: Final = object()
_QueryPart = tuple[float, str, tuple[str, ...]] | None
"""What a query string contributes: the highest value probability, its target and the targets
scored; None when none of its values was scored."""
_Unit = tuple[str, str]
"""(target, raw value) of one value the classifier scores."""
_PATH = attrgetter("path")
_QUERY = attrgetter("query")
_REFERER = attrgetter("referer")
_EXTRA = attrgetter("extra")
_FORWARDED = attrgetter("forwarded_for")
_ALONE = attrgetter("alone")
# X- headers that carry a user agent or a device profile, as proxies and phone browsers send.
_CLIENT_DESCRIPTION = re.compile(r"user-agent|-ua$|wap-profile")
_REFERER_HOST = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#:]*)")


class ModelLoadError(VigilError):
    """A model artifact is missing or unreadable."""


@dataclass(slots=True)
class Fused:
    """The models' verdict on one request: the fused final score and each component's part."""

    score: float
    components: dict[str, Any] = field(default_factory=dict)


class Classifier:
    """The exported linear classifier, run with onnxruntime on a batch of values."""

    def __init__(self, directory: Path) -> None:
        import onnxruntime as ort

        manifest_path = directory / MANIFEST_FILE
        if not manifest_path.exists():
            raise ModelLoadError(f"no classifier manifest in {directory}")
        self.manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        if list(self.manifest["numeric_features"]) != list(features.NUMERIC_NAMES):
            raise ModelLoadError(
                f"classifier in {directory} was trained with other features; retrain it"
            )
        self.version = str(self.manifest["version"])
        self.bits = int(self.manifest["bits"])
        self.threshold = float(self.manifest["threshold"])
        self.directory = directory
        options = ort.SessionOptions()
        # The pipeline already uses the cores; one thread per inference avoids oversubscription.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(directory / CLASSIFIER_FILE), options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        self._output = [o.name for o in self._session.get_outputs()][1]

    def predict(self, values: Sequence[features.Value]) -> npt.NDArray[np.float64]:
        """Calibrated attack probability of every value."""
        if not values:
            return np.zeros(0, dtype=np.float64)
        x = features.dense_features(values, self.bits)
        (proba,) = self._session.run([self._output], {self._input: x})
        return np.asarray(proba, dtype=np.float64)[:, 1]


@dataclass(frozen=True, slots=True)
class _ValueVerdict:
    """The classifier's view of one request, and its `Fused` when nothing else contributes."""

    p: float
    target: str
    scored: frozenset[str]
    alone: Fused


def _verdict(p: float, target: str, scored: frozenset[str], threshold: float) -> _ValueVerdict:
    fused = fusion.fuse(0.0, (), p, threshold)
    components: dict[str, Any] = {
        "rules": 0.0,
        "ml": round(p, 4),
        "anomaly": 0.0,
        "fused": round(fused, 4),
    }
    if target:
        components["ml_target"] = target
    return _ValueVerdict(p, target, scored, Fused(fused, components))


class HybridModels:
    """Classifier + optional site baseline: what the pipeline calls once per batch."""

    def __init__(self, classifier: Classifier, anomaly: SiteBaseline | None = None) -> None:
        self.classifier = classifier
        self.anomaly = anomaly if anomaly is not None and not anomaly.empty else None
        suffix = f"+{self.anomaly.version}" if self.anomaly is not None else ""
        self.version = classifier.version + suffix
        self._values: dict[tuple[str, str], float] = {}
        self._paths: dict[str, float] = {}
        self._queries: dict[str, _QueryPart] = {}
        self._referers: dict[str, _QueryPart] = {}
        self._headers: dict[fields.HeaderKey, _QueryPart] = {}
        self._requests: dict[tuple[str, str], _ValueVerdict] = {}
        self._headed: dict[
            tuple[int, _QueryPart, _QueryPart], tuple[_ValueVerdict, _ValueVerdict]
        ] = {}
        self._fused: dict[tuple[int, int], tuple[Detection, _ValueVerdict, Fused]] = {}
        self._lock = threading.Lock()
        self._empty = _verdict(0.0, "", frozenset(), classifier.threshold)

    @property
    def threshold(self) -> float:
        """The classifier's operating threshold."""
        return self.classifier.threshold

    def value_verdicts(self, records: Sequence[LogRecord]) -> list[_ValueVerdict]:
        """Per record: the highest value probability, its target and the targets scored."""
        with self._lock:
            return self._value_verdicts(records)

    def _value_verdicts(self, records: Sequence[LogRecord]) -> list[_ValueVerdict]:
        # Paths and query strings repeat far more often than their combinations, so each is
        # cached on its own, and looked up for the whole batch in C; only requests where
        # something was scored are combined (and cached), one by one.
        paths, queries, requests = self._paths, self._queries, self._requests
        for cache in (
            self._values, paths, queries, requests, self._referers, self._headers, self._headed
        ):  # fmt: skip
            if len(cache) > CACHE_LIMIT:
                cache.clear()
        queries[""] = None
        path_list = list(map(_PATH, records))
        query_list = list(map(_QUERY, records))
        path_ps: list[Any] = list(map(paths.get, path_list))
        parts: list[Any] = list(map(queries.get, query_list, repeat(_UNSEEN)))
        if None in path_ps or _UNSEEN in parts:
            self._learn(path_list, query_list, path_ps, parts)
        empty = self._empty
        out = [empty] * len(path_list)
        # The requests with something scored: a path that was, or a query with a value that was.
        scored = compress(
            range(len(out)),
            map(or_, map(ne, path_ps, repeat(_NOT_SCORED)), map(is_not, parts, repeat(None))),
        )
        threshold = self.classifier.threshold
        for i in scored:
            key = (path_list[i], query_list[i])
            verdict = requests.get(key)
            if verdict is None:
                path_p: float = path_ps[i]
                part: _QueryPart = parts[i]
                best, target, names = part if part is not None else (0.0, "", ())
                if path_p != _NOT_SCORED:
                    names = ("path", *names)
                    if path_p > best:
                        best, target = path_p, "path"
                verdict = requests[key] = _verdict(best, target, frozenset(names), threshold)
            out[i] = verdict
        self._add_headers(records, out)
        return out

    def _add_headers(self, records: Sequence[LogRecord], out: list[_ValueVerdict]) -> None:
        """Fold the verdicts on the referer's argument values, the cookie values and the
        ``X-`` headers' values (a tampered X-Forwarded-For among them) into `out`, for the
        records that have such values the classifier scored."""
        # Most referers have no arguments, most formats record no cookie or other header, and
        # most X-Forwarded-For values are addresses: the records that have any are found in C,
        # and only they are looked at one by one.
        referer_list = list(map(_REFERER, records))
        asking = list(compress(range(len(records)), map(contains, referer_list, repeat("?"))))
        extras = list(map(_EXTRA, records))
        cookied = list(compress(range(len(records)), map(is_not, extras, repeat(EMPTY_EXTRA))))
        forwarded = list(map(_FORWARDED, records))
        tampered = {
            i: forwarded[i]
            for i in compress(range(len(records)), forwarded)
            if fields.tampered_forwarded_for(forwarded[i])
        }
        if not (asking or cookied or tampered):
            return
        referer_parts: dict[int, _QueryPart] = {}
        if asking:
            referers = self._referers
            new_referers = {
                referer_list[i]: None for i in asking if referer_list[i] not in referers
            }
            if new_referers:
                self._learn_units({r: _referer_units(r) for r in new_referers}, referers)
            for i in asking:
                part = referers[referer_list[i]]
                if part is not None and not _same_site(referer_list[i], records[i].host):
                    referer_parts[i] = part
        header_keys: dict[int, fields.HeaderKey] = {}
        header_parts: dict[int, _QueryPart] = {}
        if cookied or tampered:
            headers = self._headers
            for i in sorted(tampered.keys() | set(cookied)):
                items = fields.header_items(extras[i])
                if items or i in tampered:
                    header_keys[i] = (tampered.get(i, ""), "", items)
            new_headers = {key: None for key in header_keys.values() if key not in headers}
            if new_headers:
                self._learn_units({key: _header_value_units(key) for key in new_headers}, headers)
            for i, key in header_keys.items():
                part = headers[key]
                if part is not None:
                    header_parts[i] = part
        headed = self._headed
        threshold = self.classifier.threshold
        for i in sorted(referer_parts.keys() | header_parts.keys()):
            referer_part = referer_parts.get(i)
            header_part = header_parts.get(i)
            base = out[i]
            # The verdict is a function of its parts: requests with equal parts share one.
            # The cache holds `base`, so its id cannot be reused while it does.
            request = (id(base), referer_part, header_part)
            known = headed.get(request)
            if known is None:
                best, target, names = base.p, base.target, set(base.scored)
                for part in (referer_part, header_part):
                    if part is not None:
                        names.update(part[2])
                        if part[0] > best:
                            best, target = part[0], part[1]
                known = headed[request] = (
                    base,
                    _verdict(best, target, frozenset(names), threshold),
                )
            out[i] = known[1]

    def _learn_units(self, new: Mapping[Any, list[_Unit]], cache: dict[Any, _QueryPart]) -> None:
        """Score the values of new composites (referers, header sets), each into `cache`."""
        pending: dict[tuple[str, str], features.Value] = {}
        for units in new.values():
            self._pend(units, pending)
        self._predict(pending)
        for composite, units in new.items():
            cache[composite] = self._part(units)

    def _pend(self, units: list[_Unit], pending: dict[tuple[str, str], features.Value]) -> None:
        """Add the argument values of `units` the value cache does not hold to `pending`."""
        values = self._values
        for target, raw in units:
            key = ("args", raw)
            if key not in values and key not in pending:
                pending[key] = features.make_value(target, "args", raw)

    def _predict(self, pending: dict[tuple[str, str], features.Value]) -> None:
        """Score the pending values into the value cache (trivial ones as not scored)."""
        if not pending:
            return
        values = self._values
        scorable = {k: v for k, v in pending.items() if not features.is_trivial(v.text, k[0])}
        for key in pending.keys() - scorable.keys():
            values[key] = _NOT_SCORED
        if scorable:
            keys = list(scorable)
            proba = self.classifier.predict([scorable[k] for k in keys])
            for key, p in zip(keys, proba.tolist(), strict=True):
                values[key] = p

    def _part(self, units: list[_Unit]) -> _QueryPart:
        """What scored values contribute: the highest probability, its target, the targets."""
        values = self._values
        best, best_target = 0.0, ""
        scored: list[str] = []
        for target, raw in units:
            p = values[("args", raw)]
            if p == _NOT_SCORED:
                continue
            scored.append(target)
            if p > best:
                best, best_target = p, target
        return (best, best_target, tuple(scored)) if scored else None

    def _learn(
        self,
        path_list: list[str],
        query_list: list[str],
        path_ps: list[Any],
        parts: list[Any],
    ) -> None:
        """Score the paths and queries of a batch not seen before, into the caches and into
        `path_ps` and `parts` (each record's path score and query part)."""
        paths, queries, values = self._paths, self._queries, self._values
        new = list(
            compress(
                range(len(path_list)),
                map(or_, map(is_, path_ps, repeat(None)), map(is_, parts, repeat(_UNSEEN))),
            )
        )
        pending: dict[tuple[str, str], features.Value] = {}
        new_paths: set[str] = set()
        new_queries: dict[str, list[_Unit]] = {}
        for i in new:
            path = path_list[i]
            if path not in paths and path not in new_paths:
                if features.raw_is_trivial(path, "path"):
                    paths[path] = _NOT_SCORED
                else:
                    new_paths.add(path)
                    key = ("path", path)
                    if key not in values and key not in pending:
                        pending[key] = features.make_value("path", "path", path)
            query = query_list[i]
            if query not in queries and query not in new_queries:
                new_queries[query] = units = _query_units(query)
                self._pend(units, pending)
        self._predict(pending)
        for path in new_paths:
            paths[path] = values[("path", path)]
        for query, units in new_queries.items():
            queries[query] = self._part(units)
        for i in new:
            path_ps[i] = paths[path_list[i]]
            parts[i] = queries[query_list[i]]

    def score_batch(
        self, records: Sequence[LogRecord], detections: Sequence[Detection]
    ) -> list[Fused]:
        """One `Fused` per record, in order: final score and components (rules, ml, anomaly).

        Requests that only the classifier has an opinion on share one `Fused` per distinct
        request: treat `components` as read-only (the pipeline copies it).
        """
        verdicts = self.value_verdicts(records)
        anomalies: list[AnomalyScore] | None = (
            self.anomaly.score_batch(records) if self.anomaly is not None else None
        )
        threshold = self.classifier.threshold
        out = list(map(_ALONE, verdicts))
        if anomalies is None:
            # Most requests share the one clean verdict; the others are found in C.
            dirty = compress(range(len(detections)), map(is_not, detections, repeat(CLEAN)))
            busy = [
                i for i in dirty if detections[i].score or detections[i].allowlisted is not None
            ]
        else:
            busy = [
                i
                for i, d in enumerate(detections)
                if d.score or d.allowlisted is not None or anomalies[i].score
            ]
        # Rule verdicts and value verdicts are shared objects (one per distinct request), so a
        # request the rules flagged repeats their pair; without an anomaly score its `Fused` is
        # a function of that pair alone, made once and shared like the classifier's own.
        fused_pairs = self._fused
        if len(fused_pairs) > CACHE_LIMIT:
            fused_pairs.clear()
        for i in busy:
            detection = detections[i]
            verdict = verdicts[i]
            pair = (id(detection), id(verdict))
            if anomalies is None:
                # The cache holds both objects, so their ids cannot be reused while it does.
                known = fused_pairs.get(pair)
                if known is not None:
                    out[i] = known[2]
                    continue
            a = anomalies[i] if anomalies is not None else None
            a_score = a.score if a is not None else 0.0
            fused = fusion.fuse(
                detection.score,
                detection.matches,
                verdict.p,
                threshold,
                a_score,
                scored=verdict.scored,
                allowlisted=detection.allowlisted is not None,
            )
            components: dict[str, Any] = {
                "rules": round(detection.score, 4),
                "ml": round(verdict.p, 4),
                "anomaly": round(a_score, 4),
                "fused": round(fused, 4),
            }
            if verdict.target:
                components["ml_target"] = verdict.target
            if a is not None and a.score > 0:
                components["anomaly_target"] = a.target
                components["anomaly_reason"] = a.reason
            made = out[i] = Fused(fused, components)
            if anomalies is None:
                fused_pairs[pair] = (detection, verdict, made)
        return out


def _same_site(referer: str, host: str) -> bool:
    """Whether `referer` is a page of the site `host` names (False when the host is unknown).

    Such a referer's arguments are not scored: the page's own request, arguments and all, is
    judged where it appears in the log; scored again in the referer, a value the classifier
    gets wrong would be wrong again on every asset and page that page leads to.
    """
    if not host:
        return False
    found = _REFERER_HOST.match(referer)
    return found is not None and found[1].lower() == host.partition(":")[0].lower()


def _query_units(query: str) -> list[_Unit]:
    """The argument values of a query string that are not trivial, named by their argument."""
    return [
        (f"args:{normalize.decode_name(raw_name)[:64]}", raw)
        for raw_name, raw in normalize.split_query(query)
        if raw and not features.raw_is_trivial(raw, "args")
    ]


def _referer_units(referer: str) -> list[_Unit]:
    """The argument values of the referer's own URL that are not trivial."""
    return [
        (target, raw)
        for kind, raw, target in fields.referer_units(referer)
        if kind == "referer_args"
        and target != "referer_args:path"
        and not features.raw_is_trivial(raw, "args")
    ]


def _header_value_units(key: fields.HeaderKey) -> list[_Unit]:
    """Each cookie value, each application-defined header's value (``X-``, a tampered
    X-Forwarded-For among them), when not trivial, on its own.

    The standard headers (Accept, Accept-Language, Forwarded, Via, ...) are left out: their
    list grammar (``text/html,*/*;q=0.8``) is nothing like an argument value, and the
    classifier, which never learnt it, calls it an attack. So are the ``X-`` headers that
    describe the client as its user agent does (X-OperaMini-Phone-UA, X-Device-User-Agent,
    X-Wap-Profile), like the user agent itself. Any other ``X-`` header's value is what the
    application makes of it, read as freely as an argument.
    """
    return [
        (target, raw)
        for kind, raw, target in fields.header_units(key)
        if (
            (kind == "cookie" and target != "cookie")
            or (
                kind == "header"
                and target.startswith("header:x-")
                and _CLIENT_DESCRIPTION.search(target) is None
            )
        )
        and not features.raw_is_trivial(raw, "args")
    ]


def swap_in(analyzer: Any, new_models: HybridModels) -> HybridModels | None:
    """Replace the models an analyzer uses, atomically between batches; returns the old ones."""
    old: HybridModels | None = getattr(analyzer, "models", None)
    analyzer.models = new_models
    return old


def shipped_model_dir() -> Path:
    """Where the default models installed with vigil live (``vigil/models``)."""
    return Path(str(resources.files("vigil") / "models"))


def load_models(classifier_dir: Path, anomaly_path: Path | None = None) -> HybridModels:
    """Models from artifact directories (the anomaly baseline is optional)."""
    anomaly = None
    if anomaly_path is not None:
        candidate = anomaly_path / ANOMALY_FILE if anomaly_path.is_dir() else anomaly_path
        if not candidate.exists():
            raise ModelLoadError(f"no anomaly baseline at {candidate}")
        anomaly = SiteBaseline.load(candidate)
    return HybridModels(Classifier(classifier_dir), anomaly)


def load_active_models(active: Mapping[str, str]) -> HybridModels | None:
    """The models the pipeline should use, or None to run rules-only.

    `active` maps a model type to the artifact of its active version in the registry; those
    win, and without an active classifier the default shipped with vigil is used. None (with a
    log line) when onnxruntime is not installed or no model can be loaded.
    """
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        log.warning("running rules-only: onnxruntime not installed")
        return None
    classifier_dir = Path(active["classifier"]) if "classifier" in active else shipped_model_dir()
    anomaly_path = Path(active["anomaly"]) if "anomaly" in active else None
    try:
        models = load_models(classifier_dir, anomaly_path)
    except (ModelLoadError, OSError, ValueError) as exc:
        log.warning("running rules-only: %s", exc)
        return None
    log.info("event=ml_models_loaded version=%s", models.version)
    return models
