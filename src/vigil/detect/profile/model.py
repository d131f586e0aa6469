"""What a site's normal traffic looks like: its endpoints, their parameters and the values those
take, the extensions each directory serves, the methods and statuses of each endpoint.

The profile is a positive model (what *is* normal), learned from the site's own traffic:

- only from requests the site answered 2xx/3xx (or whose status the log does not record) and
  that no rule flagged (the caller passes only those);
- weighted by distinct clients: every fact (a parameter name, a character class, a length, an
  enumerated value) keeps the first `CLIENT_CAP` clients that showed it, and counts as normal
  only once `need` distinct clients did (3 on a site of 50 clients or more). One client sending
  the same value 10,000 times makes it no more normal than sending it once;
- an endpoint, parameter or directory is judged only with enough support (`MIN_REQUESTS`
  requests from `need` clients);
- bounded: at most `MAX_ENDPOINTS` endpoints, `MAX_DIRECTORIES` directories, `MAX_PARAMS`
  parameter models (endpoint and site-wide together), `MAX_ENUM` enumerated values and
  `MAX_LENGTHS` length buckets per parameter. What does not fit is not learned; the
  scorer treats it as unknown only where the profile is not full (a full profile never flags
  an endpoint for being new);
- decayed: counts shrink by `DECAY_PER_DAY` per day of traffic, and a fact that falls below one
  request is forgotten, so a profile follows a site that changes.

A directory with more than `FANOUT` distinct children (product slugs, user names) becomes
dynamic: its children fold into one ``{*}`` template, keeping their extension.
"""

from __future__ import annotations

import bisect
import zlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from vigil.detect.profile import shapes

CLIENT_CAP: Final = 4
MIN_REQUESTS: Final = 20
MIN_SITE_REQUESTS: Final = 500
MAX_ENDPOINTS: Final = 4_000
MAX_DIRECTORIES: Final = 2_000
MAX_PARAMS: Final = 8_000
MAX_PARAMS_PER_ENDPOINT: Final = 64
MAX_ENUM: Final = 32
MAX_ENUM_VALUE: Final = 48
MAX_LENGTHS: Final = 96
MAX_EXTENSIONS: Final = 32
FANOUT: Final = 40
ROOT_FANOUT: Final = 200
DECAY_PER_DAY: Final = 0.9
KMV_SIZE: Final = 128
WILDCARD: Final = "{*}"
ICD_BINS: Final = (1, 4, 7, 12, 16, 256)
"""Kruegel & Vigna's idealised character distribution: the sorted relative frequencies of a
value's bytes summed into these bins (most frequent byte, the next three, …)."""


def client_id(ip: str) -> int:
    """A stable 32-bit id of a client (stable across processes, so it can be stored)."""
    return zlib.crc32(ip.encode("utf-8", "surrogateescape"))


class Seen:
    """How often something was seen, and the first `CLIENT_CAP` distinct clients that saw it."""

    __slots__ = ("n", "who")

    def __init__(self, n: float = 0.0, who: set[int] | None = None) -> None:
        self.n = n
        self.who: set[int] = who if who is not None else set()

    def add(self, client: int) -> None:
        self.n += 1.0
        who = self.who
        if len(who) < CLIENT_CAP:
            who.add(client)

    @property
    def support(self) -> int:
        return len(self.who)

    def merge(self, other: Seen) -> None:
        self.n += other.n
        for client in other.who:
            if len(self.who) >= CLIENT_CAP:
                break
            self.who.add(client)

    def to_json(self) -> list[Any]:
        return [round(self.n, 3), sorted(self.who)]

    @classmethod
    def from_json(cls, data: list[Any]) -> Seen:
        return cls(float(data[0]), {int(c) for c in data[1]})


