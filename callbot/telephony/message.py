"""SIP message grammar (RFC 3261 §7, §20, §25): header lines and name-addr values, as plain values.

Pure functions, no I/O and no SIP library: :func:`parse_headers` splits a raw
SIP message into ``(name, value)`` pairs with canonical names (compact forms
expanded, folded lines joined), :func:`parse_name_addr` parses one
``From``-style value (display name, URI, user, host, parameters). Garbage in
gives a :class:`NameAddr` with ``valid = False``, never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

__all__ = ["HeaderList", "NameAddr", "canonical_name", "parse_headers", "parse_name_addr", "split_outside_quotes"]

HeaderList = list[tuple[str, str]]

# --------------------------------------------------------------------------
# Header section
# --------------------------------------------------------------------------

# RFC 3261 7.3.3 and later RFCs (3265, 3515, 3841, 3892, 4028, 4474).
_COMPACT_FORMS = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

# Names whose canonical spelling is not "title-case every dash segment".
_SPECIAL_NAMES = {
    name.lower(): name
    for name in (
        "Call-ID",
        "CSeq",
        "WWW-Authenticate",
        "MIME-Version",
        "RAck",
        "RSeq",
        "SIP-ETag",
        "SIP-If-Match",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "P-Called-Party-ID",
        "Remote-Party-ID",
        "P-Charging-Function-Addresses",
        "P-Visited-Network-ID",
        "P-Associated-URI",
        "P-DCS-Billing-Info",
        "P-Charging-Vector",
        "P-Access-Network-Info",
        "P-Early-Media",
        "Content-ID",
        "Target-Dialog",
    )
}

_TOKEN_RE = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")
_LINE_SPLIT_RE = re.compile(r"\r\n|\r|\n")
_START_LINE_RE = re.compile(r"^(?:[A-Za-z]+ \S+ SIP/\d+\.\d+|SIP/\d+\.\d+ \d{3}(?: .*)?)$")


def canonical_name(name: str) -> str:
    """Canonical spelling of a header name ('f' -> 'From', 'call-id' -> 'Call-ID')."""
    name = name.strip()
    lower = name.lower()
    if lower in _COMPACT_FORMS:
        return _COMPACT_FORMS[lower]
    if lower in _SPECIAL_NAMES:
        return _SPECIAL_NAMES[lower]
    return "-".join(seg[:1].upper() + seg[1:].lower() for seg in lower.split("-"))


def parse_headers(raw: bytes | str) -> HeaderList:
    """Header lines of a SIP message (the start line is skipped, body ignored).

    Accepts CRLF, LF or CR line ends, folded continuation lines, any case,
    compact forms and ``Name:value`` without a space. Lines that are not
    ``token ":" value`` are skipped; a message without a start line is also
    accepted. Never raises; undecodable bytes become U+FFFD.
    """
    if isinstance(raw, (bytes, bytearray, memoryview)):
        text = bytes(raw).decode("utf-8", errors="replace")
    elif isinstance(raw, str):
        text = raw
    else:
        return []

    lines = _LINE_SPLIT_RE.split(text)
    # RFC 3261 7.5: tolerate empty lines before the start line.
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines and _START_LINE_RE.match(lines[0].strip()):
        lines.pop(0)

    headers: HeaderList = []
    current: list[str] | None = None  # [name, value] of the header being folded
    for line in lines:
        if line == "":
            break  # end of the header section; the body follows
        if line[0] in " \t":
            if current is not None:
                cont = line.strip()
                if cont:
                    current[1] = f"{current[1]} {cont}" if current[1] else cont
            continue
        if current is not None:
            headers.append((current[0], current[1]))
            current = None
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not _TOKEN_RE.match(name):
            continue  # garbage (also swallows its continuation lines)
        current = [canonical_name(name), value.strip()]
    if current is not None:
        headers.append((current[0], current[1]))
    return headers


# --------------------------------------------------------------------------
# name-addr / addr-spec
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class NameAddr:
    """One parsed name-addr / addr-spec (``"Bob" <sip:bob@host>;tag=1``)."""

    display_name: str | None
    scheme: str | None  # 'sip' | 'sips' | 'tel' | None (unparseable)
    user: str | None  # percent-decoded user part; for tel: the number incl. '+'
    host: str | None  # lower-cased; None for tel:
    params: dict[str, str] = field(hash=False)  # URI + header params, lower-case keys
    raw: str


def _garbage(raw: str, display_name: str | None = None) -> NameAddr:
    return NameAddr(display_name, None, None, None, {}, raw)


def split_outside_quotes(value: str, sep: str) -> list[str]:
    """Split on ``sep`` except inside double quotes or angle brackets."""
    parts: list[str] = []
    buf: list[str] = []
    in_quotes = escaped = False
    depth = 0
    for ch in value:
        if in_quotes:
            buf.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_quotes = False
            continue
        if ch == '"':
            in_quotes = True
        elif ch == "<":
            depth += 1
        elif ch == ">" and depth:
            depth -= 1
        elif ch == sep and not depth:
            parts.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    parts.append("".join(buf))
    return parts


def _parse_params(text: str) -> dict[str, str]:
    """``;a=1;B="x y";lr`` -> {'a': '1', 'b': 'x y', 'lr': ''}."""
    params: dict[str, str] = {}
    for chunk in split_outside_quotes(text, ";"):
        key, _, val = chunk.partition("=")
        key = key.strip().lower()
        if not key:
            continue
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] == '"':
            val = re.sub(r"\\(.)", r"\1", val[1:-1])
        params[key] = val
    return params


def _read_quoted(text: str) -> tuple[str, str] | None:
    """``"a \\"b\\"" rest`` -> ('a "b"', ' rest'); None when unterminated."""
    out: list[str] = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), text[i + 1 :]
        out.append(ch)
        i += 1
    return None


def _parse_uri(uri: str) -> tuple[str, str | None, str | None, dict[str, str]] | None:
    """Split a sip/sips/tel URI into (scheme, user, host, uri-params)."""
    scheme, colon, rest = uri.strip().partition(":")
    scheme = scheme.strip().lower()
    if not colon or scheme not in ("sip", "sips", "tel") or any(c in rest for c in " \t<>\""):
        return None
    if scheme == "tel":
        number, _, params = rest.partition(";")
        user = unquote(number).strip() or None
        return scheme, user, None, _parse_params(params)

    # ?headers start at the first '?' after the '@' (the user part may contain '?').
    q = rest.find("?", max(rest.find("@"), 0))
    if q >= 0:
        rest = rest[:q]
    userinfo, at, hostpart = rest.partition("@")
    if not at:
        userinfo, hostpart = "", rest
    user = unquote(userinfo.partition(":")[0]) or None
    hostport, _, params = hostpart.partition(";")
    if hostport.startswith("["):  # IPv6 reference
        host = hostport[: hostport.find("]") + 1] if "]" in hostport else ""
    else:
        host = hostport.partition(":")[0]
    host = host.strip().lower()
    if not host:
        return None
    return scheme, user, host, _parse_params(params)


def parse_name_addr(value: str) -> NameAddr:
    """Parse a name-addr (``"Name" <uri>;params``) or addr-spec (``uri;params``).

    Without angle brackets the ``;params`` after the URI are header params
    (RFC 3261 20.10); either way URI and header params are merged (header
    params win). Never raises: anything unparseable gets ``scheme=None``.
    """
    raw = value if isinstance(value, str) else ""
    text = raw.strip()
    display: str | None = None

    if text.startswith('"'):
        quoted = _read_quoted(text)
        if quoted is None:
            return _garbage(raw)
        display, text = quoted[0].strip() or None, quoted[1].lstrip()
        if not text.startswith("<"):
            return _garbage(raw, display)

    lt = text.find("<")
    if lt >= 0:
        if display is None:
            display = " ".join(text[:lt].split()) or None
        gt = text.find(">", lt)
        if gt < 0:
            return _garbage(raw, display)
        uri, header_params = text[lt + 1 : gt], text[gt + 1 :]
        parsed = _parse_uri(uri)
        if parsed is None:
            return _garbage(raw, display)
        scheme, user, host, params = parsed
        params = {**params, **_parse_params(header_params)}
        return NameAddr(display, scheme, user, host, params, raw)

    # addr-spec: everything after the first ';' following the host is header params
    scheme, colon, rest = text.partition(":")
    if not colon:
        return _garbage(raw)
    if "@" in rest:
        at = rest.find("@")
        semi = rest.find(";", at)
    else:
        semi = rest.find(";")
    if semi < 0:
        semi = len(rest)
    uri, header_params = f"{scheme}:{rest[:semi].strip()}", rest[semi:]
    parsed = _parse_uri(uri)
    if parsed is None:
        return _garbage(raw)
    scheme, user, host, params = parsed
    return NameAddr(None, scheme, user, host, {**params, **_parse_params(header_params)}, raw)
