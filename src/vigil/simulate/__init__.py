"""Seeded traffic and attack scenarios for demos, tests and benchmarks."""

from typing import TYPE_CHECKING

from vigil._exports import lazy_exports

if TYPE_CHECKING:
    from vigil.simulate.mix import mixed_lines, write_mixed
    from vigil.simulate.scenarios import SCENARIOS
    from vigil.simulate.traffic import generate, write_log

__all__ = [
    "SCENARIOS",
    "generate",
    "mixed_lines",
    "write_log",
    "write_mixed",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "SCENARIOS": "vigil.simulate.scenarios",
        "generate": "vigil.simulate.traffic",
        "mixed_lines": "vigil.simulate.mix",
        "write_log": "vigil.simulate.traffic",
        "write_mixed": "vigil.simulate.mix",
    },
)
