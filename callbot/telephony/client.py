"""rfcvoip's SIP client and phone, patched: every workaround for a measured upstream defect.

Each workaround is marked ``WORKAROUND`` with the upstream file:line it answers and
is exercised by a test (tests/test_sip_adapter.py, tests/test_integration_sip.py).
Only the telephony package imports rfcvoip; no rfcvoip type leaves it.
"""

from __future__ import annotations

import logging
import re
import select
import ssl
import threading
import time
from dataclasses import dataclass

from callbot.telephony import library  # noqa: F401  (the module-level workarounds, first)
from callbot.telephony.library import supported_codecs
from rfcvoip import SIP
from rfcvoip.VoIP.VoIP import CallState, InvalidStateError, VoIPCall, VoIPPhone
from rfcvoip.VoIP.status import PhoneStatus
from rfcvoip.SIPTransport import SIPFramingError
from rfcvoip.util import acquired_lock_and_unblocked_socket

from callbot.telephony.asking import Asking
from callbot.telephony.holding import HoldAwareCall
from callbot.telephony.offer import filter_offer, finish_answer
from callbot.telephony.stream import StreamFlow
from callbot.telephony.routes import insert_after_via, record_routes, route_hop, tel_to_sip, with_user_agent
from callbot.telephony.transactions import T1, T2, Transactions, status_of
from callbot.telephony.validate import bad_request, check_request, is_request

__all__ = ["SIP", "CallState", "InvalidStateError", "Phone", "PhoneStatus", "SupervisedSIPClient", "Transfer",
           "VoIPCall"]

log = logging.getLogger("callbot.telephony")

#: How long one REGISTER transaction may wait for its final answer (seconds).
REGISTER_TRANSACTION_TIMEOUT = 4.0
#: The receive loop's longest wait in select() before it looks at the stop flag again (seconds).
RECV_WAIT = 0.05
_CONTENT_LENGTH_LINE = re.compile(rb"\r\n(?:Content-Length|l)[ \t]*:[ \t]*\d+", re.IGNORECASE)




@dataclass
class Transfer:
    """A REFER in flight: its answer (202/4xx) and the NOTIFY reports of the new call."""

    call_id: str
    cseq: int
    answered: threading.Event
    done: threading.Event
    status: int | None = None          # response to the REFER
    final_status: int | None = None    # status line of the last sipfrag NOTIFY


