"""Query services the HTTP API calls: plain async functions over a session.

Every query that returns site data takes a `Visibility` and puts its where clause into the SQL,
so a key limited to some sites can never read another site's rows.
"""

__all__ = [
    "allowlist",
    "crowdsec",
    "decisions",
    "incidents",
    "jsonmatch",
    "keys",
    "models",
    "netmatch",
    "pagination",
    "stats",
    "threats",
    "tickets",
    "visibility",
]
