"""The client's address, from the socket peer and the ``X-Forwarded-For`` chain of trusted proxies."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

from orca.config import IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=4096)
def parse_ip(value: str) -> IPAddress | None:
    """An address from one ``X-Forwarded-For`` entry or socket peer, or ``None`` if it is not one.

    Cached: the same peers (load balancer nodes, returning clients) come again and again, and parsing an
    address costs more than the rest of the client-address logic together.
    """
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "192.0.2.1:443"
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def client_ip(peer: str | None, xff: str | None, trusted: Sequence[IPNetwork]) -> str | None:
    """The client's address: the right-most hop of ``X-Forwarded-For`` + peer not added by a trusted proxy.

    Each proxy appends the address it received the connection from, so the entries right of the first
    untrusted hop were written by proxies we trust and everything to its left was written by the client, who
    can put anything there. Walking from the right and stopping at the first untrusted hop means a client
    never chooses the logged address. With no trusted proxies (the default) the socket peer is the client.
    """
    peer_ip = parse_ip(peer) if peer else None
    if peer_ip is None:
        return None
    if not trusted or not _is_trusted(peer_ip, trusted):
        return str(peer_ip)
    client = peer_ip
    if xff:
        for hop in reversed(xff.split(",")):
            hop_ip = parse_ip(hop)
            if hop_ip is None:
                # Garbage can only come from the untrusted part: the last good hop is the best we know.
                break
            client = hop_ip
            if not _is_trusted(hop_ip, trusted):
                break
    return str(client)


def _is_trusted(ip: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in trusted)