class Distinct:
    """Distinct clients, estimated from the `KMV_SIZE` smallest hashes (k minimum values):
    exact up to that many, then within about 9 %."""

    __slots__ = ("mins",)

    def __init__(self, mins: Iterable[int] = ()) -> None:
        # 4 bytes a hash: an endpoint's counter is at most half a kilobyte.
        self.mins = array("I", mins)

    def add(self, client: int) -> None:
        mins = self.mins
        if len(mins) >= KMV_SIZE and client >= mins[-1]:
            return
        at = bisect.bisect_left(mins, client)
        if at < len(mins) and mins[at] == client:
            return
        mins.insert(at, client)
        if len(mins) > KMV_SIZE:
            mins.pop()

    def merge(self, other: Distinct) -> None:
        for client in other.mins:
            self.add(client)

    @property
    def estimate(self) -> int:
        mins = self.mins
        if len(mins) < KMV_SIZE:
            return len(mins)
        return int((KMV_SIZE - 1) * 2**32 / (mins[-1] + 1))


def _spread(value: int) -> int:
    # crc32 of similar addresses is not uniform enough for KMV; one multiply spreads it.
    return (value * 2654435761) & 0xFFFFFFFF


def length_bucket(length: int) -> int:
    """Lengths up to 64 exactly, then in steps of 16 up to 512, then of 256."""
    if length <= 64:
        return length
    if length <= 512:
        return length - length % 16
    return length - length % 256


def icd(value: bytes) -> list[float]:
    """The value's idealised character distribution over `ICD_BINS`."""
    counts = sorted((value.count(b) for b in set(value)), reverse=True)
    total = len(value)
    out: list[float] = []
    start = 0
    for end in ICD_BINS:
        out.append(sum(counts[start:end]) / total)
        start = end
    return out


ValueShape = tuple[bytes, str, tuple[int, ...], int, "list[float] | None"]
"""A decoded value, its type, its character classes, its length bucket and (free text of 8
bytes or more) its character distribution."""


def value_shape(value: bytes, kind: str, mask: int) -> ValueShape:
    classes = tuple(k for k in range(len(shapes.CLASS_NAMES)) if mask >> k & 1)
    distribution = icd(value) if kind == "text" and len(value) >= 8 else None
    return value, kind, classes, length_bucket(len(value)), distribution


_SHAPES: dict[str, ValueShape] = {}


def shape_of(raw: str) -> ValueShape:
    """The shape of a raw argument value, cached: most values repeat."""
    shape = _SHAPES.get(raw)
    if shape is None:
        if len(_SHAPES) > 50_000:
            _SHAPES.clear()
        value = shapes.decode_value(raw)
        shape = _SHAPES[raw] = value_shape(
            value, shapes.value_type(value), shapes.char_classes(value)
        )
    return shape


def _merge_maps(into: dict[Any, Seen], other: dict[Any, Seen], cap: int) -> None:
    for key, seen in other.items():
        mine = into.get(key)
        if mine is not None:
            mine.merge(seen)
        elif len(into) < cap:
            into[key] = seen


def _decay_map(items: dict[Any, Seen], factor: float) -> None:
    for key in [k for k, seen in items.items() if _decayed(seen, factor)]:
        del items[key]


def _decayed(seen: Seen, factor: float) -> bool:
    seen.n *= factor
    return seen.n < 0.5


