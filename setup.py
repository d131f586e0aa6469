"""Build of vigil's one compiled module; everything else is declared in pyproject.toml.

The behaviour windows' per-record loop (`vigil/detect/behaviour/_kernel.pyx`) is compiled with
Cython. It is optional: where no C compiler is available the build goes on without it and
vigil runs the same loop in Python (`engine._update_python`), more slowly.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

KERNEL = Extension(
    "vigil.detect.behaviour._kernel",
    ["src/vigil/detect/behaviour/_kernel.pyx"],
    optional=True,
)

setup(ext_modules=cythonize([KERNEL], language_level=3, quiet=True))
