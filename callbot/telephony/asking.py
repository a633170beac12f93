"""What the bot asks on its own: OPTIONS pings (the registrar keepalive) and which responses
belong to a request of the bot's (the rest are dropped, never ACKed).

A mixin of :class:`callbot.telephony.client.SupervisedSIPClient`.
"""

from __future__ import annotations

import threading
import time

from callbot.telephony.transactions import T1, T2


class Asking:
    """OPTIONS pings without holding the receive lock; the receive loop hands their answers in."""

    _pings: "dict[str, list] | None" = None

    def _expects_response(self, message, call_id: str) -> bool:
        """Is this response for a request the bot sent (REGISTER, REFER, BYE, OPTIONS …)?"""
        cseq = message.headers.get("CSeq", {})
        method = cseq.get("method") if isinstance(cseq, dict) else None
        if method == "INVITE":
            return False  # the bot never sends INVITE; the demo caller has its own sockets
        if call_id in (self._transfers or {}):
            return True
        phone = getattr(self, "phone", None)
        has_call = getattr(phone, "has_call_id", None)
        return method in ("REGISTER", "OPTIONS", "SUBSCRIBE", "NOTIFY") or bool(has_call and has_call(call_id))

    def ping(self, target: tuple[str, int], uri: str | None = None, timeout: float = 4.0) -> int | None:
        """One OPTIONS to ``target`` (retransmitted at T1, 2·T1, … over UDP, once over TCP/TLS); its final status, or
        None when nothing answered within ``timeout``. Holds no lock: the receive loop takes the
        answer (parse_message), so calls go on while the bot waits."""
        call_id = self.gen_call_id()
        if uri is None:
            uri = f"sip:{target[0]}:{target[1]}" if ":" not in target[0] else f"sip:[{target[0]}]:{target[1]}"
        request = self._build_options_request(uri, call_id=call_id, local_tag=self.gen_tag(),
                                              branch=self.gen_branch()).encode("utf8")
        waiter = [threading.Event(), None]
        if self._pings is None:
            self._pings = {}
        self._pings[call_id] = waiter
        try:
            deadline = time.monotonic() + timeout
            interval = T1 if not self.reliable else timeout  # TCP/TLS: sent once (RFC 3261 §17.1.2.2)
            while True:
                self.send_raw(request, target)
                left = deadline - time.monotonic()
                if left <= 0 or waiter[0].wait(min(interval, left)):
                    break
                interval = min(interval * 2, T2)
            return waiter[1]
        finally:
            self._pings.pop(call_id, None)
