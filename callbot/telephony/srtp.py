"""SRTP media with SDES keys (RFC 3711, RFC 4568): ``sip.media_encryption``.

The caller's offer carries its master key in ``a=crypto`` (``RTP/SAVP``); the bot answers
with the same tag and suite and a fresh key of its own, so each direction has its own key.
The keys travel in the SDP, so the bot only takes them over TLS signalling
(:func:`callbot.telephony.offer.judge_offer` refuses SDES otherwise).

* :func:`parse_crypto`, :func:`choose_crypto`, :func:`answer_crypto`: pure, on plain values;
* :class:`SrtpMedia`: one call's two libsrtp sessions (``pylibsrtp``, the binding aiortc uses
  — no home-made crypto), hooked into the SIP library's RTP client: every packet it builds is
  protected, every packet it receives is authenticated and decrypted first. Packets that are
  not RTP (STUN, RTCP, RFC 7983) or do not authenticate are dropped and counted.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
from dataclasses import dataclass, field

log = logging.getLogger("callbot.telephony")

MODES = ("off", "optional", "required")
#: SDES suites the bot speaks (libsrtp's AES128_CM_SHA1_80 and _32 profiles).
SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")
#: Master key (16 bytes) + master salt (14 bytes) of the AES_CM_128 suites.
KEY_BYTES = 30
_LINE = re.compile(r"^(\d{1,9})\s+(\S+)\s+inline:([A-Za-z0-9+/=]+)(\|[^\s]*)?(?:\s+(.*))?$")


@dataclass(frozen=True)
class Crypto:
    """One ``a=crypto`` line: tag, suite and the 30-byte master key + salt."""

    tag: str
    suite: str
    key: bytes = field(repr=False)  # master key + salt: never in a repr or a log

    def line(self) -> str:
        return f"a=crypto:{self.tag} {self.suite} inline:{base64.b64encode(self.key).decode('ascii')}"


def parse_crypto(value: str) -> Crypto | None:
    """The value of an ``a=crypto:`` attribute, or None when the bot cannot use it: an unknown
    suite, a key of the wrong length, a master key index (MKI) or session parameters."""
    match = _LINE.match(value.strip())
    if match is None:
        return None
    tag, suite, inline, extra, params = match.groups()
    if suite not in SUITES or params:
        return None
    if extra and any(part and not part.startswith("2^") and not part.isdigit()
                     for part in extra[1:].split("|")):
        return None  # an MKI ("1:4"): the bot has one key per direction
    try:
        key = base64.b64decode(inline, validate=True)
    except (binascii.Error, ValueError):
        return None
    return Crypto(tag, suite, key) if len(key) == KEY_BYTES else None


def choose_crypto(values: list[str]) -> Crypto | None:
    """The first usable ``a=crypto`` value in the offer's order (RFC 4568 §6.1)."""
    for value in values:
        crypto = parse_crypto(value)
        if crypto is not None:
            return crypto
    return None


def answer_crypto(offered: Crypto, key: bytes | None = None) -> Crypto:
    """The answer's line: the offer's tag and suite, the bot's own fresh key."""
    return Crypto(offered.tag, offered.suite, key if key is not None else secrets.token_bytes(KEY_BYTES))


def is_rtp(packet: bytes) -> bool:
    """RFC 7983 / RFC 5761: an RTP packet (not STUN, DTLS or RTCP)."""
    return len(packet) >= 12 and 0x80 <= packet[0] <= 0xBF and not 192 <= packet[1] <= 223


class SrtpMedia:
    """The two SRTP sessions of one call: ``local`` protects what the bot sends, ``remote``
    authenticates and decrypts what the caller sends. Each session is used by one thread only
    (libsrtp sessions are not thread-safe): the RTP client's sender and its receiver."""

    def __init__(self, remote: Crypto, local: Crypto):
        import pylibsrtp  # only calls with SRTP need libsrtp

        profiles = {"AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
                    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32}
        self._errors = (pylibsrtp.Error, ValueError)
        self._session = lambda key, inbound, suite: pylibsrtp.Session(pylibsrtp.Policy(
            key, pylibsrtp.Policy.SSRC_ANY_INBOUND if inbound else pylibsrtp.Policy.SSRC_ANY_OUTBOUND, 0,
            profiles[suite]))
        self.remote, self.local = remote, local
        self._tx = self._session(local.key, False, local.suite)
        self._rx = self._session(remote.key, True, remote.suite)
        self.protected = self.accepted = self.dropped = 0

    def rekey(self, remote: Crypto) -> None:
        """A re-INVITE's offer: a new key of the caller's gets a new receive session; the same key
        keeps the running one (its rollover counter: RFC 4568 §7.1.4). The bot's key stays."""
        if remote != self.remote:
            self.remote, self._rx = remote, self._session(remote.key, True, remote.suite)

    def protect(self, packet: bytes) -> bytes:
        self.protected += 1
        return self._tx.protect(packet)

    def unprotect(self, packet: bytes) -> bytes | None:
        """The plain RTP packet, or None (not RTP, not authentic, a replay)."""
        if not is_rtp(packet):
            self.dropped += 1
            return None
        try:
            plain = self._rx.unprotect(packet)
        except self._errors as exc:
            self.dropped += 1
            if self.dropped in (1, 100, 10000):
                log.warning("SRTP: dropped %d packet(s) from the caller that did not authenticate (%s)",
                            self.dropped, exc)
            return None
        self.accepted += 1
        return plain

    def attach(self, rtp_client) -> None:
        """Hook into one of the SIP library's RTP clients: every packet it builds is protected,
        every packet it receives is unprotected first and handed to ``rtp_client.parse_plain``
        (the library's parser; others may wrap that one, e.g. to see when authentic RTP came)."""
        rtp_client.srtp = self
        build = rtp_client._build_rtp_packet
        rtp_client.parse_plain = rtp_client.parse_packet

        def build_protected(*args, **kwargs):
            return rtp_client.srtp.protect(build(*args, **kwargs))

        def parse_unprotected(packet):
            plain = rtp_client.srtp.unprotect(packet)
            if plain is not None:
                rtp_client.parse_plain(plain)

        rtp_client._build_rtp_packet = build_protected
        rtp_client.parse_packet = parse_unprotected


def secure_answer(body: str, crypto: Crypto) -> str:
    """The library's SDP answer made SRTP: the answered audio stream's profile ``RTP/SAVP`` and the
    bot's ``a=crypto`` line right after its ``m=`` line (streams refused with port 0 stay as
    they are)."""
    newline = "\r\n" if "\r\n" in body else "\n"
    lines, done = [], False
    for line in body.split(newline):
        if not done and line.startswith("m=audio ") and " RTP/AVP " in line and not line.startswith("m=audio 0 "):
            lines += [line.replace(" RTP/AVP ", " RTP/SAVP ", 1), crypto.line()]
            done = True
        else:
            lines.append(line)
    return newline.join(lines)
