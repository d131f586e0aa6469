"""Compile a log format (literal text and fields) into a fast batch parser.

A batch is decoded once and one regular expression runs over the whole text with `findall`,
giving every field of every line in a single C call. A loop generated for the format then
builds the records with no per-field interpretation; a timestamp is parsed once per distinct
text. The fast expression only accepts plain lines (no backslash escapes, canonical request
lines); any line it rejects, or whose values do not convert, goes through a careful per-line
path that decodes escapes, splits odd request lines and, failing that, makes a dead letter
saying why.

For the formats whose fields are plain groups, numbers (status, bytes, request times), a cached
time or fields kept under their names (every line-oriented preset), the compiled
`_records.Assembler` runs that loop instead, filling each named tuple in place: a
combined line then costs about 11,400 machine instructions instead of 16,000 (callgrind, the
whole `parse_batch`). The generated Python loop stays the reference a test compares it with and
the fallback where the module is not built.

For combined and common lines (nginx and Apache) the compiled `_records.Splitter` goes further
and leaves the regular expression out: it scans each line once (memchr for each separator,
eight bytes at a time for the check that the line is printable ASCII without a backslash) and
fills the record from the bytes, with no matched strings or row tuples in between, no string
for a time equal to the line before's, and shared strings for the usual methods and
protocols. It takes only lines plainly of the shape the fast expression matches; every other
line (escapes, non-ASCII bytes, tabs, extra or missing fields, odd request lines, times that do
not parse, byte counts of over 18 digits) goes the regular-expression way unchanged, in order.
On the benchmark log it takes 99.8% of lines, and `parse_batch` costs about 4,400 machine
instructions a line instead of 10,800 (callgrind), half the CPU time.

Measured with callgrind on the seeded benchmark log, a combined line costs about 17,300 machine
instructions (20,000 before records became named tuples built with `tuple.__new__`, and before
the backslash test moved from every line to the chunk): about a third in the regular
expression, the rest in building, tracking and freeing the record and its strings. Splitting
the target in the expression instead of with `str.partition` measured dearer (18,650), and so
did matching a lone `-` outside the groups (17,500); a columnar variant (splitting whole
chunks on quotes and spaces and checking columns with `map`) was twice as slow, because it
makes more intermediate strings than `findall` does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from functools import partial
from itertools import repeat
from typing import Any, cast

from vigil.batch import EMPTY_EXTRA, DeadLetter, LineBatch, LogRecord
from vigil.errors import FormatError
from vigil.ingest.formats.base import (
    SLOTS,
    TRUNCATED_REASON,
    BatchParser,
    ParseResult,
    build_record,
    line_problem,
    strip_line_end,
)
from vigil.ingest.formats.clientip import ClientIpResolver
from vigil.ingest.formats.escapes import unescape
from vigil.ingest.formats.fields import (
    EXTRA,
    IGNORE,
    REQUEST,
    STATUS_CODES,
    TEXT_EXPR,
    FieldSpec,
    Token,
)
from vigil.ingest.formats.request_line import origin_form
from vigil.ingest.formats.timestamps import TimestampCache

try:
    from vigil.ingest.formats import _records
except ImportError:  # pragma: no cover - built without a C compiler: the Python loop runs
    _records = None  # type: ignore[assignment]

_RECORDS_LOOP_VERSION = 5
"""The `_records` build this module speaks to; an older one is not used."""
_RECORDS_OPERATIONS = (
    "source",
    "file_id",
    "offset",
    "group",
    "constant",
    "status",
    "int_or_none",
    "int_or_zero",
    "time",
    "path",
    "split_query",
    "float_or_none",
    "scaled_int",
    "extra",
)
# The per-value expressions of `fields.py` that the compiled loop does itself.
_COMPILED_KINDS: dict[str, tuple[str, object]] = {
    "STATUS_CODES[{g}]": ("status", None),
    "(None if {g} == '-' else int({g}))": ("int_or_none", None),
    "(0 if {g} == '-' else int({g}))": ("int_or_zero", None),
    "(None if {g} == '-' else float({g}))": ("float_or_none", None),
    "(None if {g} == '-' else int({g}) / 1e3)": ("scaled_int", 1e3),
    "(None if {g} == '-' else int({g}) / 1e6)": ("scaled_int", 1e6),
}


def _records_usable() -> bool:
    if _records is None:
        return False
    operations = getattr(_records, "OPERATIONS", {})
    return (
        getattr(_records, "LOOP_VERSION", 0) == _RECORDS_LOOP_VERSION
        and sorted(operations, key=operations.__getitem__) == list(_RECORDS_OPERATIONS)
        and list(operations.values()) == list(range(len(_RECORDS_OPERATIONS)))
    )


_USE_RECORDS = _records_usable()


def _has_newline_python(lines: list[bytes]) -> bool:
    """Whether a line holds a newline (`_records.has_newline` is the same, compiled)."""
    # `find` rather than `in`: bytes containment tries the needle as an integer first and
    # pays for a raised and cleared TypeError on every line.
    return max(map(bytes.find, lines, repeat(b"\n"))) >= 0


_has_newline: Callable[[list[bytes]], bool] = (
    _records.has_newline if _USE_RECORDS else _has_newline_python
)

# Single-character negated classes are the cheapest the regex engine runs; values with
# backslash escapes are sent to the careful path by the generated loop instead.
# The target is split at its first `?` by the expression itself, as `str.partition` would.
_FAST_REQUEST = r"([A-Za-z]++) ([^ ]++) (HTTP/[0-9.]++)"
_REQUEST_PARTS = ("method", "target", "path", "query", "protocol")
_FAST_REQUEST_GROUPS = ("method", "target", "protocol")

_Slow = Callable[[str, str, bytes, int, list[LogRecord], list[DeadLetter]], None]
_Assemble = Callable[
    [
        list[tuple[str, ...]],
        list[bytes],
        list[int],
        str,
        str,
        list[LogRecord],
        list[DeadLetter],
        _Slow,
        bool,
    ],
    None,
]


_Split = Callable[
    [list[bytes], list[int], str, str, list[LogRecord], Callable[[int, int], None]], None
]
_CLF_HEAD = (
    r"^(?:((?:-|([^\ ]*+))\ {identd}(?:-|([^\ ]*+))\ \[([^\]]*+)\]\ "
    r'"([A-Za-z]++) ([^ ]++) (HTTP/[0-9.]++)"\ ([0-9]{{3}})\ {tail})\r?|.*)$'
)
_QUOTED_TAIL = r'([0-9]++|-)\ "(?:-|([^"]*+))"\ "(?:-|([^"]*+))"'
_SPLIT_SHAPES: dict[str, tuple[bool, bool]] = {
    _CLF_HEAD.format(identd=identd, tail=tail): (identd != r"\-\ ", quoted)
    for identd in (r"\-\ ", r"(?:[^\ ]*+)\ ")
    for tail, quoted in (
        (_QUOTED_TAIL, True),
        (r"(-?[0-9]+|-)", False),
        (r"([0-9]+|-)", False),
    )
}
"""The fast expressions of the formats `_records.Splitter` reads by itself (nginx and Apache
combined and common), keyed to whether the identd field is a word (Apache `%l`) rather than
`-`, and whether the referer and user agent follow: for these exact expressions it gives the
same records."""


def _split_plan(quoted: bool, byte_count: tuple[str, int, object]) -> list[tuple[str, int, object]]:
    """The compiled loop's plan of a combined (`quoted`) or common format, whose fields
    `_records.Splitter` fills in the same way."""
    absent = ("constant", 0, "")
    return [
        ("source", 0, None),
        ("file_id", 0, None),
        ("offset", 0, None),
        ("group", 1, None),
        ("time", 3, None),
        ("group", 4, None),
        ("group", 5, None),
        ("path", 5, None),
        ("split_query", 5, None),
        ("group", 6, None),
        ("status", 7, None),
        byte_count,
        ("group", 9, None) if quoted else absent,
        ("group", 10, None) if quoted else absent,
        ("group", 2, None),
        absent,
        ("constant", 0, None),
        absent,
        ("constant", 0, False),
        ("group", 0, None),
        ("constant", 0, EMPTY_EXTRA),
    ]


def resolve_slots(tokens: Sequence[Token]) -> list[Token]:
    """The tokens with each record slot given to one field; the others move to `extra`."""
    winners: dict[str, FieldSpec] = {}
    for token in tokens:
        if isinstance(token, FieldSpec) and token.slot not in (EXTRA, IGNORE):
            best = winners.get(token.slot)
            if best is None or token.priority < best.priority:
                winners[token.slot] = token
    if REQUEST in winners:
        for part in _REQUEST_PARTS:
            loser = winners.pop(part, None)
            if loser is not None:
                winners[f"demoted {part}"] = loser
    chosen = {id(spec) for key, spec in winners.items() if not key.startswith("demoted")}
    resolved: list[Token] = []
    for token in tokens:
        if isinstance(token, FieldSpec) and token.slot not in (EXTRA, IGNORE):
            resolved.append(token if id(token) in chosen else token.demoted())
        else:
            resolved.append(token)
    return resolved


def _merge_literals(tokens: Sequence[Token]) -> list[Token]:
    merged: list[Token] = []
    for token in tokens:
        if isinstance(token, str):
            if not token:
                continue
            if "\n" in token:
                raise FormatError("a log format cannot contain a newline")
            if merged and isinstance(merged[-1], str):
                merged[-1] += token
                continue
        merged.append(token)
    return merged


def _negated(stop: str, *more: str) -> str:
    return "[^" + "".join(re.escape(c) for c in (stop, *more) if c) + "]"


def _path_class(stop: str | None) -> str:
    # A path ends at its query string, so `$uri$is_args$args` and `%U%q` split correctly.
    return _negated("?", stop or " ")


def _fast_fragment(spec: FieldSpec, stop: str | None) -> str:
    kind = spec.kind
    if kind.fast is None:
        if spec.slot == "path":
            return _path_class(stop) + "*+"
        if stop is None:
            return "[^\\r\\n]*+"
        if stop == "":
            return ".*?"
        return _negated(stop) + "*+"
    alphabet = kind.alphabet
    if alphabet is None:
        return kind.fast
    if stop is not None and len(stop) == 1 and stop not in alphabet:
        return _negated(stop) + "*+" if kind.loose else kind.fast
    # The field could run into what follows it: match it the backtracking way.
    return _slow_fragment(spec, stop)


def _slow_fragment(spec: FieldSpec, stop: str | None) -> str:
    if spec.slot == REQUEST:
        if stop is None:
            return ".*"
        if stop in ("", " "):
            return ".*?"
    elif spec.kind.slow is not None:
        return spec.kind.slow
    elif spec.slot == "path":
        return _path_class(stop) + "*"
    if stop is None:
        return ".*"
    if stop == "":
        return ".*?"
    plain = _negated(stop, "\\")
    return f"{plain}*+(?:\\\\.{plain}*+)*+"


def _dash_in_regex(spec: FieldSpec) -> bool:
    return spec.slot == EXTRA or spec.kind.expr == TEXT_EXPR


class TemplateParser(BatchParser):
    """A parser for one line-oriented log format (nginx `log_format`, Apache `LogFormat`)."""

    chunk_lines = 128
    """Lines matched at once. A batch is worked through in chunks this small so that the
    text, the matched rows and the records being built stay in the CPU caches: on the
    benchmark log, chunks of 128 lines parse half again as fast as whole 2048-line batches."""

    def __init__(
        self,
        name: str,
        description: str,
        tokens: Sequence[Token],
        *,
        resolver: ClientIpResolver | None = None,
        max_line_bytes: int | None = None,
    ) -> None:
        self.name = name
        self.description = description
        self.tokens = _merge_literals(resolve_slots(tokens))
        self.fields = [t for t in self.tokens if isinstance(t, FieldSpec) and t.slot != IGNORE]
        if not self.fields:
            raise FormatError(f"log format {name!r} has no fields")
        self._resolver = resolver or ClientIpResolver()
        self._max_line_bytes = max_line_bytes
        self._timestamp_caches: dict[int, TimestampCache] = {}
        fast, slow = self._patterns()
        try:
            self._fast = re.compile(f"^(?:({fast})\\r?|.*)$", re.MULTILINE)
            self._slow_re = re.compile(slow, re.DOTALL)
        except re.error as exc:
            raise FormatError(f"log format {name!r} cannot be compiled: {exc}") from None
        self._python_assemble = self._generate()
        self._assemble = self._compiled_assemble() or self._python_assemble
        self._split = self._splitter()

    def describe(self) -> str:
        return self.description

    def _patterns(self) -> tuple[str, str]:
        fast: list[str] = []
        slow: list[str] = []
        tokens = self.tokens
        for index, token in enumerate(tokens):
            if isinstance(token, str):
                fast.append(re.escape(token))
                slow.append(re.escape(token))
                continue
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if following is None:
                stop: str | None = None
            elif isinstance(following, str):
                stop = following[0]
            else:
                stop = ""
            if token.slot == IGNORE:
                fast.append(f"(?:{_fast_fragment(token, stop)})")
                slow.append(f"(?:{_slow_fragment(token, stop)})")
            elif token.slot == REQUEST:
                fast.append(_FAST_REQUEST)
                slow.append(f"({_slow_fragment(token, stop)})")
            elif _dash_in_regex(token):
                # A lone `-` (an absent value) is left out of the group, which findall then
                # reports as "": the generated loop needs no comparison for it.
                fast.append(f"(?:-|({_fast_fragment(token, stop)}))")
                slow.append(f"({_slow_fragment(token, stop)})")
            else:
                fast.append(f"({_fast_fragment(token, stop)})")
                slow.append(f"({_slow_fragment(token, stop)})")
        return "".join(fast), "".join(slow)

    def _timestamp_cache(self, number: int, parse: Callable[[str], datetime]) -> TimestampCache:
        """The cache of field `number`'s parsed times, shared by the Python and compiled loops."""
        cache = self._timestamp_caches.get(number)
        if cache is None:
            cache = self._timestamp_caches[number] = TimestampCache(parse)
        return cache

    def _generate(self) -> _Assemble:
        """Write and compile the loop that turns `findall` rows into records.

        Only group numbers and names made here appear in the generated source; everything
        taken from the format string (extra keys) is passed in as a constant.
        """
        namespace: dict[str, Any] = {
            "LogRecord": LogRecord,
            "STATUS_CODES": STATUS_CODES,
            "EMPTY_EXTRA": EMPTY_EXTRA,
            "new_record": tuple.__new__,
        }
        names: list[str] = ["line"]
        slot_expr: dict[str, str] = {}
        extras: list[tuple[str, str]] = []
        statements: list[str] = []
        setup: list[str] = []
        for number, spec in enumerate(self.fields):
            if spec.slot == REQUEST:
                group_names = [f"r{number}_{part}" for part in _FAST_REQUEST_GROUPS]
                names.extend(group_names)
                slot_expr.update(zip(_FAST_REQUEST_GROUPS, group_names, strict=True))
                continue
            group = f"g{number}"
            names.append(group)
            if spec.slot == EXTRA:
                key = f"K{number}"
                namespace[key] = spec.name
                extras.append((key, group))
                continue
            helper = f"t{number}_"
            if spec.kind.time_parser is not None and spec.slot == "observed_at":
                cache = self._timestamp_cache(number, spec.kind.time_parser)
                namespace[f"{helper}get"] = cache.lookup
                namespace[f"{helper}miss"] = cache.miss
                # Logs are written in time order, so a line usually has the time of the one
                # before it: comparing two strings is cheaper than hashing one.
                setup.append(f"{helper}last = {helper}value = None")
                statements.append(f"if {group} != {helper}last:")
                statements.append(f"    {helper}value = {spec.kind.expr.format(g=group, t=helper)}")
                statements.append(f"    {helper}last = {group}")
                slot_expr[spec.slot] = f"{helper}value"
            elif _dash_in_regex(spec):
                slot_expr[spec.slot] = group
            else:
                slot_expr[spec.slot] = spec.kind.expr.format(g=group, t=helper)

        for slot in ("method", "query", "protocol"):
            if slot in slot_expr and not slot_expr[slot].isidentifier():
                statements.append(f"v_{slot} = {slot_expr[slot]}")
                slot_expr[slot] = f"v_{slot}"
        has_target = "target" in slot_expr
        has_path = "path" in slot_expr
        if has_target and not has_path:
            target = slot_expr["target"]
            if not target.isidentifier():
                statements.append(f"v_target = {target}")
                target = slot_expr["target"] = "v_target"
            statements.append(f"v_path, _sep, v_split_query = {target}.partition('?')")
            slot_expr["path"] = "v_path"
            slot_expr.setdefault("query", "v_split_query")
        elif has_path and not has_target:
            statements.append(f"v_path = {slot_expr['path']}")
            query = slot_expr.get("query", "''")
            statements.append(f"v_target = (v_path + '?' + {query}) if {query} else v_path")
            slot_expr["target"] = "v_target"
            slot_expr["path"] = "v_path"

        if self._resolver.active and "forwarded_for" in slot_expr and "client_ip" in slot_expr:
            namespace["resolve"] = self._resolver.resolve
            statements.append(f"v_xff = {slot_expr['forwarded_for']}")
            slot_expr["forwarded_for"] = "v_xff"
            slot_expr["client_ip"] = f"resolve({slot_expr['client_ip']}, v_xff)"

        defaults = {
            "observed_at": "None",
            "status": "None",
            "bytes_sent": "None",
            "request_time": "None",
        }
        arguments = ["source", "file_id", "off"]
        for slot in SLOTS:
            arguments.append(slot_expr.get(slot, defaults.get(slot, "''")))
        arguments.append("False")
        arguments.append("line")
        if extras:
            arguments.append("{" + ", ".join(f"{k}: {v}" for k, v in extras) + "}")
        else:
            arguments.append("EMPTY_EXTRA")

        unpack = ", ".join(names)
        body = [
            "def assemble(rows, lines, offsets, source, file_id, records, dead, slow, escapes):",
            "    append = records.append",
            *(f"    {line}" for line in setup),
            f"    for raw, off, ({unpack},) in zip(lines, offsets, rows):",
            "        if not line or (escapes and '\\\\' in line):",
            "            slow(source, file_id, raw, off, records, dead)",
            "            continue",
            "        try:",
            *(f"            {statement}" for statement in statements),
            f"            append(new_record(LogRecord, ({', '.join(arguments)})))",
            "        except Exception:",
            "            slow(source, file_id, raw, off, records, dead)",
        ]
        source_code = "\n".join(body) + "\n"
        exec(compile(source_code, f"<vigil log format {self.name}>", "exec"), namespace)
        self.generated_source = source_code
        return cast(_Assemble, namespace["assemble"])

    def _compiled_plan(self) -> list[tuple[str, int, object]] | None:
        """The record fields as operations of the compiled loop, or None where one is not
        among them (values converted otherwise than numbers and times, a target joined from
        path and query, client addresses resolved through proxies)."""
        slots: dict[str, tuple[str, int, object]] = {}
        extras: list[tuple[str, int]] = []
        group = 1  # group 0 is the whole line
        for spec in self.fields:
            if spec.slot == REQUEST:
                for part in _FAST_REQUEST_GROUPS:
                    slots[part] = ("group", group, None)
                    group += 1
                continue
            number, group = group, group + 1
            if spec.slot == EXTRA:
                extras.append((spec.name, number))
                continue
            kind = spec.kind
            if kind.time_parser is not None and spec.slot == "observed_at":
                slots[spec.slot] = ("time", number, None)
            elif _dash_in_regex(spec):
                slots[spec.slot] = ("group", number, None)
            elif kind.expr in _COMPILED_KINDS:
                operation, constant = _COMPILED_KINDS[kind.expr]
                slots[spec.slot] = (operation, number, constant)
            else:
                return None
        if "path" not in slots:
            target = slots.get("target")
            if target is None or target[0] != "group":
                return None
            slots["path"] = ("path", target[1], None)
            slots.setdefault("query", ("split_query", target[1], None))
        elif "target" not in slots:
            return None
        if self._resolver.active and "forwarded_for" in slots and "client_ip" in slots:
            return None
        defaults: dict[str, object] = dict.fromkeys(
            ("observed_at", "status", "bytes_sent", "request_time")
        )
        plan: list[tuple[str, int, object]] = [
            ("source", 0, None),
            ("file_id", 0, None),
            ("offset", 0, None),
        ]
        for slot in SLOTS:
            plan.append(slots.get(slot) or ("constant", 0, defaults.get(slot, "")))
        plan.append(("constant", 0, False))
        plan.append(("group", 0, None))
        plan.append(("extra", 0, tuple(extras)) if extras else ("constant", 0, EMPTY_EXTRA))
        return plan

    def _compiled_assemble(self) -> _Assemble | None:
        """The compiled twin of the generated loop, where it is built and covers the format."""
        plan = self._compiled_plan() if _USE_RECORDS else None
        if plan is None:
            return None
        operations = _records.OPERATIONS
        cache = None
        for number, spec in enumerate(self.fields):
            if spec.slot == "observed_at" and spec.kind.time_parser is not None:
                cache = self._timestamp_cache(number, spec.kind.time_parser)
        return _records.Assembler(
            LogRecord,
            [(operations[op], group, constant) for op, group, constant in plan],
            STATUS_CODES,
            cache.lookup if cache is not None else None,
            cache.miss if cache is not None else None,
        )

    def _splitter(self) -> _Split | None:
        """The compiled scanner of combined and common lines, where this is one of those
        formats (its fast expression one of `_SPLIT_SHAPES`, its records built the usual way)."""
        shape = _SPLIT_SHAPES.get(self._fast.pattern) if _USE_RECORDS else None
        if shape is None or self._assemble is self._python_assemble:
            return None
        identd, quoted = shape
        plan = self._compiled_plan()
        dash_bytes = {"int_or_none": None, "int_or_zero": 0}
        if plan is None or plan[11][0] not in dash_bytes or plan != _split_plan(quoted, plan[11]):
            return None
        time_parser = self.fields[2].kind.time_parser
        if time_parser is None:
            return None
        cache = self._timestamp_cache(2, time_parser)
        constants = tuple(value if op == "constant" else None for op, _, value in plan)
        splitter = _records.Splitter(
            LogRecord,
            constants,
            cache.lookup,
            cache.miss,
            identd,
            quoted,
            dash_bytes[plan[11][0]],
        )
        return cast(_Split, splitter.split)

    def parse_batch(self, batch: LineBatch) -> ParseResult:
        """Parse every line of `batch`; see the module docstring for the two paths."""
        result = ParseResult()
        lines = batch.lines
        if not lines:
            return result
        text_lines = lines
        if _has_newline(lines):
            # A reader left line ends on, or a line holds a newline: those go the careful way.
            text_lines = []
            for line in lines:
                stripped = strip_line_end(line)
                text_lines.append(b"" if b"\n" in stripped else stripped)
        limit = self._max_line_bytes
        if limit is not None and max(map(len, text_lines)) > limit:
            text_lines = [b"" if len(line) > limit else line for line in text_lines]
        slow: _Slow = self._careful
        if batch.oversized:
            # The reader kept only the start of these lines: never parse a truncated request.
            text_lines = [
                b"" if i in batch.oversized else line for i, line in enumerate(text_lines)
            ]
            slow = partial(self._careful, truncated={batch.offsets[i] for i in batch.oversized})
        findall = self._fast.findall
        records, dead = result.records, result.dead_letters
        size = self.chunk_lines

        def match(first: int, last: int) -> None:
            """The regular-expression path for lines `first` to `last` (not included)."""
            for start in range(first, last, size):
                end = min(start + size, last)
                text = b"\n".join(text_lines[start:end]).decode("utf-8", "replace")
                rows = findall(text)
                if len(rows) != end - start:
                    # A field ran on past its line (an unbalanced quote): match line by line.
                    rows = [findall(line)[0] for line in text.split("\n")]
                self._assemble(
                    rows,
                    lines[start:end],
                    batch.offsets[start:end],
                    batch.source,
                    batch.file_id,
                    records,
                    dead,
                    slow,
                    "\\" in text,
                )

        if self._split is not None:
            self._split(text_lines, batch.offsets, batch.source, batch.file_id, records, match)
        else:
            match(0, len(lines))
        origin_form(records)
        return result

    def _careful(
        self,
        source: str,
        file_id: str,
        raw: bytes,
        offset: int,
        records: list[LogRecord],
        dead: list[DeadLetter],
        truncated: AbstractSet[int] = frozenset(),
    ) -> None:
        """The per-line path: escapes, lenient shapes, and a reason for every rejection."""
        if offset in truncated:
            dead.append(DeadLetter(source, file_id, offset, raw, TRUNCATED_REASON))
            return
        reason = self._careful_record(source, file_id, raw, offset, records)
        if reason is not None:
            dead.append(DeadLetter(source, file_id, offset, raw, reason))

    def _careful_record(
        self, source: str, file_id: str, raw: bytes, offset: int, records: list[LogRecord]
    ) -> str | None:
        line, problem = line_problem(raw, self._max_line_bytes)
        if problem is not None:
            return problem
        if b"\n" in line:
            return "line contains a newline"
        text = line.decode("utf-8", "replace")
        match = self._slow_re.fullmatch(text)
        if match is None:
            return f"does not match the {self.name} format"
        values: dict[str, object] = {}
        extra: dict[str, str] = {}
        for spec, matched in zip(self.fields, match.groups(), strict=True):
            value = unescape(matched)
            if spec.slot == EXTRA:
                extra[spec.name] = "" if value == "-" else value
                continue
            if spec.slot == REQUEST:
                values[REQUEST] = value
                continue
            try:
                values[spec.slot] = spec.kind.convert(value)
            except (ValueError, OverflowError) as exc:
                return f"bad {spec.name} value {value[:80]!r}: {exc}"
        records.append(build_record(source, file_id, offset, values, extra, text, self._resolver))
        return None