class SupervisedSIPClient(StreamFlow, Asking, SIP.SIPClient):
    """rfcvoip's SIP client with registration taken over by :class:`Registrar`."""

    last_register_response: "SIP.SIPMessage | None" = None
    #: sip.user_agent: written into every request (User-Agent) and response (Server); "" = none.
    user_agent: str = "callbot"
    #: sip.media_encryption as it applies (offer.py): "off" unless the signalling is TLS.
    srtp_mode: str = "off"
    _transfers: "dict[str, Transfer] | None" = None

    # WORKAROUND rfcvoip sends no REFER (it answers one with 501): callbot's
    # blind transfer (RFC 3515) builds the in-dialog REFER from the BYE the
    # library would send (same dialog headers, route set, next CSeq), and
    # takes the 202 and the NOTIFY progress reports (message/sipfrag) itself.
    def send_refer(self, request, refer_to: str, referred_by: str) -> Transfer:
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
        transfer = Transfer(str(request.headers["Call-ID"]), cseq, threading.Event(), threading.Event())
        if self._transfers is None:
            self._transfers = {}
        self._transfers[transfer.call_id] = transfer
        self.send_raw("\r\n".join(lines).encode("utf8"), self.dialog_target(request))
        return transfer

    #: Judges new requests before the library sees them (set by the endpoint; see gatekeeper.py).
    gatekeeper = None
    #: RFC 3261 transaction state (set by the endpoint; see transactions.py).
    transactions: "Transactions | None" = None
    #: Call-ID -> who wants the final answer to the bot's BYE in that call.
    bye_listeners: "dict[str, object] | None" = None
    def parse_message(self, message) -> None:
        call_id = str(message.headers.get("Call-ID", ""))
        tx = self.transactions
        raw = bytes(getattr(message, "raw", b"") or b"")
        if tx is not None and message.type != SIP.SIPMessageType.RESPONSE:
            again = tx.request_received(raw)
            if again is not None:  # a retransmission: the same answer, nothing else happens
                SIP.SIPClient.send_raw(self, *again)
                return
        elif tx is not None:
            tx.response_received(raw)
        if message.type == SIP.SIPMessageType.RESPONSE:
            ping = (self._pings or {}).get(call_id)
            if ping is not None:
                if int(message.status) >= 200:
                    ping[1] = int(message.status)
                    ping[0].set()
                return
            if not self._expects_response(message, call_id):
                # WORKAROUND VoIP.py:2160-2173: a 200 OK to no transaction of ours was ACKed
                # to whatever Contact it named (a reflection vector). Drop it.
                log.debug("dropped a response that matches no request of the bot: %s", message.heading)
                return
        elif self.gatekeeper is not None and self.gatekeeper.handle(
                self, message, getattr(message, "source_address", None)):
            return
        transfer = (self._transfers or {}).get(call_id)
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
    # register(): here it does nothing; Registrar drives REGISTER instead.
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

    # WORKAROUND SIP.py _send_register_request: a REGISTER is sent once and never again (RFC 3261
    # timer E is missing), so one lost datagram cost a 4 s timeout and a "registration lost".
    # Resend it at T1, 2·T1 … (capped at T2) until an answer or REGISTER_TRANSACTION_TIMEOUT.
    def _send_register_request(self, request: str, *, action: str):
        data, target = request.encode("utf8"), self.signal_target()
        deadline = time.monotonic() + REGISTER_TRANSACTION_TIMEOUT
        interval = T1 if not self.reliable else REGISTER_TRANSACTION_TIMEOUT  # TCP/TLS: sent once
        self.send_raw(data, target)
        try:
            while True:
                self.register_timeout = max(0.01, min(interval, deadline - time.monotonic()))
                try:
                    response = self._wait_for_transaction_response(request, action=action)
                except TimeoutError:
                    if time.monotonic() >= deadline or self.reliable:
                        raise
                    self.send_raw(data, target)
                    interval = min(interval * 2, T2)
                    continue
                self.last_register_response = response
                return response
        finally:
            self.register_timeout = REGISTER_TRANSACTION_TIMEOUT

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
        answer = insert_after_via(super().gen_answer(request, *args, **kwargs), routes)
        return finish_answer(answer, getattr(request, "disabled_streams", ()), getattr(request, "srtp_local", None))

    def gen_bye(self, request):
        routes = [f"Route: {r}" for r in record_routes(request.raw)]
        return insert_after_via(super().gen_bye(request), routes)

    def dialog_target(self, request):
        routes = record_routes(request.raw)
        hop = route_hop(routes[0]) if routes else None
        return hop or super().dialog_target(request)

    # WORKAROUND SIP.py:2194, 2475, 3084, 3497 …: every message carries
    # "User-Agent: rfcvoip <version>" whatever the application says (sip.user_agent
    # was ignored, and a scanner read the library and its version). All sending
    # goes through send_raw(): put the configured name there instead.
    #
    # Every message the bot sends also passes the transaction layer: responses are remembered
    # (retransmissions of the request get them again; a 2xx to INVITE is retransmitted until
    # the ACK), the bot's BYE and REFER are retransmitted until answered (transactions.py).
    def send_raw(self, data: bytes, target=None) -> None:
        data = with_user_agent(data, self.user_agent)
        target = target or self.signal_target()
        tx = self.transactions
        if tx is not None and (data[:4] == b"BYE " or data[:6] == b"REFER "):
            call_id = _call_id_of(data)

            def final(status, call_id=call_id, bye=data[:4] == b"BYE "):
                self._request_final(call_id, bye, status)

            if data[:4] == b"BYE " and tx.hold_until_acked(data, target, final):
                return  # sent when the caller's ACK comes (RFC 3261 §15)
            super().send_raw(data, target)
            tx.request_sent(data, target, final)
            return
        super().send_raw(data, target)
        if tx is not None and status_of(data) is not None:
            tx.response_sent(data, target)

    def send_once(self, data: bytes, target) -> None:
        """Send past the transaction layer: not remembered, never retransmitted."""
        super().send_raw(with_user_agent(data, self.user_agent), target)

    def _request_final(self, call_id: str, bye: bool, status: int | None) -> None:
        if bye:
            listener = (self.bye_listeners or {}).pop(call_id, None)
            if listener is not None:
                listener(status)
        elif status is None:  # REFER never answered (timer F): the transfer gives up
            transfer = (self._transfers or {}).get(call_id)
            if transfer is not None:
                transfer.answered.set()
                transfer.done.set()

    def retransmit(self) -> None:
        """Send what the transaction timers say is due (the endpoint's timer thread)."""
        tx = self.transactions
        if tx is None or not self.NSD:
            return
        for data, target in tx.tick():
            try:
                SIP.SIPClient.send_raw(self, data, target)
            except (OSError, RuntimeError) as exc:  # RuntimeError: a TCP/TLS connection being reopened
                log.debug("retransmission to %s failed: %s", target, exc)

    # WORKAROUND SIP.py:3108-3111: start() runs the receive loop only after a
    # 1 s sleep, so an INVITE in the first second after start waits (and the
    # caller retransmits). Receive at once.
    def _delayed_recv_loop(self, delay: float = 0.0) -> None:
        self.recv_loop()

    # WORKAROUND SIP.py:3091-3106: the receive loop polls a non-blocking socket
    # and sleeps 10 ms whenever nothing is waiting, so every SIP message waits
    # 0-10 ms before it is read (INVITE→200 p50 8 ms at 1 call, p99 up to 34 ms
    # at 20; bench/sip_bench.py). Wait in select() for the socket instead:
    # measured p50 4 ms at 1 call, p99 9.6 ms at 20, and less idle CPU.
    # Over TCP/TLS (stream.py) a closed connection is reported once and not read again until the
    # registrar thread reconnected; a message already buffered is read without waiting.
    def recv_loop(self) -> None:
        while self.NSD:
            sock = getattr(self, "s", None)
            if sock is None:
                break
            down = self.stream_down
            if down is not None and down.is_set():
                time.sleep(RECV_WAIT)
                continue
            try:
                if down is None or not self._buffered(sock):
                    select.select([sock], [], [], RECV_WAIT)
                with acquired_lock_and_unblocked_socket(self.recvLock, sock):
                    self.recv()
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                continue
            except SIPFramingError as exc:  # RFC 3261 §18.3: a stream that lost its framing is closed
                self._stream_failed(exc)
            except (OSError, ValueError) as exc:  # the socket closed under us (stop, or the registrar)
                if not self.NSD:
                    break
                if down is not None and sock is self.s:
                    self._stream_failed(exc)
                time.sleep(0.01)

    # WORKAROUND SIP.py:3091-3106/3113-3159: recv_loop() catches only
    # BlockingIOError and OSError, so one malformed request that parses but
    # lacks a header (e.g. a BYE without From -> KeyError in gen_response)
    # kills the receive thread and the bot goes deaf. Drop such a datagram.
    # RFC 3261 §8.2 / RFC 4475: a malformed request gets 400 (416, 505) from validate.py before the
    # library parses it (the library dropped most of them silently, or let them become calls).
    def _refuse_malformed(self, raw: bytes, status: int, reason: str) -> None:
        source = getattr(self.connection, "last_recv_address", None)
        if self.gatekeeper is not None:
            self.gatekeeper.count_malformed(source, reason)
        answer = bad_request(raw, status, reason)
        if answer is not None and source is not None:
            self.send_once(answer, source)  # a malformed request opens no transaction

    def recv(self) -> None:
        try:
            super().recv()
        except (BlockingIOError, OSError):
            raise
        except Exception as exc:
            log.warning("dropped an unprocessable SIP message: %s: %s", type(exc).__name__, exc)

    # WORKAROUND VoIP.py:1913-1947, 954-1006: the library answers any codec it has a module
    # for — Opus when libopus is installed (garbled both ways: a 48 kHz clock handled as 8 kHz),
    # its untested wideband G.711 variants — and refuses audio+video offers. The library sees
    # the offer cut down to the caller's first of G.722/PCMU/PCMA (+ telephone-event), plain
    # RTP/AVP without SRTP keys, and no other m= section; gen_answer() puts the refused sections
    # back with port 0 and makes an SRTP answer RTP/SAVP with the bot's key (offer.py, srtp.py).
    def _message_from_raw(self, raw: bytes):
        if is_request(raw):
            problem = check_request(raw)
            if problem is not None:
                self._refuse_malformed(raw, *problem)
                raise SIP.SIPParseError(f"refused a malformed request: {problem[1]}")
        seen = raw
        disabled, keys = (), (None, None)
        if raw[:7].upper() == b"INVITE ":
            head, sep, body = raw.partition(b"\r\n\r\n")
            if body.strip():
                filtered = filter_offer(body, supported_codecs(), self.srtp_mode)
                keys = filtered.remote_key, filtered.local_key
                if filtered.body != body:
                    head = _CONTENT_LENGTH_LINE.sub(b"\r\nContent-Length: " + str(len(filtered.body)).encode(), head)
                    seen, disabled = head + sep + filtered.body, filtered.disabled
        try:
            message = super()._message_from_raw(seen)
        except SIP.SIPParseError:
            fixed = tel_to_sip(seen)
            if fixed == seen:
                raise
            message = super()._message_from_raw(fixed)
        message.raw = raw  # callbot reads the caller from the original bytes
        message.disabled_streams = disabled
        message.srtp_remote, message.srtp_local = keys  # SRTP keys (srtp.py): never seen by the library
        return message


