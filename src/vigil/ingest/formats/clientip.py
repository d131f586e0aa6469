"""Find the real client address behind reverse proxies the operator trusts.

X-Forwarded-For is written by the client first and appended to by every proxy, so only the
entries added by trusted proxies are believable. The address is found by walking the header
from right to left, skipping trusted hops, and taking the first address that is not trusted.
Without configured proxies the header is never believed: the peer address is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from vigil.errors import ConfigError

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address

CACHE_LIMIT = 1 << 16


def parse_networks(cidrs: Sequence[str]) -> tuple[_Network, ...]:
    """The trusted networks; a bad entry raises `ConfigError` naming it."""
    networks: list[_Network] = []
    for cidr in cidrs:
        text = cidr.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ConfigError(
                f"trusted proxy {text!r} is not an IP address or CIDR (e.g. 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def parse_address(text: str) -> _Address | None:
    """The address in one X-Forwarded-For entry (ports and brackets removed), or None."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ClientIpResolver:
    """Resolves `(peer address, X-Forwarded-For)` to the client address, with a cache."""

    __slots__ = ("_cache", "_networks", "_trusted")

    def __init__(self, trusted_proxies: Sequence[str] = ()) -> None:
        self._networks = parse_networks(trusted_proxies)
        self._cache: dict[tuple[str, str], str] = {}
        self._trusted: dict[str, bool] = {}

    @property
    def active(self) -> bool:
        """Whether any proxy is trusted (otherwise `resolve` always returns the peer)."""
        return bool(self._networks)

    def is_trusted(self, text: str) -> bool:
        """Whether the address written as `text` belongs to a trusted proxy."""
        known = self._trusted.get(text)
        if known is None:
            address = parse_address(text)
            known = address is not None and any(address in net for net in self._networks)
            if len(self._trusted) >= CACHE_LIMIT:
                self._trusted.clear()
            self._trusted[text] = known
        return known

    def resolve(self, peer: str, forwarded_for: str) -> str:
        """The client address of a request that reached the server from `peer`."""
        if not self._networks or not forwarded_for or forwarded_for == "-":
            return peer
        key = (peer, forwarded_for)
        found = self._cache.get(key)
        if found is None:
            found = self._walk(peer, forwarded_for)
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = found
        return found

    def _walk(self, peer: str, forwarded_for: str) -> str:
        if not self.is_trusted(peer):
            return peer
        client = peer
        for hop in reversed(forwarded_for.split(",")):
            address = parse_address(hop)
            if address is None:
                # A trusted proxy passed on garbage: keep the last address we can vouch for
                # rather than invent one an attacker chose.
                return client
            client = str(address)
            if not self.is_trusted(client):
                return client
        return client
