"""Who may ring the bot, how often, and how refusals are counted: the rules in front of every INVITE.

Pure logic on plain values (addresses, a clock passed in), no sockets and no SIP library:

* :class:`TrustedSources` — the addresses (and ports) a new INVITE or OPTIONS may come from.
  Registered (``sip.register = true``): the resolved ``sip.server`` address **and port** — on one
  host another program's port is not the PBX — plus ``sip.trusted_sources``. Direct mode
  (``register = false``): ``sip.trusted_sources`` when given, else loopback and the configured
  server (any port). Everything else is a "ghost call" (a scanner, or an INVITE sent straight to
  the bot's port past the PBX) and gets the same ``403`` whatever user it names.
* :class:`RateLimit` — pike-like: at most ``rate`` new INVITEs per second per source address
  (a token bucket with a burst of ``2 × rate``), beyond it ``503`` with ``Retry-After``.
* :class:`Tally` — refusals counted per reason; the first ``rows_per_minute`` of each reason in a
  minute may become call rows (the rest are counted), and a summary line per reason and minute
  says how many there were — so a flood leaves counted lines, not thousands of rows or log lines.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: How many source addresses the rate limiter remembers (the oldest are forgotten first).
RATE_MEMORY = 4096
#: Summary lines and row budgets are per this many seconds.
TALLY_WINDOW = 60.0


@dataclass(frozen=True)
class Source:
    """One trusted entry: a network and, optionally, the one port it must send from."""

    network: Network
    port: int | None = None

    def matches(self, address: str, port: int) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip in self.network and (self.port is None or self.port == port)

    def __str__(self) -> str:
        net = str(self.network.network_address) if self.network.prefixlen == self.network.max_prefixlen \
            else str(self.network)
        if self.port is None:
            return net
        return f"[{net}]:{self.port}" if self.network.version == 6 else f"{net}:{self.port}"


def parse_source(entry: str) -> Source:
    """``"192.168.178.1"``, ``"192.168.178.1:5060"``, ``"10.0.0.0/8"``, ``"[::1]:5060"``, ``"::1"``.

    Raises ValueError with a readable message."""
    text = entry.strip()
    if not text:
        raise ValueError("an empty entry")
    port: int | None = None
    host = text
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"{entry!r} is not [IPv6]:port")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise ValueError(f"{entry!r}: the port must be a number")
        port = int(port_text)
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"{entry!r}: port {port} is not between 1 and 65535")
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        raise ValueError(f"{entry!r} is not an IP address, address:port or network (CIDR) — "
                         f"host names are not allowed here") from None
    return Source(network, port)


def exact(address: str, port: int | None) -> Source:
    ip = ipaddress.ip_address(address)
    return Source(ipaddress.ip_network(ip), port)


LOOPBACK = (Source(ipaddress.ip_network("127.0.0.0/8")), Source(ipaddress.ip_network("::1/128")))


class TrustedSources:
    """The addresses a new INVITE/OPTIONS is accepted from (see the module docstring)."""

    def __init__(self, sources: tuple[Source, ...]):
        self.sources = sources

    @classmethod
    def for_settings(cls, register: bool, server_addresses: list[str], server_port: int,
                     extra: tuple[str, ...]) -> TrustedSources:
        listed = tuple(parse_source(e) for e in extra)
        if register:
            return cls(tuple(exact(a, server_port) for a in server_addresses) + listed)
        if listed:
            return cls(listed)
        return cls(LOOPBACK + tuple(exact(a, None) for a in server_addresses))

    def allows(self, address: str, port: int) -> bool:
        return any(s.matches(address, port) for s in self.sources)

    def describe(self) -> str:
        return ", ".join(str(s) for s in self.sources) or "nobody"


class RateLimit:
    """At most ``rate`` new INVITEs per second per source address (token bucket, burst 2 × rate)."""

    def __init__(self, rate: float, memory: int = RATE_MEMORY):
        self.rate = rate
        self.burst = max(1.0, 2.0 * rate)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._memory = memory

    def allow(self, address: str, now: float) -> bool:
        if self.rate <= 0:
            return True
        tokens, last = self._buckets.pop(address, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[address] = (tokens, now)
        while len(self._buckets) > self._memory:
            self._buckets.popitem(last=False)
        return allowed


@dataclass
class _Count:
    window_start: float
    in_window: int = 0
    total: int = 0
    unreported: int = 0  # refusals not yet in a log line


@dataclass(frozen=True)
class Counted:
    """What to do with one refusal: write a row (budget left), log it now (first of its minute)."""

    row: bool
    log_now: bool


class Tally:
    """Refusals counted per reason, with a row budget and one summary line per reason and minute."""

    def __init__(self, rows_per_minute: int = 10, window: float = TALLY_WINDOW):
        self.rows_per_minute = rows_per_minute
        self.window = window
        self._counts: dict[str, _Count] = {}

    def count(self, reason: str, now: float) -> Counted:
        """Count one refusal: the first of a reason in a minute is logged at once, the rest go into
        the minute's summary line; the first ``rows_per_minute`` may become rows."""
        entry = self._counts.setdefault(reason, _Count(now))
        if now - entry.window_start >= self.window:
            entry.window_start, entry.in_window = now, 0
        entry.in_window += 1
        entry.total += 1
        first = entry.in_window == 1
        if not first:
            entry.unreported += 1
        return Counted(row=entry.in_window <= self.rows_per_minute, log_now=first)

    def total(self, reason: str) -> int:
        entry = self._counts.get(reason)
        return entry.total if entry else 0

    def totals(self) -> dict[str, int]:
        return {reason: c.total for reason, c in self._counts.items()}

    def due(self, now: float) -> list[tuple[str, int]]:
        """(reason, refusals not yet logged) for each reason whose minute is over; call it from a
        timer — one summary line per reason and minute at most."""
        lines = []
        for reason, entry in self._counts.items():
            if entry.unreported and now - entry.window_start >= self.window:
                lines.append((reason, entry.unreported))
                entry.unreported = 0
                entry.window_start, entry.in_window = now, 0
        return lines
