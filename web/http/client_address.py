"""The address a request came from, believing ``X-Forwarded-For`` only from trusted proxies.

``FORWARDED_ALLOW_IPS`` (gunicorn's name and default, ``127.0.0.1,::1``) lists the proxies
in front of the app. The header is read from the right: each address a trusted proxy
appended is skipped, and the first one no trusted proxy vouches for is the client. What a
client writes into the header itself sits to the left of that and is never reached, so a
client can neither pick its own address nor borrow someone else's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddress:
    """Finds a request's client address given the trusted proxies."""

    def __init__(self, allow: Iterable[str]) -> None:
        allow = tuple(allow)
        self.any = "*" in allow
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(a, strict=False) for a in allow if a != "*"
        )

    def trusted(self, address: str) -> bool:
        """Whether ``address`` is one of the proxies whose header is believed."""
        if self.any:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def of(self, environ: dict) -> str:
        """The client's address for the request ``environ``."""
        peer = environ.get("REMOTE_ADDR") or "unknown"
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
        address = peer
        if not forwarded or not self.trusted(peer):
            return address
        for hop in reversed([h.strip() for h in forwarded.split(",")]):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                # No proxy writes this: stop at the last hop a trusted proxy vouched for.
                return address
            address = hop
            if not self.trusted(hop):
                return hop
        return address


def address_group(address: str) -> str:
    """The unit a per-address limit counts: an IPv4 address, or an IPv6 address's /64.

    An IPv6 client is handed a whole /64 by its provider and may take any address in it,
    so counting single IPv6 addresses would give one client 2**64 fresh counts.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
