"""Scoring requests against a site profile: each broken expectation is a deviation with a
weight and a sentence; a request's profile score fuses its deviations.

Deviations and weights (a weight of 0.5 or more is MEDIUM alone, 0.7 HIGH):

=============================================================  ======
parameter never seen on a well-known endpoint                   0.65
  (0.35 if the site uses that name on other endpoints)
parameter name never seen anywhere on the site (unknown path)   0.5
value outside its learned type (``1+`` for an integer)          0.7
character classes the parameter never had                       0.55
  (quotes, brackets, ``;|&$=``, control characters: 0.75)
value far longer than ever (1.5× + 8)                           0.55
  (3× + 16: 0.75)
length off a fixed-length parameter                             0.5
value none of an enumeration's values                           0.6
character distribution unlike the parameter's free text         0.35
extension never served in this directory (served elsewhere)     0.6
extension never served on the site                              0.75
unknown endpoint answered 2xx/3xx under a known directory       0.55
method never seen on a known path                               0.6
parameter present in nearly every request is missing            0.3
server error where the endpoint never failed                    0.3
=============================================================  ======

The request's score is ``1 − Π(1 − wᵢ)`` over its deviations (two weak ones make a MEDIUM),
and its reasons are the deviations' sentences, strongest first. Path deviations count less when
the site refused the request (4xx): a 404 for a path the site never had is what a site says to
a stale link, and rules judge probes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import attrgetter, is_
from typing import Any, Final

from vigil.detect.profile import shapes
from vigil.detect.profile.model import (
    MIN_REQUESTS,
    EndpointModel,
    ParamModel,
    SiteProfile,
    icd,
)

__all__ = ["ProfileJudge", "ProfileVerdict"]

MIN_VALUES: Final = 20
CONFIDENT_REQUESTS: Final = 300
ENUM_MIN_REQUESTS: Final = 50
REQUIRED_SHARE: Final = 0.98
MAX_REASONS: Final = 4
_CACHE_LIMIT: Final = 200_000
_DANGEROUS_MASK: Final = sum(1 << k for k in shapes.DANGEROUS_CLASSES)
_STATIC: Final = frozenset(
    {
        "ico", "png", "gif", "jpg", "jpeg", "svg", "webp", "avif", "css", "js", "mjs", "map",
        "txt", "html", "htm", "xml", "json", "woff", "woff2", "ttf", "eot", "otf", "webmanifest",
    }
)  # fmt: skip
"""Extensions a browser asks for on its own (icons, manifests): a 404 for one is not a probe."""
_CHI2_LIMIT: Final = 30.0
_METHOD: Final = attrgetter("method")
_PATH: Final = attrgetter("path")
_QUERY: Final = attrgetter("query")
_STATUS: Final = attrgetter("status")
_MALFORMED: Final = attrgetter("malformed")
_STATUS_KEY: Final[dict[int | None, int | None]] = {
    None: 0,
    **{status: 0 if status < 400 else 4 if status < 500 else status for status in range(600)},
}
"""What of a status a verdict depends on: 0 for 2xx/3xx (or none logged), 4 for any 4xx, and a
5xx itself (its reason names it); a status not listed here stands for itself."""
_RequestKey = tuple[str, str, str, int | None, bool]
"""(method, path, query, status key, malformed): what a request's verdict depends on."""


@dataclass(frozen=True, slots=True)
class ProfileVerdict:
    """How far one request is out of its site's profile: score in [0, 1] and why."""

    score: float
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"score": round(self.score, 4), "reasons": list(self.reasons)}


NORMAL: Final = ProfileVerdict(0.0, ())

Deviation = tuple[float, str]


def _fuse(deviations: Sequence[Deviation]) -> ProfileVerdict:
    deviations = [d for d in deviations if d[0] > 0]
    if not deviations:
        return NORMAL
    keep = 1.0
    for weight, _ in deviations:
        keep *= 1.0 - weight
    ordered = sorted(deviations, key=lambda d: -d[0])
    reasons: list[str] = []
    for _, text in ordered:
        if text not in reasons:
            reasons.append(text)
    return ProfileVerdict(round(min(0.99, 1.0 - keep), 4), tuple(reasons[:MAX_REASONS]))


def _show(value: bytes, limit: int = 40) -> str:
    text = value.decode("utf-8", "backslashreplace")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _n(value: float) -> str:
    return f"{round(value):,}"


