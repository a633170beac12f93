"""Judging an INVITE's SDP offer before anything rings (RFC 3264 offer/answer, RFC 4566 SDP).

Pure functions on plain values, no I/O and no SIP library: :func:`judge_offer` reads
the offer and says whether the bot can take the call and with which codecs, or which
final status and reason refuse it. The endpoint asks before a 180 is sent, so a caller
the bot cannot take never hears ringing first, and every refusal has a reason for the
call's row.

What the bot takes:

* audio over plain ``RTP/AVP`` with G.722 (16 kHz wideband, on the 8 kHz RTP clock RFC 3551
  gives it), PCMA or PCMU (8 kHz G.711, bit-exact) — the codecs it encodes and decodes
  correctly; telephone-event (RFC 4733) rides along. The answer carries one codec: the
  first of these in the caller's order of preference (so the library cannot reorder them
  by its own scores). Everything else (Opus, G.729, speex, the library's untested wideband
  G.711 variants …) is taken out of the offer before the library answers, so it is never
  answered — whether libopus is installed or not. G.722 is answered only where its codec
  library (PyPI ``G722``) loads (:func:`callbot.telephony.library.supported_codecs`);
* an offer with audio and video: the audio is answered, the video is refused with
  port 0 in the answer (RFC 3264 §6) — never the whole call.

* SRTP (``RTP/SAVP`` with an SDES ``a=crypto`` line the bot can use, :mod:`callbot.telephony.srtp`)
  when ``sip.media_encryption`` is ``optional`` or ``required`` (only over TLS signalling);
  with ``required``, plain ``RTP/AVP`` is refused. The library sees the stream as ``RTP/AVP``
  without its keys; the answer is made ``RTP/SAVP`` again with the bot's own key.

What it refuses with ``488 Not Acceptable Here``: an INVITE without SDP (a delayed offer,
the offer would come in the 200 and the answer in the ACK: not supported, decided so
that the codec check happens before anything rings), SDP that cannot be read, no audio
stream, an audio stream that is ``inactive`` or has port 0, SRTP the settings do not allow
or without a usable key, plain RTP when SRTP is required, another profile, no codec in common.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from callbot.telephony.srtp import Crypto, answer_crypto, choose_crypto, secure_answer

#: Codecs the bot answers, by encoding name (upper case) → static payload type.
SUPPORTED = {"G722": 9, "PCMU": 0, "PCMA": 8}
#: The RTP clock of each (RFC 3551 §4.5.2: G.722 keeps an 8000 Hz clock for 16 kHz audio).
CLOCK = 8000
#: Named events accepted alongside a codec (RFC 4733 DTMF).
EVENTS = frozenset({"TELEPHONE-EVENT"})
#: Static payload types (RFC 3551 table 4) and their names, for offers without rtpmap.
STATIC = {0: "PCMU", 3: "GSM", 4: "G723", 8: "PCMA", 9: "G722", 18: "G729"}
NOT_ACCEPTABLE = 488

_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


@dataclass
class Stream:
    """One ``m=`` section of an offer."""

    kind: str                  # audio, video, application …
    port: int
    proto: str                 # RTP/AVP, RTP/SAVP …
    payloads: list[str]
    rtpmap: dict[str, str] = field(default_factory=dict)  # payload type -> "PCMU/8000"
    direction: str | None = None
    crypto: list[str] = field(default_factory=list)        # a=crypto values (SDES keys), offer order

    def codec(self, payload: str) -> str:
        """The encoding name of one payload type (upper case), '' when unknown."""
        mapped = self.rtpmap.get(payload)
        if mapped:
            return mapped.split("/", 1)[0].strip().upper()
        if payload.isdigit() and int(payload) in STATIC:
            return STATIC[int(payload)]
        return ""

    def clock_rate(self, payload: str) -> int | None:
        mapped = self.rtpmap.get(payload)
        if mapped and "/" in mapped:
            rate = mapped.split("/")[1].strip()
            return int(rate) if rate.isdigit() else None
        return 8000 if payload in ("0", "8", "9") else None


@dataclass(frozen=True)
class Verdict:
    """What to do with an offer: take it (``status`` None) or refuse it with ``status`` and ``reason``."""

    status: int | None
    reason: str
    keep: tuple[str, ...] = ()          # audio payload types the answer may use, offer order
    offered: tuple[str, ...] = ()       # codec names offered in the audio stream(s), for the log

    @property
    def accepted(self) -> bool:
        return self.status is None


def parse_sdp(text: str) -> tuple[list[Stream], str | None]:
    """The media streams of an SDP body and its session-level direction attribute."""
    streams: list[Stream] = []
    session_direction: str | None = None
    for raw in re.split(r"\r\n|\n|\r", text):
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:].strip()
        if kind == "m":
            parts = value.split()
            if len(parts) < 3:
                raise ValueError(f"media line {line!r} has no protocol")
            port = parts[1].split("/", 1)[0]
            if not port.isdigit() or int(port) > 65535:
                raise ValueError(f"media line {line!r} has no valid port")
            streams.append(Stream(parts[0].lower(), int(port), parts[2].upper(), parts[3:]))
        elif kind == "a":
            name, _, rest = value.partition(":")
            if name == "rtpmap" and streams:
                payload, _, encoding = rest.strip().partition(" ")
                streams[-1].rtpmap[payload] = encoding.strip()
            elif name == "crypto" and streams:
                streams[-1].crypto.append(rest.strip())
            elif name in _DIRECTIONS:
                if streams:
                    streams[-1].direction = name
                else:
                    session_direction = name
    return streams, session_direction


def _usable(stream: Stream, payload: str, supported) -> bool:
    return stream.codec(payload) in supported and stream.clock_rate(payload) == CLOCK


def _takes(stream: Stream, srtp: str) -> bool:
    """Does the media policy let the bot answer this stream's profile?"""
    if stream.proto == "RTP/AVP":
        return srtp != "required"
    return stream.proto == "RTP/SAVP" and srtp != "off" and choose_crypto(stream.crypto) is not None


