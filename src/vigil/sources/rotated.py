"""Where logrotate leaves the earlier generations of a log: the rotated siblings of `x.log`.

Names follow logrotate's schemes, each optionally compressed (`.gz`, which vigil reads; other
compressions are listed but cannot be read):

- numbered: `x.log.1`, `x.log.2.gz`, … (`x.log.1` is the newest);
- `dateext`: `x.log-20240131`, `x.log-2024013112.gz`, `x.log-20240131-1706659200`, or with a
  `dateformat` starting with a dot, `x.log.2024-01-31` (the date is read as its digits, so any
  `dateformat` made of fixed-width numbers and separators orders correctly);
- `extension .log`: the number or date goes before the extension: `x.1.log`, `x-20240131.log.gz`.

`olddir` (rotated files in another directory) is not looked at.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass

GZIP_SUFFIX = ".gz"
OTHER_COMPRESSION = (".bz2", ".xz", ".zst", ".lz4", ".Z")
DATE_MIN_DIGITS = 8
"""A purely numeric suffix this long is a date (`-%Y%m%d`), not a rotation count."""

_TOKEN = re.compile(r"[0-9][0-9_.-]*[0-9]|[0-9]")


@dataclass(frozen=True, slots=True)
class RotatedFile:
    """One rotated generation of a log file."""

    path: str
    age: tuple[int, ...]
    """Sort key: a smaller age is an older generation."""
    compressed: bool
    readable: bool
    """False for a compression vigil cannot read (only gzip is read)."""


def rotated_siblings(path: str) -> list[RotatedFile]:
    """The rotated generations of the log at `path`, oldest first (`x.log.2` before
    `x.log.1`, `x.log-20240130` before `x.log-20240131`; a plain file before the compressed
    copy of the same generation)."""
    directory, name = os.path.split(os.path.abspath(path))
    stem, extension = os.path.splitext(name)
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    found: list[RotatedFile] = []
    for entry in entries:
        age = _generation_age(entry, name, stem, extension)
        if age is None:
            continue
        full = os.path.join(directory, entry)
        try:
            if not stat.S_ISREG(os.stat(full).st_mode):
                continue
        except OSError:
            continue
        compressed = entry.endswith((GZIP_SUFFIX, *OTHER_COMPRESSION))
        readable = not entry.endswith(OTHER_COMPRESSION)
        found.append(RotatedFile(full, age, compressed, readable))
    found.sort(key=lambda r: (r.age, r.compressed, r.path))
    return found


def _generation_age(entry: str, name: str, stem: str, extension: str) -> tuple[int, ...] | None:
    """How old the generation `entry` of the log `name` is, or None if it is not one."""
    core = entry
    for suffix in (GZIP_SUFFIX, *OTHER_COMPRESSION):
        if core.endswith(suffix):
            core = core[: -len(suffix)]
            break
    candidates = []
    if core.startswith(name) and len(core) > len(name) + 1:
        candidates.append((core[len(name)], core[len(name) + 1 :]))
    if extension and core.endswith(extension):
        inner = core[: -len(extension)]
        if inner.startswith(stem) and len(inner) > len(stem) + 1:
            candidates.append((inner[len(stem)], inner[len(stem) + 1 :]))
    for separator, token in candidates:
        if separator not in ".-_" or not _TOKEN.fullmatch(token):
            continue
        if token.isdigit() and len(token) < DATE_MIN_DIGITS:
            # A rotation count: .1 is the newest, so a larger count is older.
            return (0, -int(token))
        # A date: its digits in order (fixed-width fields of one dateformat compare as one
        # number whatever separates them).
        return (1, int("".join(re.findall(r"[0-9]+", token))))
    return None


@dataclass(frozen=True, slots=True)
class Generation:
    """What the tailer found in one rotated file: whether it continues a stream it knows, and
    whether that stream has bytes there that were never handed out."""

    stream: object | None
    """The known stream (any object with an identity; compared by `is`), or None."""
    unread: bool


def generations_to_read(found: list[Generation]) -> list[int]:
    """Which of the rotated generations `found` (oldest first) to read, in reading order.

    - one that continues a known stream with an unread rest: read from where it stopped (only
      the first file of each stream: a plain generation and its compressed copy hold the same
      bytes);
    - one no stream knows, newer than the newest one that is known: it was rotated away while
      nothing read it (two rotations while vigil was down): read all of it;
    - one no stream knows, older than a known one: it predates what vigil followed: left alone.
    """
    known = [i for i, g in enumerate(found) if g.stream is not None]
    if not known:
        return []
    newest_known = known[-1]
    chosen: list[int] = []
    taken: list[object] = []
    for i, generation in enumerate(found):
        stream = generation.stream
        if stream is None:
            if i > newest_known:
                chosen.append(i)
            continue
        if any(stream is t for t in taken):
            continue
        taken.append(stream)
        if generation.unread:
            chosen.append(i)
    return chosen
