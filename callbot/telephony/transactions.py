"""RFC 3261 §17 transactions over UDP, as far as a UAS that sends BYE and REFER needs them.

The SIP library has no transaction layer: it never retransmits a 2xx until the ACK comes,
answers a retransmitted INVITE with silence (while ringing) or a second negotiation, and
forgets a BYE it sent. This module keeps the state the library lacks, as plain values and a
clock passed in — no sockets, no threads (the endpoint's timer thread calls :meth:`tick`
and sends what it returns; the SIP client feeds it every message in and out):

* **server side** — every response the bot sends is remembered per request (Call-ID, CSeq,
  method, top Via branch) for ``64·T1``; a retransmitted request gets the last response
  again and goes no further (never a second call, never a second row). That covers a
  retransmitted INVITE while ringing (the 180 again), after the final answer, and a
  retransmitted BYE after the call is gone (its 200 again, not 481).
* **2xx to INVITE** (RFC 6026 "Accepted") — retransmitted at T1, 2·T1 … capped at T2 until
  the ACK (same Call-ID and CSeq number) arrives; after ``64·T1`` without ACK the
  ``on_no_ack`` callback ends the call (the endpoint sends BYE and logs it). A refusal
  (3xx-6xx: 486, 488 …) is retransmitted the same way until its ACK (timer G, given up at
  timer H). A ``403`` to a stranger is not sent through here (no echo to a forged address).
* **client side, non-INVITE** (BYE, REFER; timers E and F) — retransmitted at T1 doubling
  to T2 until a final response; ``on_final(status)`` reports the final status, or None
  when timer F (``64·T1``) fired, so a BYE that failed is logged as that failure.
* **no BYE before the ACK** (RFC 3261 §15) — a BYE for a call whose 2xx is still waiting for
  its ACK is held and goes out when the ACK arrives (or the 2xx gives up): under packet
  loss the caller may not have the 200 yet, and a BYE first kills its call setup.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

T1 = 0.5
T2 = 4.0
TIMEOUT = 64 * T1  # timers B, F, H, J: 32 s
_NEVER = float("inf")

Target = tuple[str, int]
_HEADER = re.compile(rb"^(via|v|call-id|i|cseq)[ \t]*:[ \t]*(.*?)[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
_BRANCH = re.compile(rb";\s*branch=([^;,\s]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Key:
    """What identifies a request's transaction: Call-ID, CSeq number, method, top Via branch."""

    call_id: str
    cseq: int
    method: str
    branch: str


def parse_key(message: bytes) -> Key | None:
    """The transaction key of a request or response (None when the headers are broken)."""
    head = message.split(b"\r\n\r\n", 1)[0]
    call_id = cseq_line = via = None
    for name, value in _HEADER.findall(head):
        name = name.lower()
        if name in (b"call-id", b"i") and call_id is None:
            call_id = value.decode("utf-8", "replace")
        elif name == b"cseq" and cseq_line is None:
            cseq_line = value
        elif name in (b"via", b"v") and via is None:
            via = value.split(b",", 1)[0]
    if call_id is None or cseq_line is None:
        return None
    parts = cseq_line.split()
    if len(parts) != 2 or not parts[0].isdigit():
        return None
    branch = _BRANCH.search(via or b"")
    return Key(call_id, int(parts[0]), parts[1].decode("ascii", "replace").upper(),
               branch.group(1).decode("ascii", "replace") if branch else "")


def status_of(message: bytes) -> int | None:
    if not message.startswith(b"SIP/2.0 "):
        return None
    code = message[8:11]
    return int(code) if code.isdigit() else None


@dataclass
class _Answered:
    """A request the bot answered: its last response, and (2xx to INVITE) the retransmission state."""

    response: bytes
    target: Target
    expires: float
    retransmit_at: float | None = None   # final answer to INVITE: the next retransmission
    interval: float = T1
    give_up_at: float | None = None      # final answer to INVITE: 64·T1 after the first send
    accepted: bool = False               # a 2xx (no ACK in time ends the call) or a refusal


@dataclass
class _Sent:
    """A non-INVITE request of the bot's (BYE, REFER) waiting for its final response."""

    request: bytes
    target: Target
    retransmit_at: float
    give_up_at: float
    on_final: Callable[[int | None], None]
    interval: float = T1


