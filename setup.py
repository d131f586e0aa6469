"""Build of vigil's compiled modules; everything else is declared in pyproject.toml.

The behaviour windows' per-record loop (`vigil/detect/behaviour/_kernel.pyx`) and the log
parser's fast path (`vigil/ingest/formats/_records.pyx`) are compiled with Cython. Both are
optional: where no C compiler is available the build goes on without them and vigil runs the
same loops in Python (`engine._update_python`, the generated `assemble`), more slowly.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

KERNEL = Extension(
    "vigil.detect.behaviour._kernel",
    ["src/vigil/detect/behaviour/_kernel.pyx"],
    optional=True,
)

RECORDS = Extension(
    "vigil.ingest.formats._records",
    ["src/vigil/ingest/formats/_records.pyx"],
    optional=True,
)

setup(ext_modules=cythonize([KERNEL, RECORDS], language_level=3, quiet=True))
