"""SIP/RTP adapter: the only module that imports the SIP library (rfcvoip).

It turns the library's phone into a :class:`SipEndpoint` that hands every
inbound INVITE to the application as an :class:`IncomingCall` (which implements
the session's call-I/O protocol), supervises registration itself, and holds
every workaround for a measured upstream defect of rfcvoip 2.10.3. Each
workaround is marked ``WORKAROUND`` with the upstream file:line it answers and
is exercised by a test (tests/test_sip_adapter.py, tests/test_integration_sip.py).

No rfcvoip type leaves this module.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

import rfcvoip
from rfcvoip import SIP, RTP
from rfcvoip.VoIP import VoIP as _voip_module
from rfcvoip.VoIP.VoIP import CallState, InvalidStateError, VoIPCall, VoIPPhone
from rfcvoip.VoIP.status import PhoneStatus

from callbot.audio import FRAME_BYTES
from callbot.errors import SipError

log = logging.getLogger("callbot.telephony.endpoint")
_lib_log = logging.getLogger("callbot.telephony.endpoint.rfcvoip")

#: Registration retry backoff after a failure: first delay, cap (seconds).
REGISTER_BACKOFF_FIRST = 1.0
REGISTER_BACKOFF_MAX = 60.0
#: How long one REGISTER transaction may wait for its final answer (seconds).
REGISTER_TRANSACTION_TIMEOUT = 4.0
#: Refresh a registration after this fraction of the granted expiry.
REGISTER_REFRESH_FRACTION = 0.5
#: Shortest refresh interval we ever use, whatever the registrar grants.
REGISTER_REFRESH_MIN = 5.0
#: How often the call watchdog checks RTP inactivity and the call-length cap.
WATCHDOG_INTERVAL = 0.25


# WORKAROUND rfcvoip/__init__.py:30-34: ``debug()`` prints to stdout even with
# DEBUG off. Each rfcvoip module binds ``debug = rfcvoip.debug`` at import
# time, so we rebind those module globals to a logger (nothing on stdout).
def _library_debug(message, error=None):
    _lib_log.debug("%s", error if error is not None else message)


for _module in (rfcvoip, SIP, RTP, _voip_module):
    _module.debug = _library_debug
rfcvoip.DEBUG = False


@dataclass(frozen=True)
class SipSettings:
    """What the endpoint needs; built from ``config.SipConfig`` by the caller."""

    server: str
    port: int
    username: str
    password: str
    local_ip: str
    local_port: int
    rtp_port_min: int
    rtp_port_max: int
    register: bool = True
    register_expires: int = 300
    rtp_timeout: float = 30.0
    max_call_duration: float = 600.0
    user_agent: str = "callbot"

    def __repr__(self) -> str:  # never show the password
        return (
            f"SipSettings(server={self.server!r}, port={self.port}, "
            f"username={self.username!r}, local={self.local_ip}:{self.local_port})"
        )


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


@dataclass(frozen=True)
class RegistrationState:
    registered: bool
    granted_expires: int | None
    last_error: str | None
    attempts: int


_TEL_URI = re.compile(rb"<tel:([^>;]*)([^>]*)>", re.IGNORECASE)
_TEL_BARE = re.compile(rb"(^|\r\n)((?:From|To|f|t)\s*:[^\r\n<]*?)tel:([^;\s\r\n]+)", re.IGNORECASE)
_EXPIRES_PARAM = re.compile(r";\s*expires\s*=\s*(\d+)", re.IGNORECASE)
_EXPIRES_HEADER = re.compile(r"^expires\s*:\s*(\d+)\s*$", re.IGNORECASE | re.MULTILINE)


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


def granted_expiry(response_text: str, contact_marker: str, asked: int) -> int:
    """Expiry the registrar granted: our Contact's ``expires=``, else ``Expires:``."""
    for line in response_text.split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() in ("contact", "m") and contact_marker in value:
            match = _EXPIRES_PARAM.search(value)
            if match:
                return int(match.group(1))
    match = _EXPIRES_HEADER.search(response_text)
    if match:
        return int(match.group(1))
    return asked


