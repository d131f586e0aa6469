"""Client address filters in SQL: one address, or every address inside a CIDR, on both backends.

PostgreSQL compares with its `inet` type; the column is cast only after a pattern has shown it
holds a well-formed address, so a stored client field that is not an address can never make the
cast fail. SQLite gets a small deterministic SQL function registered on the connection.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, case, cast, false, func, literal
from sqlalchemy.dialects.postgresql import CIDR, INET
from sqlalchemy.ext.asyncio import AsyncSession

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_FILTER_CHARS = 64

_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_PATTERN = rf"^({_OCTET}\.){{3}}{_OCTET}$"


def _ipv6_pattern() -> str:
    group = "[0-9A-Fa-f]{1,4}"
    forms = [rf"({group}:){{7}}{group}", rf"::({group}(:{group}){{0,6}})?"]
    for left in range(1, 7):
        forms.append(rf"{group}(:{group}){{{left - 1}}}::({group}(:{group}){{0,{6 - left}}})?")
    forms.append(rf"{group}(:{group}){{6}}::")
    return "^(" + "|".join(forms) + ")$"


IPV6_PATTERN = _ipv6_pattern()
SQLITE_FUNCTION = "vigil_ip_in"


def parse_client_filter(text: str) -> Network:
    """An address or CIDR typed by a user; raises ValueError with a message it can show."""
    text = text.strip()
    if not text or len(text) > MAX_FILTER_CHARS:
        raise ValueError("client must be an IP address or a CIDR such as 203.0.113.0/24")
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError("client must be an IP address or a CIDR such as 203.0.113.0/24") from None


@lru_cache(maxsize=256)
def _network(text: str) -> Network:
    return ipaddress.ip_network(text, strict=False)


def _sqlite_ip_in(address: Any, network: Any) -> int:
    if not isinstance(address, str) or not isinstance(network, str):
        return 0
    try:
        return int(ipaddress.ip_address(address) in _network(network))
    except ValueError:
        return 0


def _ipv4_prefix(network: Network) -> str | None:
    """The text every address of an IPv4 `network` starts with, e.g. '10.1.' for 10.1.0.0/16.

    A cheap LIKE on it runs before the exact test, so the exact test sees few rows. The exact
    pattern accepts no leading zeros, so no address it accepts can miss this prefix.
    """
    if network.version != 4 or network.prefixlen < 8:
        return None
    octets = str(network.network_address).split(".")[: network.prefixlen // 8]
    return ".".join(octets) + "."


async def client_clause(
    session: AsyncSession, column: Any, network: Network
) -> ColumnElement[bool]:
    """The where clause 'column holds an address inside `network`'."""
    if network.num_addresses == 1:
        return column == str(network.network_address)  # type: ignore[no-any-return]
    exact = await _exact_clause(session, column, network)
    prefix = _ipv4_prefix(network)
    if prefix is None:
        return exact
    return and_(column.startswith(prefix, autoescape=True), exact)


async def _exact_clause(
    session: AsyncSession, column: Any, network: Network
) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        pattern = IPV4_PATTERN if network.version == 4 else IPV6_PATTERN
        inside = cast(column, INET).op("<<=")(cast(literal(str(network)), CIDR))
        return case((column.regexp_match(pattern), inside), else_=false())
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    await raw.driver_connection.create_function(  # type: ignore[union-attr]
        SQLITE_FUNCTION, 2, _sqlite_ip_in, deterministic=True
    )
    return getattr(func, SQLITE_FUNCTION)(column, str(network)) == 1  # type: ignore[no-any-return]
