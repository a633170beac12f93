"""The door: every new request is judged here on the receive thread, before the library rings.

:class:`Gatekeeper` applies the rules of :mod:`callbot.telephony.gate` and
:mod:`callbot.telephony.offer` to each request that would start something (an INVITE
without a To-tag, OPTIONS, anything else out of dialog):

==========================================  ======================================  ==========
what                                        answer                                  trace
==========================================  ======================================  ==========
new INVITE/OPTIONS from an untrusted source  INVITE ``403`` (same for every user),   counted
                                            OPTIONS and the rest: no answer
more than ``sip.invite_rate`` INVITEs/s      ``503`` + ``Retry-After``               counted
from one address
``sip.max_calls`` calls already up           ``486 Busy Here``                       row*
offer the bot cannot take (offer.py)         ``488 Not Acceptable Here``             row*
no free RTP port                             ``486 Busy Here``                       row*
OPTIONS from a trusted source                ``200`` without SDP, no codecs          —
==========================================  ======================================  ==========

\\* a row with outcome ``refused`` and the reason, through ``on_refused``; beyond ten rows per
reason and minute (a flood) only counted. Counted means: the first of each reason in a
minute is logged at warning level with its source, then one summary line per minute.
Nothing here starts a thread or waits. A retransmitted INVITE never gets here twice: the
transaction layer (transactions.py) answers it with the refusal already sent, so no second row. A busy bot answers ``486`` (the PBX moves on: voicemail, another phone),
not ``503``, which a proxy turns into ``500`` and may take as "this server is down".
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from callbot.telephony.client import SIP
from callbot.telephony.gate import RateLimit, Tally, TrustedSources
from callbot.telephony.library import supported_codecs
from callbot.telephony.offer import judge_offer

log = logging.getLogger("callbot.telephony")

#: Retry-After (seconds) on a 503.
RETRY_AFTER = 5

#: (raw INVITE, status, reason) -> None; queues the refused call's row.
OnRefused = Callable[[bytes, int, str], None]


def _header(message, name: str) -> str:
    value = message.headers.get(name)
    if isinstance(value, dict):
        return str(value.get("raw", ""))
    return str(value or "")


class Gatekeeper:
    """Judges new requests (see the module docstring); ``handle`` returns True when it answered."""

    def __init__(self, trusted: TrustedSources, *, max_calls: int, invite_rate: float,
                 calls_up: Callable[[], int], ports_free: Callable[[], bool],
                 on_refused: OnRefused | None = None, clock: Callable[[], float] = time.monotonic,
                 srtp: str = "off"):
        self.trusted = trusted
        self.srtp = srtp  # sip.media_encryption as it applies (offer.py)
        self.max_calls = max_calls
        self.rate = RateLimit(invite_rate)
        self.tally = Tally()
        self._calls_up = calls_up
        self._ports_free = ports_free
        self.on_refused = on_refused
        self._clock = clock

    # -- on the receive thread ---------------------------------------------------------
    def handle(self, client, message, source: tuple[str, int] | None) -> bool:
        """Answer ``message`` here (True) or let the library go on (False)."""
        if message.type != SIP.SIPMessageType.MESSAGE:
            return False
        method = message.method
        if method in ("ACK", "BYE", "CANCEL"):
            return False  # in a dialog or transaction; the library matches them by Call-ID
        in_dialog = bool((message.headers.get("To") or {}).get("tag")) if isinstance(
            message.headers.get("To"), dict) else False
        if in_dialog:
            return False
        address, port = source or ("", 0)
        if not self.trusted.allows(address, port):
            self._count("untrusted source", address, port)
            if method == "INVITE":
                self._answer(client, message, 403)
            return True
        if method == "OPTIONS":
            self._answer(client, message, 200)
            return True
        if method != "INVITE":
            return False
        if not self.rate.allow(address, self._clock()):
            self._count("over sip.invite_rate", address, port)
            self._refuse(client, message, 503, None)
            return True
        status, reason = self._judge(message)
        if status is None:
            return False
        counted = self._count(reason.split(":", 1)[0], address, port, detail=reason)
        self._refuse(client, message, status, reason if counted else None)
        return True

    def _judge(self, message) -> tuple[int | None, str]:
        if self._calls_up() >= self.max_calls:
            return 486, f"over sip.max_calls: {self.max_calls} calls are up"
        raw = bytes(getattr(message, "raw", b"") or b"")
        body = raw.partition(b"\r\n\r\n")[2]
        verdict = judge_offer(_header(message, "Content-Type") or None, body, supported_codecs(), self.srtp)
        if not verdict.accepted:
            return verdict.status, verdict.reason
        if not self._ports_free():
            return 486, "no free RTP port in sip.rtp_port_min..rtp_port_max"
        return None, verdict.reason

    def _refuse(self, client, message, status: int, row_reason: str | None) -> None:
        extra = [f"Retry-After: {RETRY_AFTER}\r\n"] if status == 503 else []
        response = client._build_response(message, SIP.SIPStatus(status), extra_headers=extra)
        if status == 503:  # a flood: one answer per request, never retransmitted (no amplification)
            client.send_once(response.encode("utf8"), client.response_target(message))
        else:  # a refusal with a row: retransmitted until the caller's ACK (timer G)
            client.send_raw(response.encode("utf8"), client.response_target(message))
        if row_reason is not None and self.on_refused is not None:
            try:
                self.on_refused(bytes(getattr(message, "raw", b"") or b""), status, row_reason)
            except Exception:
                log.exception("could not queue the row of a refused INVITE")

    def _answer(self, client, message, status: int) -> None:
        """A stranger's answer (403) or the bare 200 to OPTIONS: sent once, remembered nowhere (a
        forged source gets one datagram, never a retransmission)."""
        try:
            response = client._build_response(message, SIP.SIPStatus(status))
            client.send_once(response.encode("utf8"), client.response_target(message))
        except Exception as exc:  # a request too broken to answer: counted above, dropped
            log.debug("could not answer %s: %s", message.method, exc)

    def _count(self, reason: str, address: str, port: int, detail: str | None = None) -> bool:
        """Count a refusal; log the first of its minute; True while rows may be written."""
        counted = self.tally.count(reason, self._clock())
        if counted.log_now:
            log.warning("refused a request from %s:%s: %s (further ones are counted, one line a minute)",
                        address, port, detail or reason)
        return counted.row

    def count_malformed(self, source: tuple[str, int] | None, reason: str) -> None:
        """A request validate.py refused (400/416/505): counted like the other refusals, no row."""
        address, port = source or ("", 0)
        self._count("malformed request", address, port, detail=f"malformed request: {reason}")

    # -- on a timer ---------------------------------------------------------------------
    def report(self) -> None:
        """The summary lines that are due (one per reason and minute)."""
        for reason, count in self.tally.due(self._clock()):
            log.warning("refused %d more request(s) in the last minute: %s", count, reason)