def _profile_refusal(live: list[Stream], srtp: str) -> str:
    proto = live[0].proto
    if srtp == "required":
        if proto == "RTP/SAVP":
            return "SRTP offered without a usable a=crypto key (the bot speaks SDES AES_CM_128_HMAC_SHA1_80/_32)"
        return f"audio profile {proto}: plain RTP is refused (sip.media_encryption = required)"
    if proto == "RTP/SAVP":
        if srtp == "off":
            return ("audio profile RTP/SAVP (SRTP) is not taken: sip.media_encryption is off "
                    "(SRTP needs sip.transport = tls)")
        return "SRTP offered without a usable a=crypto key (the bot speaks SDES AES_CM_128_HMAC_SHA1_80/_32)"
    return f"audio profile {proto} is not supported; the bot speaks RTP/AVP and RTP/SAVP"


def judge_offer(content_type: str | None, body: bytes, supported=tuple(SUPPORTED), srtp: str = "off") -> Verdict:
    """Can the bot take an INVITE with this body? (see the module docstring).

    ``supported``: the codec names the bot can answer (G.722 only where its library loads);
    ``srtp``: the effective ``sip.media_encryption`` (``off`` whenever signalling is not TLS)."""
    if not body.strip():
        return Verdict(NOT_ACCEPTABLE, "INVITE without SDP (delayed offer): not supported")
    kind = (content_type or "application/sdp").split(";", 1)[0].strip().lower()
    if kind != "application/sdp":
        return Verdict(NOT_ACCEPTABLE, f"INVITE body is {kind}, not an SDP offer")
    try:
        streams, session_direction = parse_sdp(body.decode("utf-8", errors="replace"))
    except ValueError as exc:
        return Verdict(NOT_ACCEPTABLE, f"SDP offer could not be read: {exc}")
    audio = [s for s in streams if s.kind == "audio"]
    if not audio:
        kinds = ", ".join(sorted({s.kind for s in streams})) or "none"
        return Verdict(NOT_ACCEPTABLE, f"no audio stream in the offer (media: {kinds})")
    offered = tuple(dict.fromkeys(s.codec(p) or f"pt {p}" for s in audio for p in s.payloads))
    live = [s for s in audio if s.port != 0]
    if not live:
        return Verdict(NOT_ACCEPTABLE, "the offer's audio stream is disabled (port 0)", offered=offered)
    usable = [s for s in live if _takes(s, srtp)]
    if not usable:
        return Verdict(NOT_ACCEPTABLE, _profile_refusal(live, srtp), offered=offered)
    stream = usable[0]
    direction = stream.direction or session_direction or "sendrecv"
    if direction == "inactive":
        return Verdict(NOT_ACCEPTABLE, "the offer's audio stream is inactive", offered=offered)
    keep = tuple(p for p in stream.payloads if _usable(stream, p, supported))
    if not keep:
        return Verdict(NOT_ACCEPTABLE, f"no codec in common: offered {', '.join(offered) or 'none'}; "
                       f"the bot speaks {', '.join(supported)}", offered=offered)
    events = tuple(p for p in stream.payloads if stream.codec(p) in EVENTS)
    return Verdict(None, "offer accepted", keep=keep + events, offered=offered)


