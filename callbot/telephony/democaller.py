"""A minimal SIP caller (UAC) for the demo and for loopback tests.

Plain UDP sockets, no SIP library: it sends one INVITE straight to the bot,
ACKs the answer, receives the bot's RTP (PCMU/PCMA/G.722: ``offer``), sends silence RTP back
like a real phone, answers the bot's BYE, or hangs up itself after
``hangup_after`` seconds. It can speak: ``answers`` (recordings) are said one by
one, each once the bot has finished a prompt, like a polite caller. Enough for
``callbot demo``; not a general UA.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field

from callbot.audio import SAMPLE_RATE, frame_bytes, level_dbfs, resample, split_frames
from callbot.telephony.codecs import BY_PAYLOAD, CODECS, G711U
from callbot.telephony.srtp import SUITES, Crypto, SrtpMedia, answer_crypto, choose_crypto

#: SIP timer T1 (RFC 3261), used for INVITE retransmission.
T1 = 0.5
#: The bot counts as talking while its audio is at or above this level.
BOT_SPEECH_DBFS = -40.0
#: An answer is sent once the bot has been quiet this long after talking.
ANSWER_AFTER_SILENCE = 0.7


@dataclass
class CallReport:
    status: int | None = None          # final response to our INVITE
    invite_sent_at: float | None = None
    answered_at: float | None = None   # 200 OK received (monotonic)
    bye_from_bot_at: float | None = None
    bye_sent_at: float | None = None
    rtp_times: list[float] = field(default_factory=list)   # arrival of each RTP packet
    audio: bytearray = field(default_factory=bytearray)     # decoded PCM16 at ``rate``
    codec: str | None = None            # the codec the bot answered with
    srtp: object | None = None          # the call's SrtpMedia when it was SRTP (srtp=True and answered)
    wire: list[bytes] = field(default_factory=list)  # the first received RTP packets as they arrived
    answer_sdp: str = ""                # the SDP of the bot's 200 OK
    rate: int = SAMPLE_RATE             # sample rate of ``audio`` (16000 for G.722)
    responses: list[str] = field(default_factory=list)      # status lines seen
    answers_spoken: int = 0             # how many of ``answers`` the caller started to say

    @property
    def answer_latency(self) -> float | None:
        if self.answered_at is None or self.invite_sent_at is None:
            return None
        return self.answered_at - self.invite_sent_at

    @property
    def audio_seconds(self) -> float:
        return len(self.audio) / 2 / self.rate


class DemoCaller:
    def __init__(self, bot_host: str, bot_port: int, local_ip: str = "127.0.0.1"):
        self.bot = (bot_host, bot_port)
        self.local_ip = local_ip

    def call(
        self,
        from_header: str,
        *,
        user: str = "callbot",
        extra_headers: tuple[str, ...] = (),
        hangup_after: float | None = None,
        timeout: float = 30.0,
        cancel_after: float | None = None,
        send_pcm: bytes | None = None,
        send_rtp: bool = True,
        answers: tuple[bytes, ...] = (),
        offer: tuple[str, ...] = ("PCMU", "PCMA"),
        pcm_rate: int = SAMPLE_RATE,
        srtp: bool = False,
    ) -> CallReport:
        """Place one call and return what happened. Bounded by ``timeout`` seconds.

        The caller offers the codecs ``offer`` (names of :data:`CODECS`, in order of
        preference) and sends ``send_pcm`` (16-bit PCM at ``pcm_rate``, resampled to the
        answered codec's rate) with the codec the bot answered, then silence; with
        ``send_rtp=False`` it sends no RTP at all. ``answers`` (also at ``pcm_rate``)
        are spoken one by one, each after the bot finished a prompt (its audio went
        quiet), like a polite human caller. ``srtp``: the offer is ``RTP/SAVP`` with an SDES key
        (AES_CM_128_HMAC_SHA1_80) and the media SRTP both ways with the keys of offer and answer.
        """
        report = CallReport()
        sip = _udp_socket(self.local_ip)
        rtp = _udp_socket(self.local_ip)
        sip_port, rtp_port = sip.getsockname()[1], rtp.getsockname()[1]
        call_id = f"{uuid.uuid4().hex}@{self.local_ip}"
        tag = uuid.uuid4().hex[:10]
        branch = "z9hG4bK" + uuid.uuid4().hex[:16]
        request_uri = f"sip:{user}@{self.bot[0]}:{self.bot[1]}"
        own_key = answer_crypto(Crypto("1", SUITES[0], b"")) if srtp else None
        sdp = (
            "v=0\r\n"
            f"o=democaller 1 1 IN IP4 {self.local_ip}\r\n"
            "s=callbot demo\r\n"
            f"c=IN IP4 {self.local_ip}\r\n"
            "t=0 0\r\n"
            f"m=audio {rtp_port} RTP/{'SAVP' if srtp else 'AVP'} "
            f"{' '.join(str(CODECS[n].payload_type) for n in offer)}\r\n"
            + (own_key.line() + "\r\n" if own_key else "")
            + "".join(f"a=rtpmap:{CODECS[n].payload_type} {n}/{CODECS[n].clock}\r\n" for n in offer)
            + "a=ptime:20\r\n"
            "a=sendrecv\r\n"
        )
        from_with_tag = f"{from_header};tag={tag}"
        via = f"SIP/2.0/UDP {self.local_ip}:{sip_port};branch={branch};rport"
        common = (
            f"Via: {via}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: {from_with_tag}\r\n"
            f"To: <{request_uri}>\r\n"
            f"Call-ID: {call_id}\r\n"
        )
        invite = (
            f"INVITE {request_uri} SIP/2.0\r\n" + common + "CSeq: 1 INVITE\r\n"
            f"Contact: <sip:demo@{self.local_ip}:{sip_port}>\r\n"
            + "".join(h + "\r\n" for h in extra_headers)
            + "Content-Type: application/sdp\r\n"
            f"Content-Length: {len(sdp.encode())}\r\n\r\n{sdp}"
        )
        deadline = time.monotonic() + timeout
        to_header = f"<{request_uri}>"
        remote_rtp: tuple[str, int] | None = None
        contact = request_uri
        stop_media = threading.Event()
        media: threading.Thread | None = None
        try:
            report.invite_sent_at = time.monotonic()
            sip.sendto(invite.encode(), self.bot)
            next_retransmit = report.invite_sent_at + T1
            cancel_at = None if cancel_after is None else report.invite_sent_at + cancel_after
            hangup_at = None
            while time.monotonic() < deadline:
                now = time.monotonic()
                if report.status is None and now >= next_retransmit and not report.responses:
                    sip.sendto(invite.encode(), self.bot)
                    next_retransmit = now + T1
                if cancel_at is not None and report.status is None and now >= cancel_at:
                    cancel = (
                        f"CANCEL {request_uri} SIP/2.0\r\n" + common
                        + "CSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"
                    )
                    sip.sendto(cancel.encode(), self.bot)
                    cancel_at = None
                if hangup_at is not None and now >= hangup_at and report.bye_from_bot_at is None:
                    bye = (
                        f"BYE {contact} SIP/2.0\r\n"
                        f"Via: SIP/2.0/UDP {self.local_ip}:{sip_port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport\r\n"
                        f"Max-Forwards: 70\r\nFrom: {from_with_tag}\r\nTo: {to_header}\r\n"
                        f"Call-ID: {call_id}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
                    )
                    sip.sendto(bye.encode(), self.bot)
                    report.bye_sent_at = now
                    hangup_at = None
                sip.settimeout(0.02)
                try:
                    data, addr = sip.recvfrom(65535)
                except socket.timeout:
                    if report.bye_sent_at is not None and now - report.bye_sent_at > 1.0:
                        break
                    continue
                text = data.decode("utf-8", "replace")
                start, headers, body = _split(text)
                if start.startswith("SIP/2.0"):
                    code = int(start.split()[1])
                    report.responses.append(start)
                    cseq = headers.get("cseq", "")
                    if "INVITE" in cseq and code >= 200:
                        to_header = headers.get("to", to_header)
                        if report.status is None:
                            report.status = code
                        if code >= 300:
                            ack = (
                                f"ACK {request_uri} SIP/2.0\r\n"
                                + common.replace(f"To: <{request_uri}>", f"To: {to_header}")
                                + "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
                            )
                            sip.sendto(ack.encode(), addr)
                            break
                        if report.answered_at is None:
                            report.answered_at = time.monotonic()
                        contact = _contact_uri(headers.get("contact", "")) or request_uri
                        ack = (
                            f"ACK {contact} SIP/2.0\r\n"
                            f"Via: SIP/2.0/UDP {self.local_ip}:{sip_port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport\r\n"
                            f"Max-Forwards: 70\r\nFrom: {from_with_tag}\r\nTo: {to_header}\r\n"
                            f"Call-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
                        )
                        sip.sendto(ack.encode(), addr)
                        remote_rtp = _sdp_target(body)
                        report.answer_sdp = report.answer_sdp or body
                        if media is None and remote_rtp is not None:
                            codec = BY_PAYLOAD.get(_sdp_payload(body), G711U)()
                            report.codec, report.rate = codec.name, codec.rate
                            keys = [ln.split(":", 1)[1] for ln in body.splitlines() if ln.startswith("a=crypto:")]
                            if own_key is not None and choose_crypto(keys) is not None:
                                report.srtp = SrtpMedia(remote=choose_crypto(keys), local=own_key)
                            speech = [resample(p, pcm_rate, codec.rate) for p in (send_pcm or b"", *answers)]
                            media = threading.Thread(
                                target=_media_loop,
                                args=(rtp, remote_rtp, report, stop_media, codec, speech[0], send_rtp,
                                      tuple(speech[1:])),
                                daemon=True,
                            )
                            media.start()
                        if hangup_after is not None:
                            hangup_at = time.monotonic() + hangup_after
                    elif "BYE" in cseq and code >= 200:
                        break
                    continue
                method = start.split(" ", 1)[0]
                if method == "BYE":
                    report.bye_from_bot_at = time.monotonic()
                    sip.sendto(_response(200, "OK", headers).encode(), addr)
                    break
                if method in ("OPTIONS", "INFO", "UPDATE"):
                    sip.sendto(_response(200, "OK", headers).encode(), addr)
                elif method not in ("ACK", "CANCEL"):  # e.g. REFER: not supported here (RFC 3261 8.2.1)
                    sip.sendto(_response(501, "Not Implemented", headers).encode(), addr)
        finally:
            stop_media.set()
            if media is not None:
                media.join(2)
            sip.close()
            rtp.close()
        return report


def _udp_socket(ip: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 0))
    return s


def _split(text: str) -> tuple[str, dict[str, str], str]:
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    compact = {"f": "from", "t": "to", "i": "call-id", "m": "contact", "v": "via"}
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        key = compact.get(key, key)
        if key == "via":
            headers.setdefault("via-all", "")
            headers["via-all"] += f"Via: {value.strip()}\r\n"
        headers.setdefault(key, value.strip())
    return lines[0], headers, body


def _response(code: int, phrase: str, headers: dict[str, str]) -> str:
    return (
        f"SIP/2.0 {code} {phrase}\r\n{headers.get('via-all', '')}"
        f"From: {headers.get('from', '')}\r\nTo: {headers.get('to', '')}\r\n"
        f"Call-ID: {headers.get('call-id', '')}\r\nCSeq: {headers.get('cseq', '')}\r\n"
        "Content-Length: 0\r\n\r\n"
    )


def _contact_uri(value: str) -> str | None:
    if "<" in value and ">" in value:
        return value[value.index("<") + 1 : value.index(">")]
    return value.split(";", 1)[0].strip() or None


def _sdp_target(body: str) -> tuple[str, int] | None:
    host, port = None, None
    for line in body.splitlines():
        if line.startswith("c=IN IP4 "):
            host = line.split()[-1]
        elif line.startswith("m=audio "):
            port = int(line.split()[1])
    return (host, port) if host and port else None


def _sdp_payload(body: str) -> int | None:
    """The first payload type of the answer's audio stream (the codec the bot chose)."""
    for line in body.splitlines():
        if line.startswith("m=audio "):
            parts = line.split()
            return int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else None
    return None


def _media_loop(
    sock: socket.socket,
    target: tuple[str, int],
    report: CallReport,
    stop: threading.Event,
    codec,
    pcm: bytes,
    send: bool,
    answers: tuple[bytes, ...] = (),
) -> None:
    """Receive the bot's RTP; send ``pcm``, then each answer when the bot fell silent.

    Sends one packet every 20 ms on absolute deadlines (silence when there is
    nothing to say).
    """
    sock.settimeout(0.005)
    ssrc = random.getrandbits(32)
    seq = random.getrandbits(16)
    timestamp = random.getrandbits(32)
    # PCM frames, encoded as they are sent (G.722 is ADPCM: the encoder's state must follow
    # every packet the far end decodes, silence included).
    silence = bytes(frame_bytes(codec.rate))
    frames = split_frames(pcm, len(silence)) if pcm else []
    pending = [split_frames(answer, len(silence)) for answer in answers if answer]
    bot_talked = False
    bot_quiet_since = time.monotonic()
    next_send = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        if pending and not frames and bot_talked and now - bot_quiet_since >= ANSWER_AFTER_SILENCE:
            frames = pending.pop(0)
            report.answers_spoken += 1
            bot_talked = False
        if send and now >= next_send:
            payload = codec.encode(frames.pop(0) if frames else silence)
            header = struct.pack("!BBHII", 0x80, codec.payload_type, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)
            packet = header + payload if report.srtp is None else report.srtp.protect(header + payload)
            try:
                sock.sendto(packet, target)
            except OSError:
                pass
            seq += 1
            timestamp += codec.clock // 50
            next_send += 0.02
        try:
            packet = sock.recv(2048)
        except (socket.timeout, OSError):
            continue
        if len(packet) < 12:
            continue
        if len(report.wire) < 50:
            report.wire.append(packet)
        if report.srtp is not None:
            packet = report.srtp.unprotect(packet)
            if packet is None:
                continue
        pt = packet[1] & 0x7F
        body = packet[12 + 4 * (packet[0] & 0x0F):]
        report.rtp_times.append(time.monotonic())
        if pt != codec.payload_type:
            continue
        decoded = codec.decode(body)
        report.audio += decoded
        if level_dbfs(decoded) >= BOT_SPEECH_DBFS:
            bot_talked = True
            bot_quiet_since = time.monotonic()
