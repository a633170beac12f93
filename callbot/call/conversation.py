"""One call's conversation, written against the small call-I/O protocol.

The session never sees SIP or RTP: it reads and writes 20 ms PCM frames on a
:class:`CallIO` at the call's ``sample_rate`` (16 kHz for a G.722 call, 8 kHz for G.711:
prompts are played, turns recorded and recognized at that rate) and paces itself with a
:class:`Clock`. Unit tests drive it
with a fake call and a fake clock; integration tests with a real SIP call.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Sequence

from callbot.audio import FRAME_MS, SAMPLE_RATE, duration_seconds
from callbot.call.ports import CallIO, Clock, PromptSource, Recognizer, TurnStream
from callbot.speech.recorder import TurnRecorder
from callbot.speech.turns import TurnEvent, TurnSettings

#: Seconds of audio in one frame.
FRAME_SECONDS = FRAME_MS / 1000
#: Frames written ahead of real time so the RTP sender never starves.
LEAD_FRAMES = 2


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


def held(call: CallIO) -> bool:
    """The caller has put the call on hold (a re-INVITE); fakes without hold never are."""
    return bool(getattr(call, "on_hold", False)) and call.active


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
        while held(call):  # on hold: the prompt waits where it is and goes on at the resume
            paused = clock.now()
            clock.sleep_until(paused + FRAME_SECONDS)
            call.read_frame()  # keep the receive side in real time
            start += clock.now() - paused
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


# -- conversation: say and listen -------------------------------------------------

#: Caller audio kept from the end of a prompt to prime the next listen (seconds).
PROMPT_TAIL_SECONDS = 5.0


@dataclass(frozen=True)
class BotTurn:
    prompt_id: str
    text: str | None
    started_at: datetime
    playback: Playback


@dataclass(frozen=True)
class CallerTurn:
    field: str
    audio: bytes
    started_at: datetime        # wall clock when the caller started (or listening began)
    duration: float             # seconds of audio in ``audio``
    end_reason: str             # speech_stopped | no_speech | max_length | hangup
    transcript: Future | None  # Future[callbot.speech.transcripts.Transcript]; None when nothing to transcribe
    speech_ended_at: float | None = None  # session clock: when the caller stopped talking
    rate: int = SAMPLE_RATE     # sample rate of ``audio`` (the call's)


class Conversation:
    """Say prompts and listen to the caller's turns on one call.

    Caller audio heard while a prompt plays is kept (the bot finishes its
    sentence; no cut-in) and primes the next listen, so a caller who starts
    talking before the prompt ends loses nothing.
    """

    def __init__(
        self,
        call: CallIO,
        clock: Clock,
        prompts: PromptSource,
        settings: TurnSettings,
        recognizer: Recognizer | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ):
        self.call = call
        self.clock = clock
        self.prompts = prompts
        self.settings = settings
        self.recognizer = recognizer
        self.wall = wall
        self._tail: deque[bytes] = deque(maxlen=int(PROMPT_TAIL_SECONDS / FRAME_SECONDS))
        self.turns: list[BotTurn | CallerTurn] = []

    @property
    def caller_gone(self) -> bool:
        return not self.call.active

    @property
    def rate(self) -> int:
        """The sample rate of the call's frames (the codec's)."""
        return self.call.sample_rate

    def say(self, prompt_id: str) -> BotTurn:
        prompt = self.prompts.get(prompt_id)
        self._tail.clear()
        started = self.wall()
        playback = play(self.call, prompt.frames(self.rate), self.clock, on_caller_audio=self._tail.append)
        turn = BotTurn(prompt_id, prompt.text, started, playback)
        self.turns.append(turn)
        return turn

    def wait_for(self, future: Future, deadline: float) -> bool:
        """Keep reading the line in 20 ms ticks until ``future`` is done, the call ends or the
        session clock reaches ``deadline``; True when the future is done. Caller audio heard
        meanwhile primes the next listen, as during a prompt."""
        tick = self.clock.now()
        while not future.done() and self.call.active and tick < deadline:
            frame = self.call.read_frame()
            if frame is not None:
                self._tail.append(frame)
            tick = min(tick + FRAME_SECONDS, deadline)
            self.clock.sleep_until(tick)
        return future.done()

    def listen(self, field: str) -> CallerTurn:
        recorder = TurnRecorder(self.settings, rate=self.rate)
        started_wall = self.wall()
        start = self.clock.now()
        stream: TurnStream | None = None
        events = recorder.prime(list(self._tail))
        self._tail.clear()
        if TurnEvent.SPEECH_STARTED in events:
            stream = self._start_stream(recorder)
        tick = start
        end_reason = "hangup"
        try:
            while not recorder.done:
                frame = self.call.read_frame() if self.call.active else None
                if frame is None:
                    break
                if held(self.call):  # held time is not the caller's silence
                    tick += FRAME_SECONDS
                    self.clock.sleep_until(tick)
                    continue
                events = recorder.feed(frame)
                if stream is None and TurnEvent.SPEECH_STARTED in events:
                    stream = self._start_stream(recorder)
                elif stream is not None:
                    stream.feed(frame)
                tick += FRAME_SECONDS
                self.clock.sleep_until(tick)
        except BaseException:
            if stream is not None:  # don't leave the turn open in the recognizer
                stream.cancel()
            raise
        if recorder.done:
            end_reason = recorder.turn.end_reason.value
            audio = recorder.turn.audio
            offset = recorder.turn.started_at
        else:
            audio = recorder.turn_audio_so_far()
            offset = recorder.segmenter.turn_started_at or 0.0
        speech_ended = recorder.segmenter.speech_ended_at
        transcript = stream.finish() if stream is not None and audio else None
        if stream is not None and transcript is None:
            stream.cancel()
        turn = CallerTurn(
            field=field,
            audio=audio,
            started_at=started_wall + timedelta(seconds=offset - self.settings.pre_roll) if audio else started_wall,
            duration=duration_seconds(audio, self.rate),
            end_reason=end_reason,
            transcript=transcript,
            speech_ended_at=None if speech_ended is None else start + speech_ended,
            rate=self.rate,
        )
        self.turns.append(turn)
        return turn

    def _start_stream(self, recorder: TurnRecorder) -> TurnStream | None:
        if self.recognizer is None:
            return None
        stream = self.recognizer.stream(self.rate)
        stream.feed(recorder.turn_audio_so_far())
        return stream