def _call_id_of(message: bytes) -> str:
    match = re.search(rb"^(?:Call-ID|i)[ \t]*:[ \t]*(\S+)", message, re.IGNORECASE | re.MULTILINE)
    return match.group(1).decode("utf-8", "replace") if match else ""


class Phone(VoIPPhone):
    """VoIPPhone without the fixed answer delay, with a supervised SIP client."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The library constructs SIP.SIPClient itself; switch the instance to
        # our subclass (same layout, only overridden methods).
        self.sip.__class__ = SupervisedSIPClient
        self.sip.register_timeout = REGISTER_TRANSACTION_TIMEOUT

    # WORKAROUND VoIP/VoIP.py:1535-1541: _run_call_callback sleeps 1.0 s before
    # the application's callback, so INVITE->200 OK takes ~1014 ms as shipped.
    # We run the callback at once; ringing time is the application's choice
    # (config sip.answer_delay).
    @staticmethod
    def _run_call_callback(callback, call, delay: float = 0.0) -> None:
        VoIPPhone._run_call_callback(callback, call, 0.0)

    def _create_Call(self, request, sess_id: int) -> None:
        call = HoldAwareCall(self, CallState.RINGING, request, sess_id, self.myIP, sendmode=self.recvmode)
        call.secure_media(request)
        self._set_call(request.headers["Call-ID"], call)
