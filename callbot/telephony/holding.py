"""Hold and resume (re-INVITEs that change the direction of the call's audio) and key presses
(RFC 4733 telephone-events) of one call.

Imported by :mod:`callbot.telephony.client`, which creates every inbound call as a
:class:`HoldAwareCall`.
"""

from __future__ import annotations

from rfcvoip import SIP
from rfcvoip.VoIP.VoIP import VoIPCall


class HoldAwareCall(VoIPCall):
    """A call whose re-INVITEs put it on hold and take it off again.

    WORKAROUND VoIP.py:1015-1061: renegotiate() narrows the answer from the call's LAST
    direction instead of what the bot wants, so after a hold (``sendonly`` → the bot answers
    ``recvonly``) the resume (``sendrecv``) was answered ``recvonly`` again and the bot never
    sent another packet. Each offer is answered from ``sendrecv``; ``on_direction(direction)``
    hears every change (the call layer pauses its prompt and logs hold / resume)."""

    on_direction = None
    #: ``on_dtmf(digit)`` for each RFC 4733 telephone-event the caller sends (one per key press).
    on_dtmf = None

    def dtmf_callback(self, code: str) -> None:
        super().dtmf_callback(code)
        listener = self.on_dtmf
        if listener is not None:
            listener(code)

    #: The call's SRTP sessions (srtp.py), None for plain RTP.
    srtp = None

    def secure_media(self, request) -> None:
        """SRTP: protect what the call's RTP clients send, authenticate and decrypt what they
        receive, with the keys of ``request``'s offer and the bot's answer (none: plain RTP)."""
        remote, local = getattr(request, "srtp_remote", None), getattr(request, "srtp_local", None)
        if remote is None or local is None:
            return
        from callbot.telephony.srtp import SrtpMedia

        self.srtp = SrtpMedia(remote, local)
        for client in self._rtp_clients_snapshot():
            self.srtp.attach(client)

    def _refuse_reoffer(self, request) -> bool:
        """A re-INVITE may not switch an SRTP call to plain RTP or back (nor offer plain RTP while
        sip.media_encryption = required): 488, the call goes on as it was (RFC 3264 §8)."""
        offered = getattr(request, "srtp_remote", None) is not None
        if offered == (self.srtp is not None) and (offered or self.sip.srtp_mode != "required"):
            if offered:  # the bot keeps its key; the answer says so
                request.srtp_local = self.srtp.local
            return False
        self.sip.send_response(request, self.sip.gen_response(request, SIP.SIPStatus.NOT_ACCEPTABLE_HERE))
        return True

    def renegotiate(self, request) -> None:
        if self._refuse_reoffer(request):
            return
        before = _direction(self.sendmode)
        self.sendmode = self.phone.recvmode  # what the bot wants; the offer narrows it
        super().renegotiate(request)
        tx = getattr(self.sip, "transactions", None)
        if self.srtp is not None and (tx is None or tx.status_for(request.raw) == 200):
            self.srtp.rekey(request.srtp_remote)  # only once the new offer was accepted
        after = _direction(self.sendmode)
        listener = self.on_direction
        if after != before and listener is not None:
            listener(after)

    @property
    def direction(self) -> str:
        """sendrecv, recvonly (the caller holds the call), sendonly or inactive."""
        return _direction(self.sendmode)


def _direction(value) -> str:
    return str(getattr(value, "value", value))