@dataclass
class Transactions:
    """The transaction state of one SIP endpoint (see the module docstring).

    Safe to call from several threads; callbacks run after the state was updated, outside
    the lock (a callback may send, which calls back in here)."""

    clock: Callable[[], float]
    on_no_ack: Callable[[str], None] = lambda call_id: None
    #: TCP/TLS: requests and non-2xx answers are sent once, timers E and G do not run (RFC 3261
    #: §17.1.2.2, §17.2.1); the 2xx to an INVITE is still repeated until the ACK (§13.3.1.4).
    reliable: bool = False
    _answered: dict[Key, _Answered] = field(default_factory=dict)
    _sent: dict[Key, _Sent] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what the bot sends --------------------------------------------------------
    def response_sent(self, response: bytes, target: Target) -> None:
        """Remember a response (called for every response the bot sends)."""
        key, status = parse_key(response), status_of(response)
        if key is None or status is None:
            return
        now = self.clock()
        entry = _Answered(response, target, now + TIMEOUT)
        if key.method == "INVITE" and status >= 200:  # 2xx: RFC 6026; 3xx-6xx: timer G until the ACK
            entry.retransmit_at, entry.give_up_at = now + T1, now + TIMEOUT
            entry.accepted = status < 300
            if self.reliable and not entry.accepted:
                entry.retransmit_at = None
        with self._lock:
            self._answered[key] = entry

    def hold_until_acked(self, request: bytes, target: Target, on_final: Callable[[int | None], None]) -> bool:
        """A BYE in a call whose 2xx is not ACKed yet: kept (True) and sent when the ACK comes."""
        key = parse_key(request)
        if key is None:
            return False
        with self._lock:
            if not any(k.call_id == key.call_id and k.method == "INVITE" and e.accepted and e.give_up_at is not None
                       for k, e in self._answered.items()):
                return False
            self._sent[key] = _Sent(request, target, _NEVER, _NEVER, on_final)
        return True

    def _release(self, call_id: str, now: float) -> None:
        """Send the requests held for ``call_id``'s ACK now (called with the lock held)."""
        for key, sent in self._sent.items():
            if key.call_id == call_id and sent.give_up_at == _NEVER:
                sent.retransmit_at, sent.give_up_at, sent.interval = now, now + TIMEOUT, T1 / 2

    def request_sent(self, request: bytes, target: Target, on_final: Callable[[int | None], None]) -> None:
        """Start a non-INVITE client transaction (BYE, REFER …): retransmitted until answered."""
        key = parse_key(request)
        if key is None:
            on_final(None)
            return
        now = self.clock()
        with self._lock:
            self._sent[key] = _Sent(request, target, _NEVER if self.reliable else now + T1, now + TIMEOUT, on_final)

    # -- what arrives --------------------------------------------------------------
    def request_received(self, request: bytes) -> tuple[bytes, Target] | None:
        """A retransmission of a request already answered → (the response to send again, where);
        an ACK → None after ending the 2xx retransmissions it confirms; otherwise None."""
        key = parse_key(request)
        if key is None:
            return None
        with self._lock:
            if key.method == "ACK":
                for k, entry in self._answered.items():
                    if k.call_id == key.call_id and k.cseq == key.cseq and k.method == "INVITE":
                        entry.retransmit_at = entry.give_up_at = None
                self._release(key.call_id, self.clock())
                return None
            entry = self._answered.get(key)
            return (entry.response, entry.target) if entry is not None else None

    def response_received(self, response: bytes) -> bool:
        """A response to one of the bot's own non-INVITE requests: True when it was one (the
        final one ends the transaction and is reported; provisional ones stop nothing)."""
        key, status = parse_key(response), status_of(response)
        if key is None or status is None:
            return False
        with self._lock:
            sent = self._sent.get(key)
            if sent is None:
                return False
            if status >= 200:
                del self._sent[key]
            else:
                sent.retransmit_at = max(sent.retransmit_at, self.clock() + T2)  # timer E: T2 once proceeding
        if status >= 200:
            sent.on_final(status)
        return True

    # -- the clock -----------------------------------------------------------------
    def tick(self) -> list[tuple[bytes, Target]]:
        """What to retransmit now; fires the timeouts (on_no_ack, on_final(None))."""
        now = self.clock()
        out: list[tuple[bytes, Target]] = []
        fired: list[Callable[[], None]] = []
        with self._lock:
            for key, entry in list(self._answered.items()):
                if entry.give_up_at is not None and now >= entry.give_up_at:
                    entry.retransmit_at = entry.give_up_at = None
                    if entry.accepted:
                        self._release(key.call_id, now)
                        fired.append(lambda call_id=key.call_id: self.on_no_ack(call_id))
                elif entry.retransmit_at is not None and now >= entry.retransmit_at:
                    out.append((entry.response, entry.target))
                    entry.interval = min(entry.interval * 2, T2)
                    entry.retransmit_at = now + entry.interval
                if entry.give_up_at is None and now >= entry.expires:
                    del self._answered[key]
            for key, sent in list(self._sent.items()):
                if now >= sent.give_up_at:
                    del self._sent[key]
                    fired.append(lambda sent=sent: sent.on_final(None))
                elif now >= sent.retransmit_at:
                    out.append((sent.request, sent.target))
                    sent.interval = min(sent.interval * 2, T2)
                    sent.retransmit_at = _NEVER if self.reliable else now + sent.interval
        for callback in fired:
            callback()
        return out

    def status_for(self, request: bytes) -> int | None:
        """The status of the last response the bot sent to ``request`` (None: none yet)."""
        key = parse_key(request)
        with self._lock:
            entry = self._answered.get(key) if key is not None else None
        return status_of(entry.response) if entry is not None else None

    def pending(self) -> int:
        """Transactions still waiting (2xx without ACK, own requests without a final answer)."""
        with self._lock:
            return sum(1 for e in self._answered.values() if e.give_up_at is not None) + len(self._sent)