def refresh_delay(granted: int) -> float:
    """Seconds until the next REGISTER refresh for a granted expiry."""
    return max(REGISTER_REFRESH_MIN, granted * REGISTER_REFRESH_FRACTION)


def backoff_delay(failures: int) -> float:
    """Retry delay after ``failures`` consecutive registration failures (>= 1)."""
    return min(REGISTER_BACKOFF_MAX, REGISTER_BACKOFF_FIRST * 2 ** max(0, failures - 1))


@dataclass
class _Transfer:
    """A REFER in flight: its answer (202/4xx) and the NOTIFY reports of the new call."""

    call_id: str
    cseq: int
    answered: threading.Event
    done: threading.Event
    status: int | None = None          # response to the REFER
    final_status: int | None = None    # status line of the last sipfrag NOTIFY


class _SupervisedSIPClient(SIP.SIPClient):
    """rfcvoip's SIP client with registration taken over by :class:`_Registrar`."""

    last_register_response: "SIP.SIPMessage | None" = None
    _transfers: "dict[str, _Transfer] | None" = None

    # WORKAROUND rfcvoip sends no REFER (it answers one with 501): callbot's
    # blind transfer (RFC 3515) builds the in-dialog REFER from the BYE the
    # library would send (same dialog headers, route set, next CSeq), and
    # takes the 202 and the NOTIFY progress reports (message/sipfrag) itself.
    def send_refer(self, request, refer_to: str, referred_by: str) -> _Transfer:
        bye = self.gen_bye(request)
        lines = bye.split("\r\n")
        lines[0] = "REFER " + lines[0][len("BYE "):]
        cseq = 0
        for i, line in enumerate(lines):
            if line.lower().startswith("cseq:"):
                cseq = int(line.split(":", 1)[1].split()[0])
                lines[i] = f"CSeq: {cseq} REFER"
        at = next(i for i, line in enumerate(lines) if line.lower().startswith("content-length"))
        lines[at:at] = [f"Refer-To: <{refer_to}>", f"Referred-By: <{referred_by}>"]
        transfer = _Transfer(str(request.headers["Call-ID"]), cseq, threading.Event(), threading.Event())
        if self._transfers is None:
            self._transfers = {}
        self._transfers[transfer.call_id] = transfer
        self.send_raw("\r\n".join(lines).encode("utf8"), self.dialog_target(request))
        return transfer

    def parse_message(self, message) -> None:
        transfer = (self._transfers or {}).get(str(message.headers.get("Call-ID", "")))
        if transfer is not None:
            cseq = message.headers.get("CSeq", {})
            method = cseq.get("method") if isinstance(cseq, dict) else None
            if message.type == SIP.SIPMessageType.RESPONSE and method == "REFER":
                if int(message.status) >= 200:
                    transfer.status = int(message.status)
                    transfer.answered.set()
                    if transfer.status >= 300:
                        transfer.done.set()
                return
            if message.type == SIP.SIPMessageType.MESSAGE and message.method == "NOTIFY":
                self._send_request_response(message, self.gen_ok(message))
                match = re.search(rb"SIP/2\.0\s+(\d{3})", message.raw.split(b"\r\n\r\n", 1)[-1])
                if match:
                    transfer.final_status = int(match.group(1))
                    if transfer.final_status >= 200:
                        transfer.done.set()
                return
        super().parse_message(message)

    def forget_transfer(self, call_id: str) -> None:
        if self._transfers:
            self._transfers.pop(call_id, None)

    # WORKAROUND SIP.py:4497-4530, 4549: the library's register() blocks start()
    # for up to 30 s when the registrar is silent, stops the whole phone after
    # three failures (state FAILED, no more calls), and refreshes every 120-5 s
    # whatever the registrar granted, so after a registrar restart the bot is
    # unreachable for up to two minutes. start() and the library's timer call
    # register(): here it does nothing; _Registrar drives REGISTER instead.
    def register(self) -> bool:
        return True

    def register_once(self) -> "SIP.SIPMessage":
        """One REGISTER transaction (with digest retry); returns the final response."""
        self.last_register_response = None
        with self.recvLock:
            ok = self._SIPClient__register()
        response = self.last_register_response
        if not ok or response is None:
            raise SIP.SIPRequestError("REGISTER was not accepted")
        return response

    def deregister_once(self) -> bool:
        with self.recvLock:
            return bool(self._SIPClient__deregister())

    def _send_register_request(self, request: str, *, action: str):
        response = super()._send_register_request(request, action=action)
        self.last_register_response = response
        return response

    # WORKAROUND Record-Route is ignored (SIP.py:3709-3785 gen_ringing/gen_answer,
    # 3907-3940 gen_bye, 1754 dialog_target): RFC 3261 12.1.1 requires a UAS to
    # copy Record-Route into its 18x/2xx, and in-dialog requests must follow
    # the route set. Without this, behind a record-routing proxy (Kamailio,
    # many trunks) the caller's BYE never reaches us and our BYE bypasses it.
    def gen_ringing(self, request):
        routes = [f"Record-Route: {r}" for r in record_routes(request.raw)]
        return insert_after_via(super().gen_ringing(request), routes)

    def gen_answer(self, request, *args, **kwargs):
        routes = [f"Record-Route: {r}" for r in record_routes(request.raw)]
        return insert_after_via(super().gen_answer(request, *args, **kwargs), routes)

    def gen_bye(self, request):
        routes = [f"Route: {r}" for r in record_routes(request.raw)]
        return insert_after_via(super().gen_bye(request), routes)

    def dialog_target(self, request):
        routes = record_routes(request.raw)
        hop = route_hop(routes[0]) if routes else None
        return hop or super().dialog_target(request)

    # WORKAROUND SIP.py:3108-3111: start() runs the receive loop only after a
    # 1 s sleep, so an INVITE in the first second after start waits (and the
    # caller retransmits). Receive at once.
    def _delayed_recv_loop(self, delay: float = 0.0) -> None:
        self.recv_loop()

    # WORKAROUND SIP.py:3091-3106/3113-3159: recv_loop() catches only
    # BlockingIOError and OSError, so one malformed request that parses but
    # lacks a header (e.g. a BYE without From -> KeyError in gen_response)
    # kills the receive thread and the bot goes deaf. Drop such a datagram.
    def recv(self) -> None:
        try:
            super().recv()
        except (BlockingIOError, OSError):
            raise
        except Exception as exc:
            log.warning("dropped an unprocessable SIP message: %s: %s", type(exc).__name__, exc)

    def _message_from_raw(self, raw: bytes):
        try:
            message = super()._message_from_raw(raw)
        except SIP.SIPParseError:
            fixed = tel_to_sip(raw)
            if fixed == raw:
                raise
            message = super()._message_from_raw(fixed)
        message.raw = raw  # callbot reads the caller from the original bytes
        return message


