"""The formats `vigil blocklist export` writes (a module of its own, so that the command line
can list them without importing the database layer)."""

EXPORT_FORMATS = ("nginx", "plain", "nftables", "json")

__all__ = ["EXPORT_FORMATS"]
