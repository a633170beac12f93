"""The conversation (say / listen) on a fake call and a fake clock: turn-taking, priming, streaming."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

import pytest

from callbot.audio import FRAME_BYTES
from callbot.call.conversation import Conversation
from callbot.speech.turns import TurnSettings
from tests.conftest import tone
from tests.fakes import FakeCall, FakeClock

SILENCE = bytes(FRAME_BYTES)


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME_BYTES].ljust(FRAME_BYTES, b"\0") for i in range(0, len(pcm), FRAME_BYTES)]


@dataclass
class FakePrompt:
    id: str
    seconds: float
    text: str = "prompt text"

    def frames(self, rate=8000):
        return frames(tone(self.seconds, 500))


class FakePrompts:
    def get(self, prompt_id):
        return FakePrompt(prompt_id, 1.0)


class FakeStream:
    def __init__(self, log):
        self.fed = bytearray()
        self.log = log
        self.cancelled = False

    def feed(self, pcm):
        self.fed += pcm

    def finish(self):
        future = Future()
        future.set_result(f"{len(self.fed)} bytes")
        self.log.append(self)
        return future

    def cancel(self):
        self.cancelled = True


class FakeRecognizer:
    def __init__(self):
        self.finished = []

    def stream(self, rate=8000):
        return FakeStream(self.finished)


def caller_audio(*parts: tuple[str, float]) -> list[bytes]:
    """('speech', 1.5), ('silence', 2.0) ... as 20 ms frames."""
    out = []
    for kind, seconds in parts:
        out += frames(tone(seconds, 300, dbfs=-15) if kind == "speech" else bytes(int(seconds * 8000) * 2))
    return out


#: The caller's "speech" here is a tone: only the energy detector takes any loud sound for speech.
TONE_SETTINGS = TurnSettings(detector="energy")


def conversation(audio, recognizer=None, settings=TONE_SETTINGS):
    clock = FakeClock()
    call = FakeCall(clock, caller_audio=audio)
    return Conversation(call, clock, FakePrompts(), settings, recognizer), call, clock


def test_turn_ends_after_the_configured_silence():
    conv, call, clock = conversation(caller_audio(("silence", 1.0), ("speech", 2.0), ("silence", 3.0)))
    start = clock.now()
    turn = conv.listen("identity")
    assert turn.end_reason == "speech_stopped"
    # speech ended 3.0 s in; the turn is over 0.8 s later (one frame of tolerance)
    assert clock.now() - start == pytest.approx(3.0 + 0.8, abs=0.021)
    assert turn.speech_ended_at - start == pytest.approx(3.0, abs=0.021)
    # pre-roll 0.3 s + 2.0 s speech + up to end_silence of trailing audio
    assert turn.duration == pytest.approx(0.3 + 2.0 + 0.8, abs=0.05)


def test_a_silent_caller_gives_no_speech_after_the_timeout():
    conv, call, clock = conversation(caller_audio(("silence", 10.0)))
    start = clock.now()
    turn = conv.listen("identity")
    assert turn.end_reason == "no_speech" and turn.audio == b""
    assert clock.now() - start == pytest.approx(5.0, abs=0.021)
    assert turn.transcript is None


def test_listening_reads_one_frame_per_20ms_tick():
    conv, call, clock = conversation(caller_audio(("speech", 1.0), ("silence", 2.0)))
    start = clock.now()
    conv.listen("identity")
    assert call.reads == round((clock.now() - start) / 0.02)


def test_audio_during_the_prompt_is_kept_and_starts_the_turn():
    """The caller talks over the last 0.6 s of the prompt: no cut-in, nothing lost."""
    audio = caller_audio(("silence", 0.4), ("speech", 0.6), ("speech", 1.0), ("silence", 2.0))
    conv, call, clock = conversation(audio, FakeRecognizer())
    said = conv.say("ask_identity")  # 1.0 s prompt: reads the first 50 frames
    assert said.playback.completed  # the bot finished its sentence
    turn = conv.listen("identity")
    assert turn.end_reason == "speech_stopped"
    # the whole 1.6 s of speech plus pre-roll is in the turn
    assert turn.duration >= 1.6 + 0.3


def test_the_recognizer_gets_the_turn_audio_including_pre_roll():
    recognizer = FakeRecognizer()
    conv, call, clock = conversation(caller_audio(("silence", 1.0), ("speech", 1.5), ("silence", 2.0)), recognizer)
    turn = conv.listen("identity")
    [stream] = recognizer.finished
    assert bytes(stream.fed) == turn.audio
    assert turn.transcript.result() == f"{len(turn.audio)} bytes"


def test_no_recognizer_means_no_transcript_but_audio_is_kept():
    conv, call, clock = conversation(caller_audio(("speech", 1.0), ("silence", 2.0)))
    turn = conv.listen("identity")
    assert turn.transcript is None and len(turn.audio) > 0


def test_caller_hanging_up_mid_turn_keeps_what_was_said():
    clock = FakeClock()
    call = FakeCall(clock, caller_audio=caller_audio(("speech", 3.0)), hang_up_at=clock.now() + 1.5)
    recognizer = FakeRecognizer()
    conv = Conversation(call, clock, FakePrompts(), TONE_SETTINGS, recognizer)
    turn = conv.listen("identity")
    assert turn.end_reason == "hangup"
    assert turn.duration == pytest.approx(1.5, abs=0.05)  # all of it; speech began at once
    assert turn.transcript is not None


def test_a_failure_while_listening_cancels_the_recognizer_stream():
    class BrokenCall(FakeCall):
        def read_frame(self):
            if self.reads >= 60:  # 1.2 s in, while the caller talks
                raise OSError("socket gone")
            return super().read_frame()

    clock = FakeClock()
    call = BrokenCall(clock, caller_audio=caller_audio(("speech", 3.0)))
    recognizer = FakeRecognizer()
    streams = []
    original = recognizer.stream
    recognizer.stream = lambda rate=8000: streams.append(original(rate)) or streams[-1]
    conv = Conversation(call, clock, FakePrompts(), TONE_SETTINGS, recognizer)
    with pytest.raises(OSError, match="socket gone"):
        conv.listen("identity")
    [stream] = streams
    assert stream.cancelled and recognizer.finished == []


def test_max_turn_cuts_a_monologue():
    conv, call, clock = conversation(caller_audio(("speech", 30.0)),
                                     settings=TurnSettings(max_turn=5.0, detector="energy"))
    turn = conv.listen("purpose")
    assert turn.end_reason == "max_length"
    assert turn.duration == pytest.approx(5.0, abs=0.05)  # speech from the first frame: no pre-roll exists


class HoldingCall(FakeCall):
    """A fake call the caller holds between two moments of the session clock (a re-INVITE)."""

    def __init__(self, clock, held_from: float, held_until: float, **kwargs):
        super().__init__(clock, **kwargs)
        self.held_from, self.held_until = held_from, held_until

    @property
    def on_hold(self) -> bool:
        return self.held_from <= self.clock.now() < self.held_until


def test_a_prompt_waits_while_the_caller_holds_and_goes_on_from_where_it_was():
    from callbot.call.conversation import play

    clock = FakeClock()
    start = clock.now()
    call = HoldingCall(clock, held_from=start + 0.5, held_until=start + 3.5)
    prompt = [bytes([n % 256]) * FRAME_BYTES for n in range(100)]  # 2 s, every frame tells its place
    playback = play(call, prompt, clock)
    assert playback.completed and [frame for _, frame in call.written] == prompt  # nothing lost, in order
    during = [t for t, _ in call.written if start + 0.5 <= t < start + 3.5]
    assert during == []  # nothing sent while held
    assert clock.now() - start == pytest.approx(2.0 + 3.0 + 0.02, abs=0.1)  # the 3 s on hold added


def test_held_time_is_not_the_callers_silence():
    clock = FakeClock()
    start = clock.now()
    # 4 s of silence while held, then the caller speaks: without hold it would end as no_speech at 5 s
    call = HoldingCall(clock, held_from=start, held_until=start + 4.0,
                       caller_audio=caller_audio(("silence", 4.0), ("silence", 1.0), ("speech", 1.5),
                                                 ("silence", 2.0)))
    conv = Conversation(call, clock, FakePrompts(), TONE_SETTINGS, None)
    turn = conv.listen("identity")
    assert turn.end_reason == "speech_stopped"
