"""Is a SIP request well formed enough to act on? RFC 3261 §8.2 and §7, checked as the IETF's
torture tests (RFC 4475) exercise them — pure functions on the raw bytes, no I/O.

:func:`check_request` gives ``None`` for a request the bot may handle, or the status and
reason to refuse it with; :func:`bad_request` builds that answer from the request's own
Via/From/To/Call-ID/CSeq lines (a request without Via cannot be answered and is dropped).
The endpoint runs it on every request before the SIP library parses it, so a malformed
request gets its 400 (or 416, 505) and never reaches the call handler: never a crash,
never a call row.
"""

from __future__ import annotations

import re

from callbot.telephony.message import parse_headers, parse_name_addr

#: Headers every request needs (RFC 3261 §8.1.1; Max-Forwards is not required here: too many
#: real phones leave it out of in-dialog requests).
MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")
#: Headers that may appear only once (RFC 3261 §7.3.1, RFC 4475 §3.1.2.19).
SINGLE = ("From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type")
SCHEMES = ("sip", "sips", "tel")
CSEQ_MAX = 2**31 - 1
_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")
_START = re.compile(r"^([^ ]+) ([^ ]+) (SIP/\d+\.\d+)$")


def _start_line(raw: bytes) -> str:
    return raw.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode("utf-8", "replace")


def is_request(raw: bytes) -> bool:
    line = _start_line(raw)
    return bool(line) and not line.startswith("SIP/")


def check_request(raw: bytes) -> tuple[int, str] | None:
    """None when ``raw`` is a request the bot can act on, else (status, reason)."""
    line = _start_line(raw)
    match = _START.match(line)
    if match is None:
        return 400, "malformed request line (one space between method, URI and version)"
    method, uri, version = match.groups()
    if version != "SIP/2.0":
        return 505, f"version {version} not supported"
    if not _TOKEN.match(method):
        return 400, "malformed method"
    if uri.startswith("<"):
        return 400, "Request-URI enclosed in <>"
    if "?" in uri:
        return 400, "headers in the Request-URI"
    scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
    if scheme not in SCHEMES:
        return 416, f"unsupported URI scheme {scheme or '(none)'}"
    head, _, body = raw.partition(b"\r\n\r\n")
    headers = parse_headers(head)
    names = [name for name, _ in headers]
    for name in MANDATORY:
        if name not in names:
            return 400, f"missing {name} header"
    for name in SINGLE:
        if names.count(name) > 1:
            return 400, f"more than one {name} header"
    values = dict(headers)
    cseq = values["CSeq"].split()
    if len(cseq) != 2 or not cseq[0].isdigit() or int(cseq[0]) > CSEQ_MAX:
        return 400, "malformed CSeq"
    if cseq[1] != method:
        return 400, f"CSeq method {cseq[1]} does not match the request's {method}"
    for name in ("From", "To"):
        if parse_name_addr(values[name]).scheme is None:
            return 400, f"malformed {name} header"
    length = values.get("Content-Length")
    if length is not None:
        if not length.strip().isdigit():
            return 400, "malformed Content-Length"
        if int(length) > len(body):
            return 400, "Content-Length larger than the message"
    forwards = values.get("Max-Forwards")
    if forwards is not None and not forwards.strip().isdigit():
        return 400, "malformed Max-Forwards"
    return None


_ECHO = re.compile(rb"^(?:via|v|from|f|to|t|call-id|i|cseq)[ \t]*:.*$", re.IGNORECASE | re.MULTILINE)


def bad_request(raw: bytes, status: int, reason: str, server: str = "") -> bytes | None:
    """The answer to a refused request, echoing its transaction headers; None without a Via."""
    head = raw.partition(b"\r\n\r\n")[0]
    lines = [line.rstrip(b"\r") for line in _ECHO.findall(head)]
    if not any(line.split(b":", 1)[0].strip().lower() in (b"via", b"v") for line in lines):
        return None
    phrase = {400: "Bad Request", 416: "Unsupported URI Scheme", 505: "Version Not Supported"}.get(status, "Bad Request")
    out = [f"SIP/2.0 {status} {phrase}".encode(), *lines]
    out.append(f"Warning: 399 callbot \"{reason}\"".encode())
    if server:
        out.append(f"Server: {server}".encode())
    out.append(b"Content-Length: 0")
    return b"\r\n".join(out) + b"\r\n\r\n"
