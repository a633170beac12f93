"""The SIP endpoint's settings: the ``[sip]`` section of the config file.

One type, defined here with its component and filled by ``callbot.config`` (which
checks every value and names the key of each problem); :class:`SipEndpoint` takes it
as it is. Imports nothing of callbot.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def default_max_calls() -> int:
    """sip.max_calls when not set: 10 calls per core (2 x cores x 5), at least 4."""
    return max(4, 10 * (os.cpu_count() or 1))


@dataclass(frozen=True)
class SipSettings:
    """Registrar, local address, RTP ports and call limits. ``repr()`` never shows the password."""

    server: str = "127.0.0.1"  # registrar / PBX host
    port: int = 5060
    username: str = "callbot"
    password: str = field(default="", repr=False)  # env CALLBOT_SIP_PASSWORD overrides
    local_ip: str = "127.0.0.1"  # IP literal reachable by the PBX (goes into SDP)
    local_port: int = 5062
    rtp_port_min: int = 10000
    rtp_port_max: int = 10999
    register: bool = True
    register_expires: int = 300  # seconds asked of the registrar
    rtp_timeout: float = 30.0  # seconds without inbound RTP before hanging up (phones with silence suppression send none while quiet)
    max_call_duration: float = 600.0  # hard cap per call, seconds
    answer_delay: float = 0.0  # seconds of ringing before answering
    user_agent: str = "callbot"  # User-Agent/Server in everything the bot sends; "" = none
    keepalive: float = 8.0  # seconds between keepalive OPTIONS while registered (0 = off); 8 s: back within 10 s of a PBX restart
    trusted_sources: tuple[str, ...] = ()  # extra "address[:port]" / CIDR entries new INVITEs may come from
    max_calls: int = field(default_factory=default_max_calls)  # calls at once; beyond: 486 Busy Here
    invite_rate: float = 10.0  # new INVITEs per second per source address; beyond: 503 (0 = no limit)
    transport: str = "udp"  # udp | tcp | tls: how SIP reaches the registrar (tcp/tls: one persistent connection)
    tls_ca_file: str = ""  # PEM file of a private CA the registrar's certificate is checked against ("" = system store)
    tls_verify: bool = True  # False: the registrar's certificate is not checked (loud warning; tests only)
    public_address: str = ""  # behind NAT: the public IP written into Contact, Via and SDP ("" = local_ip)
    media_encryption: str = "off"  # off | optional | required: SRTP with SDES keys (only with transport tls)
