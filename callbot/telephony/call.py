"""One inbound SIP call as the call layer sees it (:class:`callbot.call.ports.InboundCall`).

Audio is 16-bit signed little-endian mono PCM in 20 ms frames at the call's
:attr:`IncomingCall.sample_rate` — 16 kHz when it was answered with G.722, 8 kHz with
G.711; reads never block. Answer, reject, hang up and blind transfer (REFER) are here.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from callbot.audio import RATES, SAMPLE_RATE, SAMPLE_WIDTH, frame_bytes
from callbot.errors import SipError
from callbot.telephony.client import CallState, InvalidStateError, VoIPCall

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransferResult:
    target: str
    refer_status: int | None    # 202 accepted, 4xx/5xx refused, None: no answer
    final_status: int | None    # the transferred call's final status from NOTIFY (200 = connected)

    @property
    def succeeded(self) -> bool:
        return self.refer_status is not None and self.refer_status < 300 and self.final_status == 200

    def describe(self) -> str:
        if self.refer_status is None:
            return f"REFER to {self.target}: no answer"
        if self.refer_status >= 300:
            return f"REFER to {self.target} refused with {self.refer_status}"
        if self.final_status is None:
            return f"REFER to {self.target} accepted ({self.refer_status}), no final NOTIFY"
        return f"REFER to {self.target} accepted; the new call answered {self.final_status}"


class IncomingCall:
    """One inbound call. Implements the call-I/O protocol used by the session.

    Audio is 16-bit signed little-endian mono PCM in 20 ms frames at :attr:`sample_rate`
    (320 bytes at 8 kHz, 640 at 16 kHz). Reads never block; the session paces them with its
    own clock.
    """

    def __init__(self, voip_call: VoIPCall, endpoint: Any):  # endpoint: the SipEndpoint that owns the call
        self._call = voip_call
        self._endpoint = endpoint
        request = voip_call.request
        self.raw_invite: bytes = bytes(getattr(request, "raw", b"") or b"")
        self.sip_call_id: str = str(voip_call.call_id)
        #: The rate of the call's audio frames, fixed by the codec the call was answered with.
        self.sample_rate: int = _rate_of(voip_call)
        self._frame_bytes = frame_bytes(self.sample_rate)
        self.received_at = time.monotonic()
        self.answered_at: float | None = None
        self._ended_by: str | None = None
        self.last_rtp_at: float | None = None
        #: The final answer to the bot's BYE (None: not answered within 64·T1), once known.
        self.bye_status: int | None = None
        self.bye_answered = threading.Event()
        self._bye_listener = None
        self._bye_lock = threading.Lock()
        self._lock = threading.Lock()
        self._watch_rtp()
        endpoint._listen_for_bye(self.sip_call_id, self._bye_final)
        self._media_listener = None
        self.held_since: float | None = None
        voip_call.on_direction = self._direction_changed

    # -- hold (re-INVITE) ----------------------------------------------------
    @property
    def on_hold(self) -> bool:
        """The caller has put the call on hold (their re-INVITE said sendonly or inactive): the bot
        sends nothing and its prompt waits; listening does not count this time as silence."""
        return self.held_since is not None

    def on_dtmf(self, listener) -> None:
        """``listener(digit)`` for each key the caller presses (RFC 4733 telephone-event)."""
        self._call.on_dtmf = listener

    def on_media_change(self, listener) -> None:
        """``listener(held: bool, direction: str)`` on every hold and resume."""
        self._media_listener = listener

    def _direction_changed(self, direction: str) -> None:
        held = direction in ("recvonly", "inactive")
        if held == self.on_hold:
            return
        self.held_since = time.monotonic() if held else None
        if not held:
            self.last_rtp_at = time.monotonic()  # no RTP while held is no reason to hang up
        listener = self._media_listener
        if listener is not None:
            listener(held, direction)

    def on_bye_result(self, listener) -> None:
        """``listener(status)`` once the bot's BYE has its final answer (None: none within 32 s);
        at once when it already has."""
        with self._bye_lock:
            self._bye_listener = listener
            known = self.bye_answered.is_set()
        if known:
            listener(self.bye_status)

    def _bye_final(self, status: int | None) -> None:
        with self._bye_lock:
            self.bye_status = status
            self.bye_answered.set()
            listener = self._bye_listener
        if listener is not None:
            listener(status)

    @property
    def ended_by(self) -> str | None:
        """Who ended the call: 'bot', 'caller', 'cancel', 'rtp_timeout', 'max_duration', 'no_ack',
        'stop' (None while up)."""
        if self._ended_by is not None:
            return self._ended_by
        if self._call.state == CallState.ENDED:
            return "caller" if self.answered_at is not None else "cancel"
        return None

    # -- call setup ------------------------------------------------------
    @property
    def ringing(self) -> bool:
        return self._call.state == CallState.RINGING

    @property
    def cancelled(self) -> bool:
        """The caller gave up (CANCEL) before we answered."""
        return self.answered_at is None and self._call.state == CallState.ENDED

    def answer(self) -> None:
        with self._lock:
            try:
                self._call.answer()
            except InvalidStateError as exc:
                raise SipError(f"cannot answer call {self.sip_call_id}: {exc}") from exc
            self.answered_at = time.monotonic()
            self.last_rtp_at = self.answered_at
        self._endpoint._watch(self)

    def reject(self, status: int) -> None:
        """Refuse the ringing call with a final response (e.g. 433), never answering."""
        with self._lock:
            if self._call.state != CallState.RINGING:
                raise SipError(f"cannot reject call {self.sip_call_id}: not ringing")
            self._endpoint._send_final_response(self._call, status)
            self._ended_by = "bot"

    # -- call-I/O protocol -----------------------------------------------
    @property
    def active(self) -> bool:
        return self._call.state == CallState.ANSWERED

    def read_frame(self) -> bytes | None:
        """The next 20 ms of caller audio at :attr:`sample_rate`, or None when the call is not up.

        WORKAROUND RTP.py:1635-1646: a blocking read returns only when the call
        ends; a non-blocking read returns exactly one frame (silence where no
        RTP arrived), so the session's 20 ms clock keeps real time.
        """
        if not self.active:
            return None
        try:
            return self._call.read_audio(self._frame_bytes, blocking=False)
        except Exception:  # the call ended between the check and the read
            return None

    def write_frame(self, frame: bytes) -> None:
        """Queue one 20 ms frame for sending.

        WORKAROUND RTP.py:997-1006: in realtime output mode one bulk write of a
        whole prompt keeps only the last 140 ms; in buffered mode a bulk write
        cannot be interrupted. The session writes one frame per 20 ms tick.
        """
        if self.active:
            try:
                self._call.write_audio(frame)
            except Exception:
                pass

    def transfer(self, target: str, timeout: float = 10.0) -> "TransferResult":
        """Blind transfer (RFC 3515 REFER) of the answered call to ``target`` (a SIP URI).

        Waits for the REFER's answer and the NOTIFY with the new call's final
        status (up to ``timeout``); on success the bot leaves the call (BYE).
        """
        if not self.active:
            raise SipError(f"cannot transfer call {self.sip_call_id}: it is not up")
        phone = self._endpoint._phone
        settings = self._endpoint.settings
        referred_by = f"sip:{settings.username}@{settings.local_ip}:{settings.local_port}"
        transfer = phone.sip.send_refer(self._call.request, target, referred_by)
        try:
            transfer.answered.wait(timeout)
            if transfer.status is not None and transfer.status < 300:
                transfer.done.wait(max(0.0, timeout))
        finally:
            phone.sip.forget_transfer(transfer.call_id)
        result = TransferResult(target, transfer.status, transfer.final_status)
        if result.succeeded and self.active:
            self._ended_by = "transfer"
            self.hangup()
        return result

    def queued_output_seconds(self) -> float:
        """Audio written but not yet sent as RTP."""
        try:
            clients = self._call._rtp_clients_snapshot()
            queued = max((c.pmout.available() for c in clients), default=0)
            return queued / SAMPLE_WIDTH / self.sample_rate
        except Exception:
            return 0.0

    def hangup(self) -> None:
        with self._lock:
            if self._call.state == CallState.ANSWERED:
                self._ended_by = self._ended_by or "bot"
                try:
                    self._call.hangup()
                except InvalidStateError:
                    pass
            elif self._call.state == CallState.RINGING:
                self._ended_by = self._ended_by or "bot"
                self._endpoint._send_final_response(self._call, 480)

    # -- internals -------------------------------------------------------
    def _watch_rtp(self) -> None:
        """Record when RTP last arrived (rfcvoip exposes no such timestamp); with SRTP, when
        authentic RTP last arrived (the parser behind the decryption, srtp.py)."""
        for client in self._call._rtp_clients_snapshot():
            name = "parse_plain" if hasattr(client, "parse_plain") else "parse_packet"
            original = getattr(client, name)

            def parse_packet(packet, _original=original):
                self.last_rtp_at = time.monotonic()
                return _original(packet)

            setattr(client, name, parse_packet)

    def _expire(self, reason: str) -> None:
        """The bot ends the call for ``reason`` (watchdog: rtp_timeout, max_duration; stop)."""
        with self._lock:
            if self._call.state == CallState.ANSWERED:
                self._ended_by = reason
                try:
                    self._call.hangup()
                except InvalidStateError:
                    pass
            elif self._call.state == CallState.RINGING:
                self._ended_by = reason
                self._endpoint._send_final_response(self._call, 480)


def _rate_of(voip_call: VoIPCall) -> int:
    """The sample rate of the call's audio as the library hands it over (the codec's own: 16 kHz
    for G.722, 8 kHz for G.711; the offer filter lets no other codec through)."""
    try:
        rate = int(voip_call.public_audio_format().sample_rate)
    except Exception as exc:  # no RTP client (never answered): the frames are not read anyway
        log.debug("call %s: no audio format (%s); 8 kHz assumed", voip_call.call_id, exc)
        return SAMPLE_RATE
    if rate not in RATES:
        raise SipError(f"call {voip_call.call_id}: the negotiated codec runs at {rate} Hz; "
                       f"callbot handles {' and '.join(map(str, RATES))} Hz only")
    return rate
