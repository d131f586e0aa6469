"""What logrotate does to a log directory, step by step, for tests and the restart benchmark.

Both ways of rotating (`create`: rename, `copytruncate`: copy then truncate), both naming
schemes (numbered `x.log.1`, `dateext` `x.log-20240101`), and compression with or without
`delaycompress`. Compressing writes the `.gz` next to the file and then removes the original, as
logrotate does.
"""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

Mode = Literal["rename", "copytruncate"]


class LogRotate:
    """Rotates one log file the way a logrotate configuration would."""

    def __init__(
        self,
        path: Path,
        *,
        mode: Mode = "rename",
        compress: bool = False,
        delaycompress: bool = False,
        dateext: bool = False,
    ) -> None:
        self.path = path
        self.mode = mode
        self.compress = compress
        self.delaycompress = delaycompress
        self.dateext = dateext
        self.rotations = 0
        self._day = date(2024, 1, 1)

    def rotate(self, before_truncate: Callable[[], None] | None = None) -> Path:
        """Rotates once and returns where the old content went (before any compression).

        With `copytruncate`, `before_truncate` runs between the copy and the truncate: what a
        writer appends then is in neither file.
        """
        self.rotations += 1
        if self.dateext:
            target = self.path.with_name(f"{self.path.name}-{self._day:%Y%m%d}")
            self._day += timedelta(days=1)
        else:
            self._shift()
            target = self.path.with_name(f"{self.path.name}.1")
        if self.mode == "rename":
            os.rename(self.path, target)
        else:
            shutil.copyfile(self.path, target)
            if before_truncate is not None:
                before_truncate()
            os.truncate(self.path, 0)
        if self.compress:
            if not self.delaycompress:
                gzip_in_place(target)
            else:
                previous = self._previous_plain(target)
                if previous is not None:
                    gzip_in_place(previous)
        return target

    def _shift(self) -> None:
        """x.log.N (and x.log.N.gz) become x.log.N+1, the oldest first."""
        name = self.path.name
        numbered = []
        for entry in self.path.parent.iterdir():
            rest = entry.name[len(name) + 1 :] if entry.name.startswith(name + ".") else ""
            number = rest.removesuffix(".gz")
            if number.isdigit():
                numbered.append((int(number), entry, rest.endswith(".gz")))
        for number, entry, packed in sorted(numbered, reverse=True):
            suffix = ".gz" if packed else ""
            os.rename(entry, self.path.with_name(f"{name}.{number + 1}{suffix}"))

    def _previous_plain(self, newest: Path) -> Path | None:
        """The uncompressed rotated file just older than `newest` (delaycompress's turn)."""
        if not self.dateext:
            two = self.path.with_name(f"{self.path.name}.2")
            return two if two.exists() else None
        older = sorted(
            p
            for p in self.path.parent.glob(f"{self.path.name}-*")
            if not p.name.endswith(".gz") and p != newest
        )
        return older[-1] if older else None


def gzip_in_place(path: Path) -> Path:
    """Compresses `path` to `path.gz` and removes `path`."""
    packed = path.with_name(path.name + ".gz")
    with path.open("rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    path.unlink()
    return packed
