"""The ports of the call layer: what a call, a clock and a recognizer must offer.

The call layer is written against these protocols only. A real SIP call
(:class:`callbot.telephony.call.IncomingCall`) and the test doubles in
``tests/fakes.py`` both satisfy them, so the same handler and conversation run
in unit tests (fake call, fake clock) and in integration tests (real SIP).
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from typing import Protocol


class CallIO(Protocol):
    """What a conversation needs from a call: 20 ms PCM frames in and out.

    ``sample_rate`` is the rate of those frames, fixed for the call by the codec it was
    answered with: 8000 (G.711, 320-byte frames) or 16000 (G.722, 640-byte frames).
    """

    sample_rate: int

    @property
    def active(self) -> bool: ...

    def read_frame(self) -> bytes | None:
        """Next 20 ms of caller audio; never blocks; None when the call is down."""

    def write_frame(self, frame: bytes) -> None:
        """Queue 20 ms of audio for the caller."""

    def hangup(self) -> None: ...


class TransferReport(Protocol):
    """How a blind transfer went (the telephony adapter's TransferResult)."""

    @property
    def succeeded(self) -> bool: ...

    def describe(self) -> str: ...


class InboundCall(CallIO, Protocol):
    """One inbound call from INVITE to the end, as the handler drives it."""

    raw_invite: bytes          # the INVITE as received (headers name the caller)
    sip_call_id: str
    received_at: float         # time.monotonic() when the INVITE arrived

    @property
    def ringing(self) -> bool: ...

    @property
    def cancelled(self) -> bool:
        """The caller gave up (CANCEL) before the bot answered."""

    @property
    def ended_by(self) -> str | None:
        """'bot', 'caller', 'cancel', 'transfer', 'rtp_timeout', 'max_duration'; None while up."""

    def answer(self) -> None: ...

    def reject(self, status: int) -> None:
        """Refuse the ringing call with a final status, never answering."""

    def transfer(self, target: str, timeout: float = 10.0) -> TransferReport: ...


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep_until(self, deadline: float) -> None: ...


class MonotonicClock:
    """Real time: absolute deadlines on ``time.monotonic`` (no drift from relative sleeps)."""

    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class TurnStream(Protocol):
    """Recognition of one caller turn: feed audio while it is spoken, then finish."""

    def feed(self, pcm: bytes) -> None: ...

    def finish(self) -> Future:
        """Future of the turn's transcript (an object with ``text`` and ``confidence``)."""

    def cancel(self) -> None: ...


class Recognizer(Protocol):
    def stream(self, rate: int = 8000) -> TurnStream:
        """A new turn whose audio is 16-bit PCM at ``rate`` Hz (the call's rate)."""


class PromptSource(Protocol):
    def get(self, prompt_id: str): ...  # -> callbot.prompts Prompt (frames(rate), text, duration)
