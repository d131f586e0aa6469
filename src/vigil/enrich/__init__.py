"""Enrichment of client addresses and user agents, cached per distinct value."""

from vigil.enrich.enricher import ClientInfo, Enricher

__all__ = ["ClientInfo", "Enricher"]
