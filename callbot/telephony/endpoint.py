"""The bot's SIP user agent: listens, registers (optionally) and hands each INVITE to the application.

:class:`SipEndpoint` wraps the patched rfcvoip phone (:mod:`callbot.telephony.client`),
keeps the registration alive (:mod:`callbot.telephony.registration`) and hands every
inbound call to ``on_call`` as an :class:`~callbot.telephony.call.IncomingCall`. A
watchdog hangs up calls without RTP or past their maximum length.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Callable

from callbot.errors import SipError
from callbot.telephony.call import IncomingCall
from callbot.telephony.client import SIP, CallState, Phone, VoIPCall
from callbot.telephony.gate import TrustedSources
from callbot.telephony.gatekeeper import Gatekeeper, OnRefused
from callbot.telephony.registration import Registrar, RegistrationState
from callbot.telephony.settings import SipSettings
from callbot.telephony.stream import STREAM_TRANSPORTS, describe_connect_error, tls_context
from callbot.telephony.transactions import Transactions

log = logging.getLogger("callbot.telephony")

#: How often the call watchdog checks RTP inactivity and the call-length cap.
WATCHDOG_INTERVAL = 0.25
#: How often the transaction timers are looked at (retransmissions at T1 = 500 ms and up).
TIMER_INTERVAL = 0.05


class SipEndpoint:
    """The bot's SIP user agent: registers (optionally) and receives calls.

    ``on_call`` runs on the call's own thread with an :class:`IncomingCall`
    that is still ringing; the application answers, rejects or waits.
    """

    def __init__(self, settings: SipSettings, on_call: Callable[[IncomingCall], None],
                 on_refused: OnRefused | None = None,
                 on_registration: Callable[[RegistrationState], None] | None = None):
        self.settings = settings
        self._on_call = on_call
        self._on_refused = on_refused
        self._on_registration = on_registration
        self.gatekeeper: Gatekeeper | None = None
        self._phone: Phone | None = None
        self._registrar: Registrar | None = None
        self._watched: dict[str, IncomingCall] = {}
        self._watch_lock = threading.Lock()
        self._watchdog_stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> None:
        s = self.settings
        stream = s.transport in STREAM_TRANSPORTS
        if not stream:
            _check_bindable(s.local_ip, s.local_port)
        transport = {"transport": s.transport}
        if s.transport == "tls":
            transport.update(tls_context=tls_context(s), tls_server_name=s.server)
        self._phone = Phone(
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
            **transport,
        )
        self._phone.sip.user_agent = s.user_agent
        srtp = s.media_encryption if s.transport == "tls" else "off"  # SDES keys only over TLS
        self._phone.sip.srtp_mode = srtp
        self.gatekeeper = Gatekeeper(
            trusted_sources(s), max_calls=s.max_calls, invite_rate=s.invite_rate,
            calls_up=self.calls_up, ports_free=self._ports_free, on_refused=self._on_refused, srtp=srtp)
        self._phone.sip.gatekeeper = self.gatekeeper
        self.transactions = Transactions(time.monotonic, on_no_ack=self._no_ack, reliable=stream)
        self._phone.sip.transactions = self.transactions
        self._phone.sip.bye_listeners = {}
        if stream:
            self._phone.sip.stream_down = threading.Event()
        try:
            self._phone.start()
        except Exception as exc:
            if stream:
                raise SipError(describe_connect_error(exc, s)) from exc
            raise SipError(f"cannot start SIP on {s.local_ip}:{s.local_port}: {exc}") from exc
        if s.public_address:  # behind NAT: Contact, Via and SDP say the public address; sockets stay local
            self._phone.sip.myIP = s.public_address
        self._watchdog = threading.Thread(target=self._watch_loop, name="callbot-watchdog", daemon=True)
        self._watchdog.start()
        self._timers = threading.Thread(target=self._timer_loop, name="callbot-sip-timers", daemon=True)
        self._timers.start()
        if s.register:
            self._registrar = Registrar(self._phone, s, on_change=self._on_registration)
            self._phone.sip.on_stream_down = self._registrar.refresh_now
            self._registrar.start()
        log.info("SIP endpoint listening on %s:%s (register=%s); new calls accepted from %s",
                 s.local_ip, s.local_port, s.register, self.gatekeeper.trusted.describe())

    def calls_up(self) -> int:
        """Calls ringing or up (the library's call table)."""
        phone = self._phone
        if phone is None:
            return 0
        return sum(1 for c in phone._calls_snapshot() if c.state != CallState.ENDED)

    def _ports_free(self) -> bool:
        phone = self._phone
        if phone is None:
            return False
        with phone.portsLock:
            if phone._available_contiguous_port_starts_locked(1):
                return True
        phone.release_ports()  # ports of calls that ended without releasing them
        with phone.portsLock:
            return bool(phone._available_contiguous_port_starts_locked(1))

    def end_calls(self) -> int:
        """End every call that is ringing or up (ended_by "stop": the handler logs the outcome
        ``stopped``); returns how many. The application waits for its handlers (callbot.app)."""
        with self._watch_lock:
            calls = [c for c in self._watched.values() if c.active or c.ringing]
        for call in calls:
            call._expire("stop")
        return len(calls)

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
        self._watch(call)
        try:
            self._on_call(call)
        except Exception:
            log.exception("call handler failed for %s", call.sip_call_id)
            if call.active or call.ringing:
                call.hangup()
        finally:
            with self._watch_lock:
                self._watched.pop(call.sip_call_id, None)

    def _timer_loop(self) -> None:
        """Retransmissions and transaction timeouts (transactions.py), every TIMER_INTERVAL."""
        while not self._watchdog_stop.wait(TIMER_INTERVAL):
            phone = self._phone
            if phone is None:
                return
            try:
                phone.sip.retransmit()
            except Exception:
                log.exception("SIP transaction timers failed")

    def _no_ack(self, sip_call_id: str) -> None:
        """The caller never ACKed the bot's 200 OK (64·T1): end the call, it is half open."""
        with self._watch_lock:
            call = self._watched.get(sip_call_id)
        log.warning("call %s: no ACK for the 200 OK within 32 s; ending the call", sip_call_id)
        if call is not None:
            call._expire("no_ack")

    def _listen_for_bye(self, sip_call_id: str, listener) -> None:
        phone = self._phone
        if phone is not None and phone.sip.bye_listeners is not None:
            phone.sip.bye_listeners[sip_call_id] = listener

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
            if self.gatekeeper is not None:
                self.gatekeeper.report()
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


def trusted_sources(s: SipSettings) -> TrustedSources:
    """Where new INVITEs may come from (gate.py): the resolved sip.server (and its port when
    registered) plus sip.trusted_sources. Used by the endpoint, `callbot check` and `callbot status`."""
    addresses: list[str] = []
    if s.server:
        try:
            infos = socket.getaddrinfo(s.server, s.port, type=socket.SOCK_DGRAM)
            addresses = sorted({info[4][0] for info in infos})
        except OSError as exc:
            log.warning("cannot resolve sip.server %r (%s): only sip.trusted_sources may ring the bot",
                        s.server, exc)
    return TrustedSources.for_settings(s.register, addresses, s.port, s.trusted_sources)


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
