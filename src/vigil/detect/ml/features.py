"""Feature extraction for the models: request values → hashed character n-grams + numeric features.

The unit the models score is one *value* of a request: the path, or one query argument value
(the referer's argument values and cookie values are scored as argument values too). A value
is decoded exactly as the rules engine decodes it (`vigil.detect.normalize`), then
described by

- hashed character 1–3-grams of the decoded, lowercased text (digits folded to ``0`` so that
  ``5828=5828`` and ``1234=1234`` look alike), counted, log-scaled and L2-normalised, in
  ``2**bits`` buckets; the hash is a fixed polynomial over code points computed with numpy for
  the whole batch at once, so it is stable across processes (unlike Python's ``hash``);
- numeric features (`NUMERIC_NAMES`): length, entropy, character-class ratios, counts of the
  characters injections need, the decoding/evasion signals the rules engine also reports, and
  the injection analysers' verdicts (libinjection SQLi/XSS, as the engine runs them).

Values made only of letters, digits and ``_-.~`` (and ``/`` in paths), without ``..``, are
*trivial*: no injection fits in them, so they are never scored by the classifier. Most lines
of a real log are assets and plain pages, which is what keeps the models off the hot path.
Status codes and response sizes are deliberately not features: an ordinary 404 must not look
suspicious. Neither are letter case or how much of the raw value was percent-encoded: the
training data set holds values unencoded and lowercased, so such features would teach the
model that an encoded or upper-case value is benign, which attack tools would exploit.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from vigil.batch import LogRecord
from vigil.detect import injection, normalize

DEFAULT_BITS: Final = 12
NGRAM_SIZES: Final = (1, 2, 3)
MAX_VALUE_CHARS: Final = 2048

NUMERIC_NAMES: Final = (
    "length",
    "entropy",
    "digit_ratio",
    "alpha_ratio",
    "space_ratio",
    "symbol_ratio",
    "quotes",
    "brackets",
    "angle_brackets",
    "shell_meta",
    "comment_markers",
    "dot_dot",
    "equals",
    "double_encoding",
    "invalid_encoding",
    "unicode_encoding",
    "overlong_utf8",
    "nul_byte",
    "libinjection_sqli",
    "libinjection_xss",
    "is_path",
)

_TRIVIAL_ARG = re.compile(r"[a-z0-9_\-.~]*")
_TRIVIAL_PATH = re.compile(r"[a-z0-9_\-.~/]*")
_RAW_TRIVIAL_ARG = re.compile(r"[A-Za-z0-9_\-.~]*")
_RAW_TRIVIAL_PATH = re.compile(r"[A-Za-z0-9_\-.~/]*")
_DIGITS = str.maketrans("0123456789", "0000000000")
_P: Final = np.uint64(0x100000001B3)
_SALT: Final = np.uint64(0x9E3779B97F4A7C15)
_MIX: Final = np.uint64(0xFF51AFD7ED558CCD)


@dataclass(frozen=True, slots=True)
class Value:
    """One decoded request value the classifier scores: where it came from and what it says."""

    target: str
    kind: str
    raw: str
    text: str
    signals: frozenset[str]


def decode_value(raw: str, kind: str) -> tuple[str, frozenset[str]]:
    """The decoded, cleaned (lowercased, blanks compressed) text of a value and its signals."""
    raw = raw[:MAX_VALUE_CHARS]
    decoded, signals = normalize.decode(raw, form=kind == "args")
    text = normalize.clean(decoded)
    if kind == "path" and ".." in text:
        signals = signals | {normalize.SIG_PATH_TRAVERSAL}
    return text, signals


def is_trivial(text: str, kind: str) -> bool:
    """Whether a decoded value is too plain to carry an injection (see the module docstring)."""
    pattern = _TRIVIAL_PATH if kind == "path" else _TRIVIAL_ARG
    return pattern.fullmatch(text) is not None and ".." not in text


def raw_is_trivial(raw: str, kind: str) -> bool:
    """`is_trivial` decided on the raw value: true only for values decoding cannot change."""
    pattern = _RAW_TRIVIAL_PATH if kind == "path" else _RAW_TRIVIAL_ARG
    return pattern.fullmatch(raw) is not None and ".." not in raw


def nontrivial_values(record: LogRecord) -> list[tuple[str, str, str]]:
    """`request_values` without the values `raw_is_trivial` rules out (cheap, no decoding)."""
    out: list[tuple[str, str, str]] = []
    path = record.path
    if not (_RAW_TRIVIAL_PATH.fullmatch(path) and ".." not in path):
        out.append(("path", "path", path))
    if record.query:
        for raw_name, raw_value in normalize.split_query(record.query):
            if raw_value and not (_RAW_TRIVIAL_ARG.fullmatch(raw_value) and ".." not in raw_value):
                out.append((f"args:{normalize.decode_name(raw_name)[:64]}", "args", raw_value))
    return out


def request_values(record: LogRecord) -> list[tuple[str, str, str]]:
    """(target, kind, raw value) of the path and every query argument value of a record."""
    out = [("path", "path", record.path)]
    if record.query:
        for raw_name, raw_value in normalize.split_query(record.query):
            if raw_value:
                name = normalize.decode_name(raw_name)[:64]
                out.append((f"args:{name}", "args", raw_value))
    return out


def make_value(target: str, kind: str, raw: str) -> Value:
    """A `Value` from a raw (still encoded) request value."""
    text, signals = decode_value(raw, kind)
    return Value(target, kind, raw, text, signals)


def ngram_counts(
    texts: Sequence[str], bits: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Hashed n-gram occurrences of every text: (row, bucket, log-scaled L2-normalised weight)."""
    n = len(texts)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    folded = ["\x02" + t[:MAX_VALUE_CHARS].translate(_DIGITS) + "\x03" for t in texts]
    codes = np.frombuffer("".join(folded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    lengths = np.fromiter((len(t) for t in folded), dtype=np.int64, count=n)
    owner = np.repeat(np.arange(n, dtype=np.int64), lengths)
    mask = np.uint64((1 << bits) - 1)
    rows: list[npt.NDArray[np.int64]] = []
    cols: list[npt.NDArray[np.int64]] = []
    h = np.zeros(0, dtype=np.uint64)
    for size in NGRAM_SIZES:
        # Rolling polynomial: the hash of an n-gram extends that of its (n-1)-gram prefix.
        h = codes + _SALT if size == 1 else h[:-1] * _P + codes[size - 1 :]
        same = owner[: len(h)] == owner[size - 1 :]
        mixed = (h + np.uint64(size)) * _MIX
        mixed ^= mixed >> np.uint64(29)
        mixed *= _P
        mixed ^= mixed >> np.uint64(32)
        rows.append(owner[: len(h)][same])
        cols.append((mixed & mask).astype(np.int64)[same])
    flat = np.concatenate(rows) * (1 << bits) + np.concatenate(cols)
    keys, counts = np.unique(flat, return_counts=True)
    row = keys >> bits
    col = keys & ((1 << bits) - 1)
    weight = np.log1p(counts.astype(np.float32))
    norms = np.sqrt(np.bincount(row, weights=weight * weight, minlength=n)).astype(np.float32)
    weight /= norms[row]
    return row, col, weight.astype(np.float32)


def _entropy(text: str) -> float:
    if not text:
        return 0.0
    total = len(text)
    return -sum(c / total * math.log2(c / total) for c in Counter(text).values())


def _numeric_row(value: Value) -> list[float]:
    text = value.text
    length = len(text) or 1
    digits = sum(ch.isdigit() for ch in text)
    alpha = sum(ch.isalpha() for ch in text)
    spaces = text.count(" ")
    symbols = length - digits - alpha - spaces if text else 0
    signals = value.signals
    sqli = injection.sqli_fingerprint(text) is not None
    xss = injection.xss_detected(text)
    return [
        min(math.log1p(len(text)) / 6.0, 2.0),
        _entropy(text) / 6.0,
        digits / length,
        alpha / length,
        spaces / length,
        symbols / length,
        min(sum(text.count(q) for q in "'\"`"), 5) / 5.0,
        min(sum(text.count(b) for b in "()[]{}"), 10) / 10.0,
        min(text.count("<") + text.count(">"), 5) / 5.0,
        min(sum(text.count(s) for s in ";|&$`"), 5) / 5.0,
        min(text.count("--") + text.count("#") + text.count("/*"), 3) / 3.0,
        min(text.count(".."), 5) / 5.0,
        min(text.count("="), 5) / 5.0,
        float(normalize.SIG_DOUBLE_ENCODING in signals),
        float(normalize.SIG_INVALID_ENCODING in signals),
        float(normalize.SIG_UNICODE_ENCODING in signals),
        float(normalize.SIG_OVERLONG_UTF8 in signals),
        float(normalize.SIG_NUL_BYTE in signals),
        float(sqli),
        float(xss),
        float(value.kind == "path"),
    ]


def numeric_features(values: Sequence[Value]) -> npt.NDArray[np.float32]:
    """The numeric feature block of every value, shape (len(values), len(NUMERIC_NAMES))."""
    if not values:
        return np.zeros((0, len(NUMERIC_NAMES)), dtype=np.float32)
    return np.asarray([_numeric_row(v) for v in values], dtype=np.float32)


def feature_width(bits: int) -> int:
    """How many columns the classifier's input has for n-gram buckets of `bits` bits."""
    return (1 << bits) + len(NUMERIC_NAMES)


def dense_features(values: Sequence[Value], bits: int) -> npt.NDArray[np.float32]:
    """The classifier input of a batch of values as one dense float32 matrix."""
    out = np.zeros((len(values), feature_width(bits)), dtype=np.float32)
    if not values:
        return out
    row, col, weight = ngram_counts([v.text for v in values], bits)
    out[row, col] = weight
    out[:, 1 << bits :] = numeric_features(values)
    return out


def sparse_parts(
    values: Iterable[Value], bits: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32], int]:
    """(rows, columns, data, row count) of the classifier input, for building a sparse matrix."""
    values = list(values)
    row, col, weight = ngram_counts([v.text for v in values], bits)
    numeric = numeric_features(values)
    n_rows, n_num = numeric.shape
    num_rows = np.repeat(np.arange(n_rows, dtype=np.int64), n_num)
    num_cols = np.tile(np.arange(n_num, dtype=np.int64), n_rows) + (1 << bits)
    flat = numeric.ravel()
    keep = flat != 0
    return (
        np.concatenate([row, num_rows[keep]]),
        np.concatenate([col, num_cols[keep]]),
        np.concatenate([weight, flat[keep]]).astype(np.float32),
        len(values),
    )
