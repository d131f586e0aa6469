"""Seeded traffic and attack scenarios for demos, tests and benchmarks."""
