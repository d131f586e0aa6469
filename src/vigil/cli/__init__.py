"""The `vigil` command."""

from vigil.cli.app import app, main

__all__ = ["app", "main"]