@dataclass(frozen=True)
class Filtered:
    """An offer cut down to what the bot answers, and the streams it refuses (for the answer)."""

    body: bytes
    #: m= sections taken out, as (position in the offer, "video 0 RTP/AVP 31"): the answer
    #: carries each with port 0 at its place (RFC 3264 §6: as many m= lines as the offer).
    disabled: tuple[tuple[int, str], ...] = ()
    #: SRTP: the caller's key (the offer's chosen a=crypto) and the bot's for the answer.
    remote_key: Crypto | None = None
    local_key: Crypto | None = None


def filter_offer(body: bytes, supported=tuple(SUPPORTED), srtp: str = "off") -> Filtered:
    """The offer as the SIP library should see it: the first live audio stream with only the first
    codec the bot supports in the caller's order (+ telephone-event), every other ``m=`` section
    taken out and remembered.

    An offer without a supported codec is returned unchanged (the caller refuses it)."""
    text = body.decode("utf-8", errors="replace")
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = re.split(r"\r\n|\n", text.rstrip("\r\n"))
    head: list[str] = []
    sections: list[list[str]] = []
    for line in lines:
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        else:
            head.append(line)
    try:
        streams, _ = parse_sdp(text)
    except ValueError:
        return Filtered(body)
    if len(streams) != len(sections):
        return Filtered(body)
    chosen = next((i for i, s in enumerate(streams)
                   if s.kind == "audio" and s.port != 0 and _takes(s, srtp)
                   and any(_usable(s, p, supported) for p in s.payloads)), None)
    if chosen is None:
        return Filtered(body)
    stream = streams[chosen]
    first = next(p for p in stream.payloads if _usable(stream, p, supported))
    keep = [p for p in stream.payloads if p == first or stream.codec(p) in EVENTS]
    remote = choose_crypto(stream.crypto) if stream.proto == "RTP/SAVP" else None
    kept_lines = [" ".join(sections[chosen][0].split()[:2] + ["RTP/AVP"] + keep)]
    for line in sections[chosen][1:]:
        match = re.match(r"a=(?:rtpmap|fmtp|rtcp-fb):(\S+)", line)
        if match and match.group(1) not in keep and match.group(1) != "*":
            continue
        if line.startswith("a=crypto:"):  # the keys stay with callbot (srtp.py), never in the library
            continue
        kept_lines.append(line)
    disabled = tuple((i, " ".join([s.kind, "0", s.proto, *(s.payloads[:1] or ["0"])]))
                     for i, s in enumerate(streams) if i != chosen)
    out = newline.join(head + kept_lines) + newline
    local = answer_crypto(remote) if remote is not None else None
    return Filtered(out.encode("utf-8"), disabled, remote, local)


def finish_answer(message: str, disabled: tuple[tuple[int, str], ...], local_key: Crypto | None) -> str:
    """The library's whole 200 OK with the offer's refused streams back at their places (port 0)
    and, for an SRTP call, the answered stream ``RTP/SAVP`` with the bot's key; Content-Length fixed."""
    if not disabled and local_key is None:
        return message
    head, _, body = message.partition("\r\n\r\n")
    body = with_disabled_streams(body, disabled)
    if local_key is not None:
        body = secure_answer(body, local_key)
    head = re.sub(r"(?im)^Content-Length:.*$", f"Content-Length: {len(body.encode('utf8'))}", head)
    return head + "\r\n\r\n" + body


def with_disabled_streams(answer: str, disabled: tuple[tuple[int, str], ...]) -> str:
    """An SDP answer with the offer's refused streams put back at their places, port 0."""
    if not disabled:
        return answer
    newline = "\r\n" if "\r\n" in answer else "\n"
    parts = re.split(r"(?m)^(?=m=)", answer)
    head, media = parts[0], [p if p.endswith(newline) else p + newline for p in parts[1:]]
    for index, line in sorted(disabled):
        media.insert(min(index, len(media)), f"m={line}{newline}")
    return head + "".join(media)
