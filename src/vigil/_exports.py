"""Package surfaces that import on first use.

A package's `__init__` lists its public names (`__all__`) and the module each comes from; a name
is imported when first read. Importing one small module of a package then does not import the
whole package (start-up time of `vigil scan`), and a package `__init__` never takes part in an
import cycle. `tests/test_surfaces.py` checks that every listed name resolves.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` for `package` that imports each name from the module `exports`
    maps it to."""

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