class ParamView:
    """What one learned parameter accepts, compiled from its `ParamModel`."""

    __slots__ = (
        "allowed", "classes", "confidence", "enum", "fixed", "hi", "icd", "judged", "lo",
        "name", "place", "requests", "types", "where",
    )  # fmt: skip

    def __init__(self, name: str, place: str, model: ParamModel, need: int) -> None:
        self.name = name
        self.place = place
        self.where = f"`{name}` {place}"
        self.requests = model.seen.n
        self.confidence = 0.6 + 0.4 * min(1.0, self.requests / CONFIDENT_REQUESTS)
        self.judged = model.seen.n >= MIN_VALUES and model.seen.support >= need
        self.types = frozenset(t for t, s in model.types.items() if s.support >= need)
        allowed: set[str] = set()
        for kind in self.types:
            allowed |= shapes.TYPE_COVERS[kind]
        self.allowed = frozenset(allowed)
        mask = 0
        for klass, seen in model.classes.items():
            if seen.support >= need:
                mask |= 1 << klass
        self.classes = mask
        lengths = [b for b, s in model.lengths.items() if s.support >= need]
        self.lo = min(lengths) if lengths else 0
        top = max(lengths) if lengths else 0
        # A bucket above 64 stands for the lengths up to the next bucket.
        self.hi = top if top <= 64 else top + (15 if top <= 512 else 255)
        self.fixed = (
            len(lengths) == 1 and model.seen.n >= 2 * MIN_VALUES and self.types <= {"int", "token"}
        )
        enum: frozenset[bytes] | None = None
        if model.values is not None and model.seen.n >= ENUM_MIN_REQUESTS:
            supported = {v: s for v, s in model.values.items() if s.support >= need}
            covered = sum(s.n for s in supported.values())
            if supported and covered >= 0.99 * model.seen.n and not self.types <= {"int", "dec"}:
                enum = frozenset(supported)
        self.enum = enum
        self.icd: list[float] | None = None
        if model.icd_n >= 30:
            self.icd = [x / model.icd_n for x in model.icd_sum]

    def judge(self, value: bytes) -> list[Deviation]:
        """The deviations of one decoded value from this parameter, weighed by how well the
        parameter is known: full weight from `CONFIDENT_REQUESTS` requests on, down to 0.6 of
        it at the minimum support (a rare shape of a little-used parameter is weak evidence)."""
        found = self._deviations(value)
        if not found:
            return found
        confidence = self.confidence
        return [(weight * confidence, text) for weight, text in found]

    def _deviations(self, value: bytes) -> list[Deviation]:
        out: list[Deviation] = []
        kind = shapes.value_type(value)
        where = self.where
        if self.types and kind not in self.allowed:
            learned = " or ".join(sorted(shapes.TYPE_NAMES[t] for t in self.types))
            weight = 0.3 if kind == "empty" else 0.7
            out.append(
                (weight, f"value `{_show(value)}` of {where} is not {learned} "
                 f"(as in {_n(self.requests)} requests)")
            )  # fmt: skip
        new = shapes.char_classes(value) & ~self.classes
        if new and self.classes:
            weight = 0.75 if new & _DANGEROUS_MASK else 0.55
            names = ", ".join(shapes.class_names(new))
            out.append((weight, f"{names} never seen in the values of {where}"))
        length = len(value)
        if self.fixed and length != self.hi and kind != "empty":
            out.append((0.5, f"value of {where} is {length} bytes long; it always was {self.hi}"))
        elif self.hi and length > self.hi:
            if length > 3 * self.hi + 16:
                weight = 0.75
            elif length > 1.5 * self.hi + 8:
                weight = 0.55
            else:
                weight = 0.0
            if weight:
                out.append(
                    (weight, f"value of {where} is {length:,} bytes long; the longest learned "
                     f"was {self.hi:,}")
                )  # fmt: skip
        if self.enum is not None and value not in self.enum and kind != "empty":
            out.append(
                (0.6, f"value `{_show(value)}` of {where} is none of the {len(self.enum)} "
                 "values it takes")
            )  # fmt: skip
        if self.icd is not None and kind == "text" and length >= 16:
            observed = icd(value)
            chi2 = 0.0
            for seen, expected in zip(observed, self.icd, strict=True):
                want = max(expected * length, 0.5)
                chi2 += (seen * length - want) ** 2 / want
            if chi2 > _CHI2_LIMIT * (1 + length / 64):
                out.append((0.35, f"character distribution unlike the values of {where}"))
        return out