@dataclass(slots=True)
class ParamModel:
    """The values of one parameter (on one endpoint, or site-wide)."""

    seen: Seen = field(default_factory=Seen)
    types: dict[str, Seen] = field(default_factory=dict)
    classes: dict[int, Seen] = field(default_factory=dict)
    lengths: dict[int, Seen] = field(default_factory=dict)
    values: dict[bytes, Seen] | None = field(default_factory=dict)
    """Distinct values while there are at most `MAX_ENUM` short ones; None once there are more
    (the parameter is then not an enumeration)."""
    icd_sum: list[float] = field(default_factory=lambda: [0.0] * len(ICD_BINS))
    icd_n: int = 0

    def add(self, value: bytes, kind: str, mask: int, client: int) -> None:
        self.add_shape(value_shape(value, kind, mask), client)

    def add_shape(self, shape: ValueShape, client: int) -> None:
        """Learn one value, described by `value_shape` (computed once per distinct value)."""
        value, kind, classes, bucket, distribution = shape
        self.seen.add(client)
        seen = self.types.get(kind)
        if seen is None:
            seen = self.types[kind] = Seen()
        seen.add(client)
        seen = self.lengths.get(bucket)
        if seen is None and len(self.lengths) < MAX_LENGTHS:
            seen = self.lengths[bucket] = Seen()
        if seen is not None:
            seen.add(client)
        table = self.classes
        for klass in classes:
            seen = table.get(klass)
            if seen is None:
                seen = table[klass] = Seen()
            seen.add(client)
        values = self.values
        if values is not None:
            seen = values.get(value)
            if seen is None:
                if len(values) >= MAX_ENUM or len(value) > MAX_ENUM_VALUE:
                    self.values = None
                else:
                    seen = values[value] = Seen()
            if seen is not None:
                seen.add(client)
        if distribution is not None:
            self.icd_n += 1
            total = self.icd_sum
            for i, share in enumerate(distribution):
                total[i] += share

    def merge(self, other: ParamModel) -> None:
        self.seen.merge(other.seen)
        _merge_maps(self.types, other.types, 16)
        _merge_maps(self.classes, other.classes, 64)
        _merge_maps(self.lengths, other.lengths, MAX_LENGTHS)
        if self.values is None or other.values is None:
            self.values = None
        else:
            _merge_maps(self.values, other.values, MAX_ENUM)
            if len(self.values) >= MAX_ENUM:
                self.values = None
        self.icd_n += other.icd_n
        self.icd_sum = [a + b for a, b in zip(self.icd_sum, other.icd_sum, strict=True)]

    def decay(self, factor: float) -> bool:
        """Shrink the counts; True when the parameter itself is forgotten."""
        for items in (self.types, self.classes, self.lengths):
            _decay_map(items, factor)
        if self.values is not None:
            _decay_map(self.values, factor)
        self.icd_sum = [x * factor for x in self.icd_sum]
        self.icd_n = int(self.icd_n * factor)
        return _decayed(self.seen, factor)

    def to_json(self) -> dict[str, Any]:
        return {
            "seen": self.seen.to_json(),
            "types": {k: v.to_json() for k, v in sorted(self.types.items())},
            "classes": {str(k): v.to_json() for k, v in sorted(self.classes.items())},
            "lengths": {str(k): v.to_json() for k, v in sorted(self.lengths.items())},
            "values": None
            if self.values is None
            else {
                k.decode("latin-1"): v.to_json()
                for k, v in sorted(self.values.items(), key=lambda kv: -kv[1].n)
            },
            "icd": [round(x, 4) for x in self.icd_sum],
            "icd_n": self.icd_n,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ParamModel:
        values = data.get("values")
        return cls(
            seen=Seen.from_json(data["seen"]),
            types={k: Seen.from_json(v) for k, v in data["types"].items()},
            classes={int(k): Seen.from_json(v) for k, v in data["classes"].items()},
            lengths={int(k): Seen.from_json(v) for k, v in data["lengths"].items()},
            values=None
            if values is None
            else {k.encode("latin-1"): Seen.from_json(v) for k, v in values.items()},
            icd_sum=[float(x) for x in data.get("icd", [0.0] * len(ICD_BINS))],
            icd_n=int(data.get("icd_n", 0)),
        )


@dataclass(slots=True)
class EndpointModel:
    """One method on one path template: its traffic, parameters and statuses."""

    seen: Seen = field(default_factory=Seen)
    clients: Distinct = field(default_factory=Distinct)
    params: dict[str, ParamModel] = field(default_factory=dict)
    statuses: dict[int, Seen] = field(default_factory=dict)

    def merge(self, other: EndpointModel) -> int:
        """Merge `other` in; the number of parameter models that went away."""
        self.seen.merge(other.seen)
        self.clients.merge(other.clients)
        _merge_maps(self.statuses, other.statuses, 16)
        gone = 0
        for name, param in other.params.items():
            mine = self.params.get(name)
            if mine is not None:
                mine.merge(param)
                gone += 1
            elif len(self.params) < MAX_PARAMS_PER_ENDPOINT:
                self.params[name] = param
            else:
                gone += 1
        return gone

    def to_json(self) -> dict[str, Any]:
        return {
            "seen": self.seen.to_json(),
            "clients": list(self.clients.mins),
            "params": {k: v.to_json() for k, v in sorted(self.params.items())},
            "statuses": {str(k): v.to_json() for k, v in sorted(self.statuses.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EndpointModel:
        return cls(
            seen=Seen.from_json(data["seen"]),
            clients=Distinct([int(c) for c in data["clients"]]),
            params={k: ParamModel.from_json(v) for k, v in data["params"].items()},
            statuses={int(k): Seen.from_json(v) for k, v in data["statuses"].items()},
        )


@dataclass(slots=True)
class DirectoryModel:
    """One directory template: which children and file extensions it served."""

    seen: Seen = field(default_factory=Seen)
    children: dict[str, Seen] = field(default_factory=dict)
    extensions: dict[str, Seen] = field(default_factory=dict)
    dynamic: bool = False

    def merge(self, other: DirectoryModel) -> None:
        self.seen.merge(other.seen)
        _merge_maps(self.children, other.children, ROOT_FANOUT + 1)
        _merge_maps(self.extensions, other.extensions, MAX_EXTENSIONS)
        self.dynamic = self.dynamic or other.dynamic

    def to_json(self) -> dict[str, Any]:
        return {
            "seen": self.seen.to_json(),
            "children": {k: v.to_json() for k, v in sorted(self.children.items())},
            "extensions": {k: v.to_json() for k, v in sorted(self.extensions.items())},
            "dynamic": self.dynamic,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DirectoryModel:
        return cls(
            seen=Seen.from_json(data["seen"]),
            children={k: Seen.from_json(v) for k, v in data["children"].items()},
            extensions={k: Seen.from_json(v) for k, v in data["extensions"].items()},
            dynamic=bool(data["dynamic"]),
        )


EndpointKey = tuple[str, str]
"""(method, path template)."""


class SiteProfile:
    """The learned profile of one site (see the module docstring). `learn` takes the requests
    to learn from; `vigil.detect.profile.judge.ProfileJudge` scores requests against it."""

    def __init__(self, site: str = "default", *, learning_period: timedelta = timedelta(days=1)):
        self.site = site
        self.learning_period = learning_period
        self.endpoints: dict[EndpointKey, EndpointModel] = {}
        self.directories: dict[str, DirectoryModel] = {}
        self.site_params: dict[str, ParamModel] = {}
        self.extensions: dict[str, Seen] = {}
        self.clients = Distinct()
        self.requests = 0.0
        self.first_seen: datetime | None = None
        self.last_seen: datetime | None = None
        self.last_decay: datetime | None = None
        self.trained = False
        """Set when learning was declared complete (`vigil train --baseline`, a benchmark);
        otherwise the profile judges once `learning_period` of traffic has been learned."""
        self.version = 0
        """Bumped whenever what the profile holds changes; scorers key their caches on it."""
        self._param_count = 0
        self._templates: dict[str, str] = {}
        self._dynamic: set[str] | None = None
        """The dynamic directories, worked out again after any change to them."""

    # -- size and state --------------------------------------------------------------------

    @property
    def param_count(self) -> int:
        return self._param_count

    @property
    def params_full(self) -> bool:
        return self._param_count >= MAX_PARAMS

    @property
    def full(self) -> bool:
        return len(self.endpoints) >= MAX_ENDPOINTS

    @property
    def need(self) -> int:
        """Distinct clients that make a fact normal: 3 on a site of 50 clients or more, 2 from
        10 clients, else 1 (a site seen from very few addresses, e.g. behind one proxy)."""
        clients = self.clients.estimate
        return 3 if clients >= 50 else 2 if clients >= 10 else 1

    @property
    def judging(self) -> bool:
        """Whether the learning period is over (or learning was declared complete)."""
        if self.trained:
            return True
        if self.first_seen is None or self.last_seen is None or self.requests < MIN_SITE_REQUESTS:
            return False
        return self.last_seen - self.first_seen >= self.learning_period

    def client_count(self) -> int:
        return self.clients.estimate

    # -- templates -------------------------------------------------------------------------

    def template(self, path: str) -> str:
        """The endpoint template of `path`: ids, hashes and dates folded, and the children of
        dynamic directories folded into ``{*}`` (keeping the extension)."""
        cached = self._templates.get(path)
        if cached is not None:
            return cached
        key = path
        if not path.startswith("/"):
            # An absolute-form target (``GET http://host:8080/shop/a.jsp``, as proxies and some
            # clients send it) is the same endpoint as its path.
            scheme = path.find("://")
            slash = path.find("/", scheme + 3) if scheme >= 0 else -1
            path = path[slash:] if slash >= 0 else "/"
        dynamic = self._dynamic
        if dynamic is None:
            dynamic = self._dynamic = {p for p, d in self.directories.items() if d.dynamic}
        if not dynamic:
            prefix = "/" + "/".join(shapes.segments(path))
        else:
            # A child of a dynamic directory becomes ``{*}``: it is not folded (only the
            # extension of a last segment is), which spares the regex for every new slug.
            parts = path.split("/")[1:]
            fold = shapes.folded
            prefix = "/"
            last = len(parts) - 1
            for i, part in enumerate(parts):
                if part and prefix in dynamic:
                    ext = shapes.folded_extension(part) if i == last else ""
                    part = WILDCARD + ("." + ext if ext else "")
                else:
                    part = fold(part)
                prefix += part if i == last else part + "/"
        if len(self._templates) > 100_000:
            self._templates.clear()
        self._templates[key] = prefix
        return prefix

    # -- learning --------------------------------------------------------------------------

    def learn_one(
        self,
        method: str,
        path: str,
        query: str,
        status: int | None,
        client: int,
        at: datetime | None = None,
    ) -> None:
        """Learn one request (the caller has already chosen it as normal)."""
        if at is not None:
            if self.first_seen is None:
                self.first_seen = self.last_decay = at
            if self.last_seen is None or at > self.last_seen:
                self.last_seen = at
                if self.last_decay is not None and at - self.last_decay >= timedelta(days=1):
                    self.decay((at - self.last_decay) / timedelta(days=1))
                    self.last_decay = at
        self.requests += 1
        self.clients.add(_spread(client))
        # The path is learned first: a directory that turns dynamic here changes the template.
        self._learn_path(self.template(path), client)
        template = self.template(path)
        key = (method, template)
        endpoint = self.endpoints.get(key)
        if endpoint is None:
            if len(self.endpoints) >= MAX_ENDPOINTS:
                return
            endpoint = self.endpoints[key] = EndpointModel()
        endpoint.seen.add(client)
        endpoint.clients.add(_spread(client))
        if status is not None:
            seen = endpoint.statuses.get(status)
            if seen is None and len(endpoint.statuses) < 16:
                seen = endpoint.statuses[status] = Seen()
            if seen is not None:
                seen.add(client)
        if query:
            self._learn_args(endpoint, query, client)

    def _learn_path(self, template: str, client: int) -> None:
        cut = template.rfind("/") + 1
        prefix, last = template[:cut], template[cut:]
        # Every ancestor directory learns its child, so a directory that turns out to hold
        # slugs is found at any depth.
        start = 0
        while True:
            slash = template.find("/", start)
            if slash < 0:
                break
            directory_path = template[: slash + 1]
            nxt = template.find("/", slash + 1)
            child = template[slash + 1 : nxt] if nxt >= 0 else template[slash + 1 :]
            directory = self._directory(directory_path)
            if directory is None:
                return
            directory.seen.add(client)
            if child and not directory.dynamic:
                seen = directory.children.get(child)
                if seen is None:
                    limit = ROOT_FANOUT if directory_path == "/" else FANOUT
                    if len(directory.children) >= limit:
                        self._make_dynamic(directory_path, directory)
                        self.version += 1
                        return self._learn_path(self.template_of_template(template), client)
                    seen = directory.children[child] = Seen()
                seen.add(client)
            start = slash + 1
        ext = shapes.extension_of(last)
        directory = self.directories.get(prefix)
        if directory is not None:
            seen = directory.extensions.get(ext)
            if seen is None and len(directory.extensions) < MAX_EXTENSIONS:
                seen = directory.extensions[ext] = Seen()
            if seen is not None:
                seen.add(client)
        seen = self.extensions.get(ext)
        if seen is None and len(self.extensions) < 4 * MAX_EXTENSIONS:
            seen = self.extensions[ext] = Seen()
        if seen is not None:
            seen.add(client)

    def _directory(self, path: str) -> DirectoryModel | None:
        directory = self.directories.get(path)
        if directory is None:
            if len(self.directories) >= MAX_DIRECTORIES:
                return None
            directory = self.directories[path] = DirectoryModel()
        return directory

    def _forget_templates(self) -> None:
        self._templates.clear()
        self._dynamic = None

    def template_of_template(self, template: str) -> str:
        """A template re-folded after a directory became dynamic."""
        self._forget_templates()
        return self.template(template)

    def _make_dynamic(self, prefix: str, directory: DirectoryModel) -> None:
        """Fold every child of `prefix` into ``{*}``: endpoints and directories under it are
        re-keyed and merged."""
        directory.dynamic = True
        directory.children.clear()
        self._forget_templates()
        self._dynamic = None
        moved = [key for key in self.endpoints if key[1].startswith(prefix) and key[1] != prefix]
        for key in moved:
            endpoint = self.endpoints.pop(key)
            new_key = (key[0], self.template(key[1]))
            target = self.endpoints.get(new_key)
            if target is None:
                self.endpoints[new_key] = endpoint
            else:
                self._param_count -= target.merge(endpoint)
        below = [path for path in self.directories if path.startswith(prefix) and path != prefix]
        for path in below:
            child = self.directories.pop(path)
            new_path = self.template(path + "x")[:-1] if path.endswith("/") else path
            target_dir = self.directories.get(new_path)
            if target_dir is None:
                self.directories[new_path] = child
            else:
                target_dir.merge(child)
        self._forget_templates()

    def _learn_args(self, endpoint: EndpointModel, query: str, client: int) -> None:
        params = endpoint.params
        site_params = self.site_params
        for name, raw in shapes.query_args(query):
            shape = shape_of(raw)
            for table, cap in ((params, MAX_PARAMS_PER_ENDPOINT), (site_params, MAX_PARAMS)):
                model = table.get(name)
                if model is None:
                    if len(table) >= cap or self._param_count >= MAX_PARAMS:
                        continue
                    model = table[name] = ParamModel()
                    self._param_count += 1
                model.add_shape(shape, client)

    def learn_records(self, records: Iterable[Any]) -> int:
        """Learn from parsed records (`LogRecord`s the caller chose); the number learned."""
        learned = 0
        ids: dict[str, int] = {}
        for record in records:
            if record.malformed:
                continue
            ip = record.client_ip
            client = ids.get(ip)
            if client is None:
                client = ids[ip] = client_id(ip)
            self.learn_one(
                record.method, record.path, record.query, record.status, client,
                record.observed_at,
            )  # fmt: skip
            learned += 1
        if learned:
            self.version += 1
        return learned

    def decay(self, days: float = 1.0) -> None:
        """Shrink every count by `DECAY_PER_DAY` per day, forgetting what falls below one."""
        factor = DECAY_PER_DAY**days
        self.requests *= factor
        for key in [k for k, e in self.endpoints.items() if self._decay_endpoint(e, factor)]:
            del self.endpoints[key]
        for name in [n for n, p in self.site_params.items() if p.decay(factor)]:
            del self.site_params[name]
        for path in [p for p, d in self.directories.items() if _decayed(d.seen, factor)]:
            del self.directories[path]
        for directory in self.directories.values():
            _decay_map(directory.children, factor)
            _decay_map(directory.extensions, factor)
        _decay_map(self.extensions, factor)
        self._param_count = len(self.site_params) + sum(
            len(e.params) for e in self.endpoints.values()
        )
        self._forget_templates()
        self.version += 1

    def _decay_endpoint(self, endpoint: EndpointModel, factor: float) -> bool:
        for name in [n for n, p in endpoint.params.items() if p.decay(factor)]:
            del endpoint.params[name]
        _decay_map(endpoint.statuses, factor)
        return _decayed(endpoint.seen, factor)

    def reset(self) -> None:
        """Forget everything (the learning period starts again)."""
        fresh = SiteProfile(self.site, learning_period=self.learning_period)
        for name in SiteProfile._STATE:
            setattr(self, name, getattr(fresh, name))
        self.version += 1

    _STATE: Final = (
        "endpoints", "directories", "site_params", "extensions", "clients", "requests",
        "first_seen", "last_seen", "last_decay", "trained", "_param_count", "_templates",
        "_dynamic",
    )  # fmt: skip

    def iter_params(self) -> Iterator[tuple[str, str, str, ParamModel]]:
        """(method, template, name, model) of every endpoint parameter."""
        for (method, template), endpoint in self.endpoints.items():
            for name, param in endpoint.params.items():
                yield method, template, name, param

    # -- persistence -----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        def stamp(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "format": 1,
            "site": self.site,
            "learning_period_seconds": self.learning_period.total_seconds(),
            "requests": round(self.requests, 3),
            "clients": list(self.clients.mins),
            "first_seen": stamp(self.first_seen),
            "last_seen": stamp(self.last_seen),
            "last_decay": stamp(self.last_decay),
            "trained": self.trained,
            "endpoints": [
                {"method": method, "template": template, **endpoint.to_json()}
                for (method, template), endpoint in sorted(self.endpoints.items())
            ],
            "directories": {k: v.to_json() for k, v in sorted(self.directories.items())},
            "site_params": {k: v.to_json() for k, v in sorted(self.site_params.items())},
            "extensions": {k: v.to_json() for k, v in sorted(self.extensions.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SiteProfile:
        if data.get("format") != 1:
            raise ValueError(f"unknown site profile format {data.get('format')!r}")

        def stamp(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        profile = cls(
            str(data["site"]),
            learning_period=timedelta(seconds=float(data["learning_period_seconds"])),
        )
        profile.requests = float(data["requests"])
        profile.clients = Distinct([int(c) for c in data["clients"]])
        profile.first_seen = stamp(data["first_seen"])
        profile.last_seen = stamp(data["last_seen"])
        profile.last_decay = stamp(data["last_decay"])
        profile.trained = bool(data["trained"])
        for item in data["endpoints"]:
            key = (str(item["method"]), str(item["template"]))
            profile.endpoints[key] = EndpointModel.from_json(item)
        profile.directories = {
            k: DirectoryModel.from_json(v) for k, v in data["directories"].items()
        }
        profile.site_params = {k: ParamModel.from_json(v) for k, v in data["site_params"].items()}
        profile.extensions = {k: Seen.from_json(v) for k, v in data["extensions"].items()}
        profile._param_count = len(profile.site_params) + sum(
            len(e.params) for e in profile.endpoints.values()
        )
        return profile
