"""Every vigil package declares its public surface in `__init__.__all__`, and every name listed
there can be imported (surfaces import lazily, so a typo would otherwise surface only at use)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import vigil


def _packages() -> list[str]:
    found = ["vigil"]
    for info in pkgutil.walk_packages(vigil.__path__, "vigil."):
        if info.ispkg and not info.name.startswith("vigil.db.migrations"):
            found.append(info.name)
    return found


@pytest.mark.parametrize("name", _packages())
def test_each_package_declares_a_surface_that_resolves(name: str) -> None:
    package = importlib.import_module(name)
    exported = getattr(package, "__all__", None)
    assert exported, f"{name} declares no __all__"
    assert len(set(exported)) == len(exported)
    for member in exported:
        try:
            value = getattr(package, member)
        except AttributeError:
            value = importlib.import_module(f"{name}.{member}")  # a listed submodule
        assert value is not None, f"{name}.{member}"


def test_unknown_names_are_attribute_errors() -> None:
    import vigil.sinks

    with pytest.raises(AttributeError, match="no attribute 'Kafka'"):
        _ = vigil.sinks.Kafka  # type: ignore[attr-defined]


def test_a_package_surface_imports_nothing_until_used() -> None:
    # Importing a package for one small module must not import the rest of it: the store's
    # SQLAlchemy models are not needed to read a batch type or a checkpoint protocol.
    code = (
        "import sys, vigil.sinks, vigil.sources, vigil.detect, vigil.pipeline;"
        "heavy = [m for m in ('vigil.sinks.store', 'vigil.sources.tailer', "
        "'vigil.detect.engine', 'vigil.pipeline.runner') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