class EndpointView:
    """One learned endpoint, compiled."""

    __slots__ = ("clients", "judged", "label", "params", "requests", "required", "statuses")

    def __init__(self, label: str, model: EndpointModel, need: int) -> None:
        self.label = label
        self.requests = model.seen.n
        self.clients = model.clients.estimate
        self.judged = model.seen.n >= MIN_REQUESTS and model.seen.support >= need
        self.params = {
            name: ParamView(name, f"on `{label}`", param, need)
            for name, param in model.params.items()
            if param.seen.support >= need
        }
        self.required = tuple(
            name
            for name, view in self.params.items()
            if view.requests >= REQUIRED_SHARE * self.requests and self.requests >= 2 * MIN_VALUES
        )
        self.statuses = frozenset(model.statuses)


class ProfileJudge:
    """Scores requests against one `SiteProfile`; compiled views and verdicts are cached until
    `refresh` sees the profile changed."""

    def __init__(self, profile: SiteProfile) -> None:
        self.profile = profile
        self._version = -1
        self._cache: dict[_RequestKey, ProfileVerdict] = {}
        self._by_template: dict[tuple[str, str, str, int | None], ProfileVerdict] = {}
        self._values: dict[tuple[int, str], list[Deviation]] = {}
        self.refresh()

    def refresh(self) -> None:
        """Recompile from the profile if it changed since the last compile."""
        profile = self.profile
        if profile.version == self._version:
            return
        self._version = profile.version
        self._cache.clear()
        self._by_template.clear()
        self._values.clear()
        need = profile.need
        self.need = need
        self.active = profile.judging
        self.endpoints: dict[tuple[str, str], EndpointView] = {}
        self.methods: dict[str, set[str]] = {}
        for (method, template), model in profile.endpoints.items():
            if model.seen.support < need:
                continue
            label = template if method == "GET" else f"{method} {template}"
            self.endpoints[(method, template)] = EndpointView(label, model, need)
            self.methods.setdefault(template, set()).add(method)
        self.site_params = {
            name: ParamView(name, "anywhere on the site", model, need)
            for name, model in profile.site_params.items()
            if model.seen.support >= need
        }
        self.directories: dict[str, tuple[float, frozenset[str]]] = {
            path: (
                model.seen.n,
                frozenset(ext for ext, s in model.extensions.items() if s.support >= need),
            )
            for path, model in profile.directories.items()
            if model.seen.support >= need
        }
        self.extensions = frozenset(
            ext for ext, s in profile.extensions.items() if s.support >= need
        )

    # -- scoring ---------------------------------------------------------------------------

    def judge_batch(self, records: Sequence[Any]) -> list[ProfileVerdict]:
        """One verdict per record, in order (all NORMAL while the profile is still learning)."""
        self.refresh()
        if not self.active:
            return [NORMAL] * len(records)
        cache = self._cache
        # Each cache is bounded on its own: they only memoise, so clearing one changes no
        # verdict, and the dearer ones behind it survive.
        for memo in (cache, self._by_template, self._values):
            if len(memo) > _CACHE_LIMIT:
                memo.clear()
        # Most requests repeat one seen before: their keys are built and looked up for the
        # whole batch in C, and only the rest are judged one by one.
        statuses = list(map(_STATUS, records))
        out: list[Any] = list(
            map(
                cache.get,
                zip(
                    map(_METHOD, records),
                    map(_PATH, records),
                    map(_QUERY, records),
                    map(_STATUS_KEY.get, statuses, statuses),
                    map(_MALFORMED, records),
                    strict=True,
                ),
            )
        )
        missing = list(compress(range(len(out)), map(is_, out, repeat(None))))
        if missing:
            self._judge_new(records, out, missing)
        return out

    def _judge_new(self, records: Sequence[Any], out: list[Any], missing: list[int]) -> None:
        """Judge the requests at `missing` (not in the verdict cache) into `out` and the cache."""
        cache = self._cache
        by_template = self._by_template
        judge = self._judge
        template_of = self.profile.template
        for i in missing:
            record = records[i]
            method, path, query, status = record.method, record.path, record.query, record.status
            status_key = _STATUS_KEY.get(status, status)
            key = (method, path, query, status_key, record.malformed)
            verdict = cache.get(key)  # an earlier request of this batch may have been the same
            if verdict is None:
                if record.malformed:
                    verdict = NORMAL
                else:
                    # Paths that differ only by an id share their template's verdict.
                    template = template_of(path)
                    by = (method, template, query, status_key)
                    verdict = by_template.get(by)
                    if verdict is None:
                        band = 0 if status is None or status < 400 else 4 if status < 500 else 5
                        verdict = by_template[by] = judge(method, template, query, band, status)
                cache[key] = verdict
            out[i] = verdict

    def judge_request(
        self, method: str, path: str, query: str = "", status: int | None = 200
    ) -> ProfileVerdict:
        """The verdict on one request (for `vigil rules explain` and tests)."""
        self.refresh()
        if not self.active:
            return NORMAL
        band = 0 if status is None or status < 400 else 4 if status < 500 else 5
        return self._judge(method, self.profile.template(path), query, band, status)

    def _judge(
        self, method: str, template: str, query: str, band: int, status: int | None
    ) -> ProfileVerdict:
        profile = self.profile
        deviations: list[Deviation] = []
        endpoint = self.endpoints.get((method, template))
        args = shapes.query_args(query) if query else []
        answered = band == 0
        if endpoint is None:
            self._unknown_endpoint(method, template, answered, deviations)
            for name, raw in args:
                view = self.site_params.get(name)
                if view is None:
                    if self.site_params and not profile.params_full:
                        deviations.append(
                            (0.5, f"parameter `{name}` never seen anywhere on the site")
                        )
                elif view.judged:
                    deviations.extend(self._value(view, raw))
            return _fuse(deviations)
        if endpoint.judged:
            names = set()
            for name, raw in args:
                names.add(name)
                view = endpoint.params.get(name)
                site_view = self.site_params.get(name)
                if view is None:
                    weight = 0.35 if site_view is not None and site_view.judged else 0.65
                    if profile.params_full:
                        # A full profile may not have learned it: no opinion on the name.
                        weight = 0.0
                    deviations.append(
                        (weight, f"parameter `{name}` never seen on `{endpoint.label}` in "
                         f"{_n(endpoint.requests)} requests from {_n(endpoint.clients)} clients")
                    )  # fmt: skip
                    view = site_view
                elif not view.judged and site_view is not None:
                    view = site_view
                if view is not None and view.judged:
                    deviations.extend(self._value(view, raw))
            for name in endpoint.required:
                if name not in names:
                    deviations.append(
                        (0.3, f"parameter `{name}`, sent in nearly every request to "
                         f"`{endpoint.label}`, is missing")
                    )  # fmt: skip
            if band == 5 and not any(s >= 500 for s in endpoint.statuses):
                deviations.append((0.3, f"answered {status} where `{endpoint.label}` never failed"))
        else:
            for name, raw in args:
                view = self.site_params.get(name)
                if view is not None and view.judged:
                    deviations.extend(self._value(view, raw))
        return _fuse(deviations)

    def _value(self, view: ParamView, raw: str) -> list[Deviation]:
        key = (id(view), raw)
        found = self._values.get(key)
        if found is None:
            found = self._values[key] = view.judge(shapes.decode_value(raw))
        return found

    def _unknown_endpoint(
        self, method: str, template: str, answered: bool, deviations: list[Deviation]
    ) -> None:
        methods = self.methods.get(template)
        if methods:
            seen = ", ".join(sorted(methods))
            weight = 0.6 if answered else 0.3
            deviations.append(
                (weight, f"method {method} never seen on `{template}` (seen: {seen})")
            )
            return
        directory = shapes.directory_of(template)
        last = template[len(directory) :]
        ext = shapes.extension_of(last)
        known = self.directories.get(directory)
        scale = 1.0 if answered or ext not in _STATIC else 0.0
        if known is not None and known[1] and ext not in known[1]:
            served = ", ".join(f".{e}" if e else "(none)" for e in sorted(known[1])[:8])
            weight = 0.75 if ext not in self.extensions else 0.6
            shown = f".{ext}" if ext else "no extension"
            deviations.append(
                (weight * scale, f"{shown} never served in `{directory}` (served there: {served})")
            )
        elif ext and ext not in self.extensions and self.extensions:
            deviations.append((0.75 * scale, f".{ext} never served anywhere on the site"))
        if not answered or self.profile.full:
            return
        ancestor = directory
        while ancestor not in self.directories and ancestor != "/":
            ancestor = ancestor[: ancestor[:-1].rfind("/") + 1] or "/"
        count = self.directories.get(ancestor, (0.0, frozenset()))[0]
        if count >= MIN_REQUESTS:
            deviations.append(
                (0.55, f"`{template}` never seen, yet answered, under `{ancestor}` "
                 f"({_n(count)} requests)")
            )  # fmt: skip