class _Phone(VoIPPhone):
    """VoIPPhone without the fixed answer delay, with a supervised SIP client."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The library constructs SIP.SIPClient itself; switch the instance to
        # our subclass (same layout, only overridden methods).
        self.sip.__class__ = _SupervisedSIPClient
        self.sip.register_timeout = REGISTER_TRANSACTION_TIMEOUT

    # WORKAROUND VoIP/VoIP.py:1535-1541: _run_call_callback sleeps 1.0 s before
    # the application's callback, so INVITE->200 OK takes ~1014 ms as shipped.
    # We run the callback at once; ringing time is the application's choice
    # (config sip.answer_delay).
    @staticmethod
    def _run_call_callback(callback, call, delay: float = 0.0) -> None:
        VoIPPhone._run_call_callback(callback, call, 0.0)


class IncomingCall:
    """One inbound call. Implements the call-I/O protocol used by the session.

    Audio is 16-bit signed little-endian mono PCM at 8 kHz in 20 ms frames
    (320 bytes). Reads never block; the session paces them with its own clock.
    """

    def __init__(self, voip_call: VoIPCall, endpoint: "SipEndpoint"):
        self._call = voip_call
        self._endpoint = endpoint
        request = voip_call.request
        self.raw_invite: bytes = bytes(getattr(request, "raw", b"") or b"")
        self.sip_call_id: str = str(voip_call.call_id)
        self.received_at = time.monotonic()
        self.answered_at: float | None = None
        self._ended_by: str | None = None
        self.last_rtp_at: float | None = None
        self._lock = threading.Lock()
        self._watch_rtp()

    @property
    def ended_by(self) -> str | None:
        """Who ended the call: 'bot', 'caller', 'cancel', 'rtp_timeout', 'max_duration' (None while up)."""
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
        """The next 20 ms of caller audio, or None when the call is not up.

        WORKAROUND RTP.py:1635-1646: a blocking read returns only when the call
        ends; a non-blocking read returns exactly one frame (silence where no
        RTP arrived), so the session's 20 ms clock keeps real time.
        """
        if not self.active:
            return None
        try:
            return self._call.read_audio(FRAME_BYTES, blocking=False)
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
            return max((c.pmout.available() for c in clients), default=0) / 2 / 8000
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
        """Record when RTP last arrived (rfcvoip exposes no such timestamp)."""
        for client in self._call._rtp_clients_snapshot():
            original = client.parse_packet

            def parse_packet(packet, _original=original):
                self.last_rtp_at = time.monotonic()
                return _original(packet)

            client.parse_packet = parse_packet

    def _expire(self, reason: str) -> None:
        with self._lock:
            if self._call.state == CallState.ANSWERED:
                self._ended_by = reason
                try:
                    self._call.hangup()
                except InvalidStateError:
                    pass


class _Registrar(threading.Thread):
    """Keeps the registration alive: retry with backoff, refresh at half the granted expiry."""

    def __init__(self, phone: _Phone, settings: SipSettings):
        super().__init__(name="callbot-registrar", daemon=True)
        self._phone = phone
        self._settings = settings
        self._stop_event = threading.Event()
        self._wake = threading.Event()
        self.state = RegistrationState(False, None, None, 0)
        self.registered_event = threading.Event()

    def run(self) -> None:
        client: _SupervisedSIPClient = self._phone.sip  # type: ignore[assignment]
        client.default_expires = self._settings.register_expires
        failures = 0
        attempts = 0
        while not self._stop_event.is_set():
            attempts += 1
            try:
                response = client.register_once()
                granted = granted_expiry(
                    str(response.raw, "utf8", errors="replace"),
                    f"@{self._settings.local_ip}:{self._settings.local_port}",
                    self._settings.register_expires,
                )
                if granted <= 0:
                    raise SIP.SIPRequestError("registrar granted expiry 0")
                failures = 0
                self.state = RegistrationState(True, granted, None, attempts)
                self.registered_event.set()
                self._phone._status = PhoneStatus.REGISTERED
                delay = refresh_delay(granted)
                log.info("registered at %s:%s, expires %ss, refresh in %.0fs",
                         self._settings.server, self._settings.port, granted, delay)
            except Exception as exc:  # any failure: log, back off, try again
                failures += 1
                delay = backoff_delay(failures)
                message = str(exc) or type(exc).__name__
                self.state = RegistrationState(False, None, message, attempts)
                self.registered_event.clear()
                log.warning("registration failed (%s); retrying in %.0fs", message, delay)
            self._wake.wait(delay)
            self._wake.clear()

    def refresh_now(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop_event.set()
        self._wake.set()


class SipEndpoint:
    """The bot's SIP user agent: registers (optionally) and receives calls.

    ``on_call`` runs on the call's own thread with an :class:`IncomingCall`
    that is still ringing; the application answers, rejects or waits.
    """

    def __init__(self, settings: SipSettings, on_call: Callable[[IncomingCall], None]):
        self.settings = settings
        self._on_call = on_call
        self._phone: _Phone | None = None
        self._registrar: _Registrar | None = None
        self._watched: dict[str, IncomingCall] = {}
        self._watch_lock = threading.Lock()
        self._watchdog_stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> None:
        s = self.settings
        _check_bindable(s.local_ip, s.local_port)
        self._phone = _Phone(
            s.server,
            s.port,
            s.username,
            s.password,
            myIP=s.local_ip,
            callCallback=self._handle_call,
            sipPort=s.local_port,
            rtpPortLow=s.rtp_port_min,
            rtpPortHigh=s.rtp_port_max,
            # WORKAROUND: the default 8-bit audio costs 17 dB SNR (20.5 vs
            # 37.2 dB measured); 16-bit is bit-exact.
            audio_bit_depth=16,
            audio_output_mode="buffered",
        )
        try:
            self._phone.start()
        except Exception as exc:
            raise SipError(f"cannot start SIP on {s.local_ip}:{s.local_port}: {exc}") from exc
        self._watchdog = threading.Thread(target=self._watch_loop, name="callbot-watchdog", daemon=True)
        self._watchdog.start()
        if s.register:
            self._registrar = _Registrar(self._phone, s)
            self._registrar.start()
        log.info("SIP endpoint listening on %s:%s (register=%s)", s.local_ip, s.local_port, s.register)

    def stop(self, timeout: float = 5.0) -> None:
        """Hang up calls, unregister, close sockets."""
        phone = self._phone
        if phone is None:
            return
        self._watchdog_stop.set()
        if self._registrar is not None:
            self._registrar.stop()
            self._registrar.join(timeout)
            if self._registrar.state.registered:
                try:
                    phone.sip.deregister_once()
                    log.info("unregistered from %s:%s", self.settings.server, self.settings.port)
                except Exception as exc:
                    log.warning("unregister failed: %s", exc)
        try:
            phone.stop()
        except Exception as exc:
            log.warning("SIP stop: %s", exc)
        self._phone = None

    @property
    def registration(self) -> RegistrationState | None:
        return self._registrar.state if self._registrar else None

    def wait_registered(self, timeout: float) -> bool:
        return bool(self._registrar and self._registrar.registered_event.wait(timeout))

    def active_calls(self) -> int:
        with self._watch_lock:
            return sum(1 for c in self._watched.values() if c.active)

    # -- internals -------------------------------------------------------
    def _handle_call(self, voip_call: VoIPCall) -> None:
        call = IncomingCall(voip_call, self)
        try:
            self._on_call(call)
        except Exception:
            log.exception("call handler failed for %s", call.sip_call_id)
            if call.active or call.ringing:
                call.hangup()
        finally:
            with self._watch_lock:
                self._watched.pop(call.sip_call_id, None)

    def _watch(self, call: IncomingCall) -> None:
        with self._watch_lock:
            self._watched[call.sip_call_id] = call

    def _watch_loop(self) -> None:
        """Hang up calls that went silent or ran too long (no half-open calls).

        WORKAROUND: rfcvoip has no SIP transaction timers (a lost 200 OK/ACK or
        BYE leaves a half-open call) and no media timeout.
        """
        s = self.settings
        while not self._watchdog_stop.wait(WATCHDOG_INTERVAL):
            now = time.monotonic()
            with self._watch_lock:
                calls = list(self._watched.values())
            for call in calls:
                if not call.active or call.answered_at is None:
                    continue
                if now - call.answered_at > s.max_call_duration:
                    log.warning("call %s: maximum call length reached, hanging up", call.sip_call_id)
                    call._expire("max_duration")
                elif call.last_rtp_at is not None and now - call.last_rtp_at > s.rtp_timeout:
                    log.warning("call %s: no RTP for %.1fs, hanging up", call.sip_call_id, s.rtp_timeout)
                    call._expire("rtp_timeout")

    def _send_final_response(self, voip_call: VoIPCall, status: int) -> None:
        phone = self._phone
        if phone is None:
            return
        request = voip_call.request
        response = phone.sip.gen_response(request, SIP.SIPStatus(status))
        phone.sip.send_response(request, response)
        voip_call._stop_rtp_clients()
        voip_call._set_state(CallState.ENDED)
        voip_call._finalize_ended_call()


def _check_bindable(ip: str, port: int) -> None:
    """Fail early, with a clear message, if the SIP address cannot be bound."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_DGRAM)
    try:
        probe.bind((ip, port))
    except OSError as exc:
        raise SipError(
            f"cannot listen for SIP on {ip}:{port}: {exc.strerror or exc} — "
            "check sip.local_ip (an address of this machine) and sip.local_port (not used by another program)"
        ) from exc
    finally:
        probe.close()
