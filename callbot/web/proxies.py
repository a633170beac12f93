"""Which address a request really comes from, given ``[web] trusted_proxies``.

``X-Forwarded-For`` is a header anyone can send; it is believed only as far as the
proxies that added to it are trusted. :func:`client_address` starts at the direct
peer (the TCP connection): if that is not a trusted proxy, it is the client and the
header is ignored. If it is, the header's entries are walked from the right (the
entry the trusted proxy appended) and the first address that is not a trusted proxy
is the client. With no trusted proxies (the default) the header is never read.

uvicorn's own ``--proxy-headers`` handling is switched off by ``callbot web``
(it trusts 127.0.0.1 by default, so anyone on the machine — or any request relayed
by a local proxy that passes the header through — could pick their address); this
module, via :class:`~callbot.web.middleware.ClientAddressMiddleware`, is the only place
that reads the header.

Standard library only (the config loader uses :func:`parse_network`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = ["TrustedProxies", "client_address", "limit_key", "parse_network"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_HOPS = 20  # X-Forwarded-For entries looked at, from the right


def parse_network(value: str) -> Network:
    """``"10.0.0.1"``, ``"10.0.0.0/8"`` or ``"::1"`` as a network; ValueError if it is none."""
    return ipaddress.ip_network(value.strip().replace("[", "").replace("]", ""), strict=False)


def _address(value: str) -> Address | None:
    text = value.strip()
    if text.startswith("[") and "]" in text:  # "[::1]:443"
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # "1.2.3.4:5678"
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


class TrustedProxies:
    """The proxies whose ``X-Forwarded-For`` entries are believed."""

    def __init__(self, networks: Iterable[str | Network] = ()):
        self.networks = tuple(parse_network(n) if isinstance(n, str) else n for n in networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, ip: Address) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: TrustedProxies) -> str:
    """The client's address: ``peer`` unless it is a trusted proxy, then the right-most
    ``X-Forwarded-For`` entry that is not one (``forwarded_for``: the header's values, in order).

    An unreadable entry ends the walk at the last trusted hop (that hop is then the client).
    """
    ip = _address(peer or "")
    if ip is None:
        return peer or "unknown"
    if not trusted or not trusted.trusts(ip):
        return str(ip)
    hops = [part for value in forwarded_for for part in value.split(",") if part.strip()]
    for hop in reversed(hops[-MAX_HOPS:]):
        hop_ip = _address(hop)
        if hop_ip is None:
            break
        ip = hop_ip
        if not trusted.trusts(hop_ip):
            break
    return str(ip)


def limit_key(address: str) -> str:
    """What the login lockout counts per: the address, for IPv6 its /64 (one subscriber's
    network — every address in it is the same guesser)."""
    ip = _address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip) if ip is not None else address
