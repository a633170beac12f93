"""The ``[sip]`` section -> :class:`callbot.telephony.settings.SipSettings`.

The environment variable ``CALLBOT_SIP_PASSWORD`` (when set and non-empty)
overrides ``sip.password`` from the file; the password is never echoed in a problem.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from callbot.config.reader import MISSING, Reader, describe
from callbot.telephony.gate import parse_source
from callbot.telephony.settings import SipSettings

PASSWORD_ENV = "CALLBOT_SIP_PASSWORD"


TRANSPORTS = ("udp", "tcp", "tls")


def load_sip(r: Reader, t: dict[str, Any], env: Mapping[str, str], base: Path | None = None) -> SipSettings:
    d = SipSettings()
    s = "sip"
    server = r.string(t, s, "server", d.server)
    port = r.integer(t, s, "port", d.port, 1, 65535)
    username = r.string(t, s, "username", d.username, nonempty=True)
    password = r.string(t, s, "password", d.password, single_line=False)
    env_password = env.get(PASSWORD_ENV)
    if env_password:
        password = env_password
    if any(c in password for c in "\r\n\x00"):
        origin = PASSWORD_ENV if env_password else "sip.password"
        r.add(f"{origin}: the password must not contain line breaks or NUL characters")

    local_ip = d.local_ip
    raw_ip = t.get("local_ip", MISSING)
    if raw_ip is not MISSING:
        local_ip = _check_local_ip(r, raw_ip) or d.local_ip

    local_port = r.integer(t, s, "local_port", d.local_port, 1, 65535)
    rtp_min = r.integer(t, s, "rtp_port_min", d.rtp_port_min, 1024, 65535)
    rtp_max = r.integer(t, s, "rtp_port_max", d.rtp_port_max, 1024, 65535)
    rtp_ok = not r.bad & {"sip.rtp_port_min", "sip.rtp_port_max"}
    if rtp_ok and rtp_max < rtp_min + 1:
        r.add(
            f"sip.rtp_port_max: must be at least rtp_port_min + 1 (got rtp_port_min = {rtp_min}, "
            f"rtp_port_max = {rtp_max}) — the RTP range needs at least 2 ports, e.g. 10000-10999"
        )
    elif rtp_ok and "sip.local_port" not in r.bad and rtp_min <= local_port <= rtp_max:
        r.add(
            f"sip.local_port: {local_port} lies inside the RTP range {rtp_min}-{rtp_max} — "
            f"choose a SIP port outside it, e.g. 5062"
        )

    register = r.boolean(t, s, "register", d.register)
    if register and not server.strip():
        r.add(
            "sip.server: is empty but sip.register = true — give the registrar/PBX host, "
            "or set register = false"
        )
    if server.strip() == local_ip and port == local_port:
        r.add(
            f"sip.local_port: {local_port} is the PBX's own port on {local_ip} — "
            f"use a different local port, e.g. 5062"
        )
    register_expires = r.integer(t, s, "register_expires", d.register_expires, 10, 86400)
    rtp_timeout = r.number(t, s, "rtp_timeout", d.rtp_timeout, lo=0, lo_exclusive=True)
    max_call = r.number(t, s, "max_call_duration", d.max_call_duration, lo=0, lo_exclusive=True)
    answer_delay = r.number(t, s, "answer_delay", d.answer_delay, lo=0, hi=30)
    user_agent = r.string(t, s, "user_agent", d.user_agent)
    if any(ord(c) < 32 for c in user_agent):
        r.add("sip.user_agent: must be one line of text without control characters (or \"\" for none)")
    keepalive = r.number(t, s, "keepalive", d.keepalive, lo=0, hi=3600)
    if 0 < keepalive < 5:
        r.add(f"sip.keepalive: {keepalive:g} s is too often — use 5 or more seconds (30 is a good value), "
              f"or 0 to switch the keepalive off")
    trusted = _trusted_sources(r, t.get("trusted_sources", MISSING))
    max_calls = r.integer(t, s, "max_calls", d.max_calls, 1, 1000)
    invite_rate = r.number(t, s, "invite_rate", d.invite_rate, lo=0, hi=10000)
    transport = r.choice(t, s, "transport", d.transport, TRANSPORTS)
    tls_verify = r.boolean(t, s, "tls_verify", d.tls_verify)
    tls_ca_file = _tls_ca_file(r, t, base)
    public_address = _public_address(r, t.get("public_address", MISSING))
    media_encryption = r.choice(t, s, "media_encryption", d.media_encryption, ("off", "optional", "required"))
    if media_encryption != "off" and transport != "tls":
        r.add(f'sip.media_encryption: "{media_encryption}" sends the SRTP keys (SDES) in the SDP, which '
              f'over "{transport}" anyone on the way can read — set sip.transport = "tls", or '
              f'media_encryption = "off"')
    if transport != "udp" and not register:
        r.add(f'sip.transport: "{transport}" needs sip.register = true — over TCP/TLS calls reach the bot '
              f"over the connection it registered on (it has no {transport.upper()} listener); use "
              f'transport = "udp" for direct calls')
    if transport != "tls" and tls_ca_file:
        r.add(f'sip.tls_ca_file: only used with sip.transport = "tls" (it is "{transport}") — set '
              f'transport = "tls" or tls_ca_file = ""')
    return SipSettings(
        server=server.strip(),
        port=port,
        username=username,
        password=password,
        local_ip=local_ip,
        local_port=local_port,
        rtp_port_min=rtp_min,
        rtp_port_max=rtp_max,
        register=register,
        register_expires=register_expires,
        rtp_timeout=rtp_timeout,
        max_call_duration=max_call,
        answer_delay=answer_delay,
        user_agent=user_agent,
        keepalive=keepalive,
        trusted_sources=trusted,
        max_calls=max_calls,
        invite_rate=invite_rate,
        transport=transport,
        tls_ca_file=tls_ca_file,
        tls_verify=tls_verify,
        media_encryption=media_encryption,
        public_address=public_address,
    )


def _public_address(r: Reader, value: Any) -> str:
    """sip.public_address: "" or an IP literal (what the PBX or trunk sees of this machine)."""
    if value is MISSING or value == "":
        return ""
    try:
        return str(ipaddress.ip_address(value.strip())) if isinstance(value, str) else str(ipaddress.ip_address(""))
    except ValueError:
        r.add(f'sip.public_address: expected an IP address such as "203.0.113.7" (the router\'s public '
              f'address) or "" for none, got {describe(value)}')
        return ""


def _tls_ca_file(r: Reader, t: dict[str, Any], base: Path | None) -> str:
    """sip.tls_ca_file: a readable PEM file (relative to the config file's folder), or ""."""
    if t.get("tls_ca_file", MISSING) is MISSING or t.get("tls_ca_file") == "":
        return ""
    path = r.path(t, "sip", "tls_ca_file", Path(""), base or Path.cwd())
    if path is None:
        return ""
    try:
        head = path.read_bytes()[:65536]
    except OSError as exc:
        r.add(f"sip.tls_ca_file: cannot read {path} ({exc.strerror or exc}) — give the PEM file of the CA "
              f"that signed the registrar's certificate")
        return ""
    if b"-----BEGIN CERTIFICATE-----" not in head:
        r.add(f"sip.tls_ca_file: {path} holds no PEM certificate (no -----BEGIN CERTIFICATE----- line) — "
              f"give the CA certificate in PEM form")
        return ""
    return str(path)


def _trusted_sources(r: Reader, value: Any) -> tuple[str, ...]:
    """``sip.trusted_sources``: a list of "address", "address:port" or "network/prefix" strings."""
    if value is MISSING:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        r.add(f'sip.trusted_sources: expected a list of addresses such as ["192.168.178.1", '
              f'"10.0.0.0/8", "192.168.178.1:5060"], got {describe(value)}')
        return ()
    entries = []
    for entry in value:
        try:
            parse_source(entry)
        except ValueError as exc:
            r.add(f"sip.trusted_sources: {exc} — write an IP address, address:port or a network "
                  f"such as \"192.168.178.0/24\"")
            continue
        entries.append(entry.strip())
    return tuple(entries)


def _check_local_ip(r: Reader, value: Any) -> str | None:
    if not isinstance(value, str):
        r.add(f'sip.local_ip: expected an IP address in quotes such as "192.168.1.20", '
              f"got {describe(value)}")
        return None
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        r.add(
            f"sip.local_ip: expected an IP address such as \"192.168.1.20\", got "
            f"{describe(value)} — host names are not allowed here; use this machine's "
            f"address on the network the PBX can reach"
        )
        return None
    if ip.is_unspecified:
        r.add(
            f"sip.local_ip: {ip} is not a reachable address — the PBX sends audio (RTP) to the "
            f"address in the SDP, so give this machine's real IP, e.g. \"192.168.1.20\", "
            f"or \"127.0.0.1\" when the PBX runs on the same machine"
        )
        return None
    if ip.is_multicast:
        r.add(f"sip.local_ip: {ip} is a multicast address — give this machine's own IP address")
        return None
    return str(ip)
