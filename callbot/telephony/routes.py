"""Rewriting SIP messages for the library and the route set: ``tel:`` URIs, Record-Route,
the User-Agent/Server header (pure).

RFC 3261 §12.1.1: a UAS copies Record-Route into its 18x/2xx and sends in-dialog
requests along the route set; :func:`tel_to_sip` lets rfcvoip's parser accept a
``tel:`` From/To (RFC 3966) that it would otherwise drop.
"""

from __future__ import annotations

import re

_TEL_URI = re.compile(rb"<tel:([^>;]*)([^>]*)>", re.IGNORECASE)
_TEL_BARE = re.compile(rb"(^|\r\n)((?:From|To|f|t)\s*:[^\r\n<]*?)tel:([^;\s\r\n]+)", re.IGNORECASE)


def tel_to_sip(raw: bytes) -> bytes:
    """Rewrite ``tel:`` name-addrs so rfcvoip's parser accepts the message.

    WORKAROUND rfcvoip SIP.py:187: From/To must match ``^sips?:``, so a request
    whose From is a ``tel:`` URI raises SIPParseError and the INVITE is silently
    dropped (the caller sees 408). Only the copy handed to the library is
    rewritten; callbot parses the caller from the original bytes.
    """
    head, sep, body = raw.partition(b"\r\n\r\n")
    head = _TEL_URI.sub(lambda m: b"<sip:" + m.group(1) + b"@tel.invalid;user=phone" + m.group(2) + b">", head)
    head = _TEL_BARE.sub(lambda m: m.group(1) + m.group(2) + b"sip:" + m.group(3) + b"@tel.invalid", head)
    return head + sep + body


_ROUTE_HOP = re.compile(r"<?sips?:(?:[^@;>]*@)?(\[[^\]]+\]|[^;:>]+)(?::(\d+))?", re.IGNORECASE)


def record_routes(raw: bytes) -> list[str]:
    """Every Record-Route entry of a request, in order (one list for all headers)."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    routes: list[str] = []
    for line in head.split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "record-route":
            routes.extend(part.strip() for part in re.split(r",(?=\s*<)", value) if part.strip())
    return routes


def route_hop(route: str, default_port: int = 5060) -> tuple[str, int] | None:
    """Host and port of a route entry such as ``<sip:127.0.0.1:5060;lr>``."""
    match = _ROUTE_HOP.search(route)
    if not match:
        return None
    return match.group(1).strip("[]"), int(match.group(2) or default_port)


def insert_after_via(message: str, lines: list[str]) -> str:
    """Insert header lines after the last Via header of a generated message."""
    if not lines:
        return message
    head, sep, body = message.partition("\r\n\r\n")
    headers = head.split("\r\n")
    at = 1
    for index, line in enumerate(headers):
        if line.lower().startswith("via:"):
            at = index + 1
    headers[at:at] = lines
    return "\r\n".join(headers) + sep + body


_AGENT_LINE = re.compile(rb"\r\n(?:User-Agent|Server)[ \t]*:[^\r\n]*", re.IGNORECASE)


_SDP_ORIGIN = re.compile(rb"^o=rfcvoip ", re.MULTILINE)
_SDP_SESSION = re.compile(rb"^s=rfcvoip[^\r\n]*", re.MULTILINE)
_CONTENT_LENGTH = re.compile(rb"\r\n(?:Content-Length|l)[ \t]*:[ \t]*\d+", re.IGNORECASE)


def with_user_agent(message: bytes, agent: str) -> bytes:
    """``message`` with the bot's own product name: ``User-Agent`` on a request, ``Server`` on a
    response (RFC 3261 §20.35, §20.41), none at all when ``agent`` is empty (give scanners nothing).

    The library writes ``User-Agent: rfcvoip <version>`` into everything it sends, and
    ``o=rfcvoip …`` / ``s=rfcvoip <version>`` into its SDP: those become ``-`` (RFC 4566 §5.2, §5.3)
    and Content-Length follows the shorter body."""
    head, sep, body = message.partition(b"\r\n\r\n")
    if body:
        slim = _SDP_SESSION.sub(b"s=-", _SDP_ORIGIN.sub(b"o=- ", body))
        if slim != body:
            body = slim
            head = _CONTENT_LENGTH.sub(b"\r\nContent-Length: " + str(len(body)).encode(), head)
    head = _AGENT_LINE.sub(b"", head)
    if agent:
        name = b"Server" if head.startswith(b"SIP/") else b"User-Agent"
        value = " ".join(agent.split()).encode("utf-8")
        start, nl, rest = head.partition(b"\r\n")
        head = start + b"\r\n" + name + b": " + value + (nl + rest if rest else b"")
    return head + sep + body
