"""One call's conversation, written against the small call-I/O protocol.

The session never sees SIP or RTP: it reads and writes 20 ms PCM frames on a
:class:`CallIO` and paces itself with a :class:`Clock`. Unit tests drive it
with a fake call and a fake clock; integration tests with a real SIP call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from callbot.audio import FRAME_MS

#: Seconds of audio in one frame.
FRAME_SECONDS = FRAME_MS / 1000
#: Frames written ahead of real time so the RTP sender never starves.
LEAD_FRAMES = 2


class CallIO(Protocol):
    """What a session needs from a call (SIP call or test double)."""

    @property
    def active(self) -> bool: ...

    def read_frame(self) -> bytes | None:
        """Next 20 ms of caller audio; never blocks; None when the call is down."""

    def write_frame(self, frame: bytes) -> None:
        """Queue 20 ms of audio for the caller."""

    def hangup(self) -> None: ...


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


@dataclass(frozen=True)
class Playback:
    frames_sent: int
    frames_total: int
    started_at: float
    ended_at: float

    @property
    def completed(self) -> bool:
        return self.frames_sent == self.frames_total

    @property
    def seconds_sent(self) -> float:
        return self.frames_sent * FRAME_SECONDS


def play(
    call: CallIO,
    frames: Sequence[bytes],
    clock: Clock,
    on_caller_audio: Callable[[bytes], None] | None = None,
) -> Playback:
    """Send ``frames`` paced at 20 ms; stop early if the call ends.

    Caller audio is read once per tick (so the receive buffer keeps real time)
    and handed to ``on_caller_audio`` when given, otherwise dropped. Returns
    after the last frame has had time to leave (``LEAD_FRAMES`` + 1 ticks).
    """
    start = clock.now()
    sent = 0
    for index, frame in enumerate(frames):
        clock.sleep_until(start + max(0, index - LEAD_FRAMES) * FRAME_SECONDS)
        if not call.active:
            break
        call.write_frame(frame)
        sent += 1
        heard = call.read_frame()
        if heard is not None and on_caller_audio is not None:
            on_caller_audio(heard)
    if sent == len(frames):
        # Let the queued lead frames play out before anyone hangs up.
        clock.sleep_until(start + (len(frames) + 1) * FRAME_SECONDS)
    return Playback(sent, len(frames), start, clock.now())


def announce_and_hang_up(call: CallIO, frames: Sequence[bytes], clock: Clock) -> Playback:
    """Play a prompt without listening, then hang up (if the caller has not)."""
    playback = play(call, frames, clock)
    if call.active:
        call.hangup()
    return playback
