"""Tests for turn taking: the pure turn segmenter (callbot.speech.turns), the energy detector
(callbot.speech.vad) and the recorder (callbot.speech.recorder)."""

from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest

from callbot.audio import FRAME_BYTES, SAMPLE_RATE, decode_file, level_dbfs, split_frames
from callbot.errors import AudioError
from callbot.speech.recorder import Turn, TurnRecorder
from callbot.speech.turns import TurnEvent, TurnSegmenter, TurnSettings, VadState
from callbot.speech.vad import EnergyDetector

STARTED = TurnEvent.SPEECH_STARTED
STOPPED = TurnEvent.SPEECH_STOPPED
NO_SPEECH = TurnEvent.NO_SPEECH
MAX_LENGTH = TurnEvent.MAX_LENGTH

STEP = 0.02
BYTES_PER_SECOND = 2 * SAMPLE_RATE


def run(seg: TurnSegmenter, pattern, step: float = STEP) -> list[tuple[float, TurnEvent]]:
    """Feed ``[(seconds, is_speech), ...]`` in ``step`` chunks; events with their time."""
    out = []
    for seconds, speech in pattern:
        for _ in range(round(seconds / step)):
            out.extend((seg.elapsed, event) for event in seg.process(step, speech))
    return out


def run_timeline(seg: TurnSegmenter, speech_intervals, total: float, step: float):
    """Feed ``total`` seconds in ``step`` chunks; a chunk is speech when its middle
    lies in one of ``speech_intervals`` -- the same signal at any step size."""
    out = []
    for i in range(round(total / step)):
        middle = (i + 0.5) * step
        speech = any(a <= middle < b for a, b in speech_intervals)
        out.extend((seg.elapsed, event) for event in seg.process(step, speech))
    return out


def times(events, kind: TurnEvent) -> list[float]:
    return [t for t, event in events if event is kind]


def kinds(events) -> list[TurnEvent]:
    return [event for _, event in events]


# ================================================================ TurnSettings


def test_default_settings():
    s = TurnSettings()
    assert (s.speech_threshold_dbfs, s.min_speech, s.end_silence) == (-35.0, 0.2, 0.8)
    assert (s.no_speech_timeout, s.max_turn, s.pre_roll) == (5.0, 20.0, 0.3)
    with pytest.raises(AttributeError):
        s.min_speech = 1.0  # frozen


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_speech": 0}, "min_speech must be > 0"),
        ({"end_silence": -0.5}, "end_silence must be > 0"),
        ({"no_speech_timeout": 0.0}, "no_speech_timeout must be > 0"),
        ({"max_turn": -1}, "max_turn must be > 0"),
        ({"pre_roll": 0}, "pre_roll must be > 0"),
        ({"end_silence": math.nan}, "end_silence must be finite"),
        ({"max_turn": math.inf}, "max_turn must be finite"),
        ({"min_speech": "0.2"}, "min_speech must be a number"),
        ({"end_silence": True}, "end_silence must be a number"),
        ({"speech_threshold_dbfs": 3.0}, "speech_threshold_dbfs must be <= 0"),
        ({"speech_threshold_dbfs": -120.0}, "speech_threshold_dbfs must be >= -96 dBFS"),
        ({"max_turn": 301.0}, "max_turn must be <= 300 seconds"),
        ({"speech_threshold_dbfs": -math.inf}, "speech_threshold_dbfs must be finite"),
        ({"pre_roll": 0.1}, "pre_roll (0.1 s) must be >= min_speech (0.2 s)"),
        ({"min_speech": 0.5, "pre_roll": 0.4}, "first syllable"),
        ({"max_turn": 0.2}, "max_turn (0.2 s) must be longer than min_speech"),
    ],
)
def test_invalid_settings_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match="invalid turn settings") as excinfo:
        TurnSettings(**kwargs)
    assert message in str(excinfo.value)


def test_invalid_settings_lists_every_problem():
    with pytest.raises(ValueError) as excinfo:
        TurnSettings(min_speech=-1, end_silence=0)
    assert "min_speech" in str(excinfo.value) and "end_silence" in str(excinfo.value)


def test_valid_edge_settings():
    # pre_roll == min_speech and a 0 dBFS threshold are allowed
    TurnSettings(min_speech=0.3, pre_roll=0.3, speech_threshold_dbfs=0)


# ================================================================ TurnSegmenter: basics


def test_initial_state():
    seg = TurnSegmenter()
    assert seg.state is VadState.QUIET
    assert seg.elapsed == 0.0 and seg.speech_seconds == 0.0
    assert seg.turn_started_at is None and seg.turn_ended_at is None
    assert seg.end_reason is None and not seg.done and not seg.in_turn
    assert seg.settings == TurnSettings()


def test_enums_are_strings():
    assert VadState.STARTING == "starting"
    assert [e.value for e in TurnEvent] == [
        "speech_started", "speech_stopped", "no_speech", "max_length"
    ]


def test_silence_alone_produces_nothing_before_the_timeout():
    seg = TurnSegmenter()
    assert run(seg, [(4.9, False)]) == []
    assert seg.state is VadState.QUIET
    assert seg.elapsed == pytest.approx(4.9)


def test_short_burst_is_not_a_turn():
    seg = TurnSegmenter()
    assert run(seg, [(1.0, False), (0.1, True)]) == []
    assert seg.state is VadState.STARTING
    assert seg.onset_at == pytest.approx(1.0)
    assert seg.speech_seconds == pytest.approx(0.1)
    events = run(seg, [(2.0, False)])
    assert STARTED not in kinds(events)
    assert events == []  # 3.1 s: no timeout yet either
    assert seg.state is VadState.QUIET
    assert seg.onset_at is None and seg.turn_started_at is None


def test_burst_is_discarded_after_min_speech_of_silence():
    seg = TurnSegmenter()
    run(seg, [(0.1, True), (0.18, False)])
    assert seg.state is VadState.STARTING  # gap < min_speech: still a candidate
    run(seg, [(0.02, False)])
    assert seg.state is VadState.QUIET  # gap reached min_speech (0.2 s)


def test_speech_started_at_min_speech():
    seg = TurnSegmenter()
    events = run(seg, [(1.0, False), (0.3, True)])
    assert kinds(events) == [STARTED]
    assert times(events, STARTED)[0] == pytest.approx(1.2)  # 0.2 s after the onset
    assert seg.turn_started_at == pytest.approx(1.0)  # the turn starts at the first speech frame
    assert seg.state is VadState.SPEAKING and seg.in_turn
    assert seg.speech_seconds == pytest.approx(0.3)


def test_speech_started_is_emitted_once_per_turn():
    seg = TurnSegmenter()
    events = run(seg, [(0.5, True), (0.5, False), (0.5, True), (0.3, False), (3.0, True)])
    assert kinds(events) == [STARTED]


def test_speech_stopped_after_exactly_end_silence():
    seg = TurnSegmenter()
    events = run(seg, [(1.0, False), (1.0, True), (2.0, False)])
    assert kinds(events) == [STARTED, STOPPED]
    last_speech_end = 2.0
    assert seg.speech_ended_at == pytest.approx(last_speech_end)
    assert abs(times(events, STOPPED)[0] - (last_speech_end + 0.8)) <= STEP
    assert times(events, STOPPED)[0] == pytest.approx(2.8)
    assert seg.turn_ended_at == pytest.approx(2.8)
    assert seg.end_reason is STOPPED and seg.done
    assert seg.state is VadState.QUIET
    assert seg.turn_started_at == pytest.approx(1.0)  # still readable after the end


def test_silence_just_short_of_end_silence_keeps_the_turn():
    seg = TurnSegmenter()
    events = run(seg, [(1.0, True), (0.78, False)])
    assert kinds(events) == [STARTED]
    assert seg.state is VadState.STOPPING
    assert seg.silence_seconds == pytest.approx(0.78)
    assert kinds(run(seg, [(0.02, False)])) == [STOPPED]


def test_pauses_inside_speech_do_not_end_the_turn():
    seg = TurnSegmenter()
    pattern = [(1.0, False)] + [(0.7, True), (0.5, False)] * 4 + [(0.7, True), (2.0, False)]
    events = run(seg, pattern)
    assert kinds(events) == [STARTED, STOPPED]
    last_speech_end = 1.0 + 5 * 0.7 + 4 * 0.5
    assert times(events, STOPPED)[0] == pytest.approx(last_speech_end + 0.8)


def test_state_sequence():
    seg = TurnSegmenter()
    seen = [seg.state]
    pattern = [(0.5, False), (0.1, True), (0.3, True), (0.4, False), (0.3, True), (1.0, False)]
    for seconds, speech in pattern:
        for _ in range(round(seconds / STEP)):
            seg.process(STEP, speech)
            if seg.state is not seen[-1]:
                seen.append(seg.state)
    Q, ST, SP, STP = VadState.QUIET, VadState.STARTING, VadState.SPEAKING, VadState.STOPPING
    assert seen == [Q, ST, SP, STP, SP, STP, Q]


# ================================================================ STARTING: gap rule


def test_gap_shorter_than_min_speech_does_not_reset_the_candidate():
    seg = TurnSegmenter()
    events = run(seg, [(1.0, False), (0.1, True), (0.1, False), (0.1, True)])
    assert kinds(events) == [STARTED]
    # only speech time counts: started after 0.1 + 0.1 (gap) + 0.1
    assert times(events, STARTED)[0] == pytest.approx(1.3)
    assert seg.turn_started_at == pytest.approx(1.0)  # onset of the first burst


def test_gap_of_min_speech_resets_the_candidate():
    seg = TurnSegmenter()
    events = run(seg, [(1.0, False), (0.1, True), (0.2, False), (0.1, True)])
    assert events == []  # the first 0.1 s burst no longer counts
    assert seg.state is VadState.STARTING
    assert seg.onset_at == pytest.approx(1.3)
    events = run(seg, [(0.1, True)])
    assert kinds(events) == [STARTED]
    assert seg.turn_started_at == pytest.approx(1.3)


def test_periodic_clicks_with_long_gaps_never_start_a_turn():
    seg = TurnSegmenter()
    events = run(seg, [(0.04, True), (0.3, False)] * 12)
    assert STARTED not in kinds(events)


# ================================================================ timeouts


def test_no_speech_timeout():
    seg = TurnSegmenter()
    events = run(seg, [(8.0, False)])
    assert kinds(events) == [NO_SPEECH]
    assert abs(times(events, NO_SPEECH)[0] - 5.0) <= STEP
    assert seg.end_reason is NO_SPEECH and seg.done
    assert seg.turn_started_at is None
    assert seg.turn_ended_at == pytest.approx(5.0)
    assert seg.elapsed == pytest.approx(8.0)  # the clock runs on, silently


def test_no_speech_timeout_ignores_short_bursts():
    seg = TurnSegmenter()
    events = run(seg, [(1.0, False), (0.1, True), (1.0, False), (0.06, True), (5.0, False)])
    assert kinds(events) == [NO_SPEECH]
    assert times(events, NO_SPEECH)[0] == pytest.approx(5.0)


def test_no_speech_timeout_fires_while_still_starting():
    seg = TurnSegmenter()
    events = run(seg, [(4.9, False), (0.5, True)])
    assert kinds(events) == [NO_SPEECH]
    assert times(events, NO_SPEECH)[0] == pytest.approx(5.0)


def test_no_timeout_once_a_turn_has_started():
    seg = TurnSegmenter()
    events = run(seg, [(4.0, False), (3.0, True), (0.5, False), (1.0, True), (1.0, False)])
    assert kinds(events) == [STARTED, STOPPED]


def test_max_turn():
    seg = TurnSegmenter()
    events = run(seg, [(1.0, False), (25.0, True)])
    assert kinds(events) == [STARTED, MAX_LENGTH]
    assert abs(times(events, MAX_LENGTH)[0] - 21.0) <= STEP  # 20 s after the onset at 1.0
    assert seg.end_reason is MAX_LENGTH and seg.state is VadState.QUIET
    assert seg.turn_ended_at == pytest.approx(21.0)
    assert run(seg, [(3.0, False)]) == []  # no SPEECH_STOPPED after the turn was cut


def test_max_turn_counts_pauses():
    seg = TurnSegmenter()
    events = run(seg, [(1.0, False)] + [(0.5, True), (0.5, False)] * 30)
    assert kinds(events) == [STARTED, MAX_LENGTH]
    assert times(events, MAX_LENGTH)[0] == pytest.approx(21.0)


def test_configurable_settings():
    settings = TurnSettings(
        min_speech=0.1, end_silence=0.5, no_speech_timeout=2.0, max_turn=3.0, pre_roll=0.1
    )
    seg = TurnSegmenter(settings)
    events = run(seg, [(0.5, False), (0.1, True), (0.4, False), (0.3, True), (1.0, False)])
    assert kinds(events) == [STARTED, STOPPED]
    assert times(events, STARTED)[0] == pytest.approx(0.6)
    assert times(events, STOPPED)[0] == pytest.approx(1.3 + 0.5)  # 0.4 s pause did not end it

    seg = TurnSegmenter(settings)
    assert times(run(seg, [(3.0, False)]), NO_SPEECH) == [pytest.approx(2.0)]

    seg = TurnSegmenter(settings)
    assert times(run(seg, [(0.5, False), (4.0, True)]), MAX_LENGTH) == [pytest.approx(3.5)]

    seg = TurnSegmenter(TurnSettings(min_speech=0.5, pre_roll=0.5))
    events = run(seg, [(0.4, True), (0.1, False), (0.1, True)])
    assert kinds(events) == [STARTED]  # a 0.1 s gap is tolerated when min_speech is 0.5


@pytest.mark.parametrize("step", [0.01, 0.02, 0.03])
def test_step_size_does_not_change_the_timing(step):
    # 0.1 s click, then an utterance with a 0.5 s pause, then silence
    speech = [(1.0, 1.1), (1.6, 3.1), (3.6, 4.2)]
    seg = TurnSegmenter()
    events = run_timeline(seg, speech, total=6.0, step=step)
    assert kinds(events) == [STARTED, STOPPED]
    assert abs(times(events, STARTED)[0] - (1.6 + 0.2)) <= step + 1e-9
    assert abs(seg.turn_started_at - 1.6) <= step + 1e-9
    assert abs(times(events, STOPPED)[0] - (4.2 + 0.8)) <= step + 1e-9

    seg = TurnSegmenter()
    assert abs(times(run_timeline(seg, [], 6.0, step), NO_SPEECH)[0] - 5.0) <= step + 1e-9
    seg = TurnSegmenter()
    max_at = times(run_timeline(seg, [(0.5, 30.0)], 30.0, step), MAX_LENGTH)[0]
    assert abs(max_at - 20.5) <= step + 1e-9


def test_one_big_chunk_can_start_and_end():
    seg = TurnSegmenter()
    assert seg.process(0.5, True) == [STARTED]
    assert seg.turn_started_at == 0.0
    assert seg.process(1.0, False) == [STOPPED]
    assert seg.turn_ended_at == pytest.approx(1.5)


def test_process_validates_seconds():
    seg = TurnSegmenter()
    for bad in (-0.02, math.nan, math.inf, "0.02", None):
        with pytest.raises(ValueError):
            seg.process(bad, True)
    assert seg.process(0, True) == [] and seg.state is VadState.STARTING
    assert seg.elapsed == 0.0


def test_reset_starts_a_new_listening_period():
    seg = TurnSegmenter()
    run(seg, [(1.0, True), (1.0, False)])
    assert seg.done
    assert seg.process(STEP, True) == []  # finished: input only advances the clock
    seg.reset()
    assert seg.state is VadState.QUIET and not seg.done
    assert seg.elapsed == 0.0 and seg.turn_started_at is None and seg.end_reason is None
    events = run(seg, [(0.5, False), (0.3, True)])
    assert times(events, STARTED) == [pytest.approx(0.7)]


# ================================================================ TurnSegmenter.prime


def test_prime_with_speech_at_the_end_starts_the_turn_immediately():
    seg = TurnSegmenter()
    prompt = [(STEP, False)] * 75 + [(STEP, True)] * 25  # 1.5 s quiet, then 0.5 s speech
    assert seg.prime(prompt) == [STARTED]
    assert seg.state is VadState.SPEAKING
    assert seg.elapsed == 0.0
    assert seg.turn_started_at == pytest.approx(-0.5)
    events = run(seg, [(0.3, True), (1.0, False)])
    assert kinds(events) == [STOPPED]  # not started twice
    assert times(events, STOPPED)[0] == pytest.approx(1.1)


def test_prime_with_a_short_burst_at_the_end_counts_towards_min_speech():
    seg = TurnSegmenter()
    assert seg.prime([(STEP, False)] * 50 + [(STEP, True)] * 5) == []
    assert seg.state is VadState.STARTING
    events = run(seg, [(0.2, True)])
    assert times(events, STARTED) == [pytest.approx(0.1)]
    assert seg.turn_started_at == pytest.approx(-0.1)


def test_prime_forgets_speech_that_ended_during_the_prompt():
    seg = TurnSegmenter()
    prompt = [(STEP, True)] * 50 + [(STEP, False)] * 50
    assert seg.prime(prompt) == []
    assert seg.state is VadState.QUIET and not seg.done
    assert seg.turn_started_at is None and seg.end_reason is None


def test_prime_continues_a_pause_into_listening():
    seg = TurnSegmenter()
    prompt = [(STEP, True)] * 25 + [(STEP, False)] * 25  # 0.5 s speech, 0.5 s pause
    assert seg.prime(prompt) == [STARTED]
    assert seg.state is VadState.STOPPING
    events = run(seg, [(1.0, False)])
    assert times(events, STOPPED) == [pytest.approx(0.3)]  # 0.8 s after the speech ended


def test_prime_does_not_apply_timeouts():
    seg = TurnSegmenter()
    assert seg.prime([(STEP, False)] * 400) == []  # 8 s prompt, no NO_SPEECH
    assert not seg.done
    assert times(run(seg, [(6.0, False)]), NO_SPEECH) == [pytest.approx(5.0)]

    seg = TurnSegmenter()
    assert seg.prime([(STEP, True)] * 1250) == [STARTED]  # 25 s talking over the prompt
    assert seg.process(STEP, True) == [MAX_LENGTH]  # already longer than max_turn


def test_prime_only_before_process():
    seg = TurnSegmenter()
    seg.process(STEP, False)
    with pytest.raises(RuntimeError, match="before process"):
        seg.prime([(STEP, True)])
    seg.reset()
    assert seg.prime([]) == []
    with pytest.raises(RuntimeError):
        seg.prime([])


# ================================================================ EnergyDetector


def tone(seconds: float, dbfs: float, freq: float = 440.0) -> bytes:
    """A sine at ``dbfs`` RMS level, 16-bit PCM at 8 kHz."""
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    amplitude = 32768 * 10 ** (dbfs / 20) * math.sqrt(2)
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def silence(seconds: float) -> bytes:
    return bytes(round(seconds * SAMPLE_RATE) * 2)


def at(signal: bytes, t: float, seconds: float) -> bytes:
    """``seconds`` of ``signal`` from ``t`` on (sample-exact)."""
    start = round(t * SAMPLE_RATE) * 2
    return signal[start : start + round(seconds * SAMPLE_RATE) * 2]


def test_energy_detector():
    detector = EnergyDetector()
    assert detector.threshold_dbfs == -35.0
    assert detector(tone(0.02, -20))
    assert detector.last_level == pytest.approx(-20, abs=0.1)
    assert detector(tone(0.02, -34.5))
    assert not detector(tone(0.02, -35.5))
    assert not detector(tone(0.02, -50))
    assert not detector(silence(0.02))
    assert detector.last_level == -math.inf
    assert not detector(b"")
    assert EnergyDetector(-55)(tone(0.02, -50))


def test_energy_detector_validation():
    for bad in (1.0, math.nan, "x", True):
        with pytest.raises(ValueError):
            EnergyDetector(bad)
    with pytest.raises(AudioError):
        EnergyDetector()(b"\x00")


# ================================================================ TurnRecorder (synthetic audio)


def feed_audio(recorder: TurnRecorder, pcm: bytes, reset_after_turn: bool = False):
    """Feed ``pcm`` in 20 ms frames. Returns (events with absolute end times, turns
    with the absolute time of the recorder's listening start)."""
    events, turns = [], []
    listen_start = 0.0
    for i, frame in enumerate(split_frames(pcm)):
        now = (i + 1) * STEP
        for event in recorder.feed(frame):
            events.append((now, event))
        if recorder.done and not any(t is recorder.turn for t, _ in turns):
            turns.append((recorder.turn, listen_start))
            if reset_after_turn:
                recorder.reset()
                listen_start = now
    return events, turns


def test_recorder_records_a_turn_with_pre_roll():
    speech = tone(1.0, -20)
    signal = silence(1.0) + speech + silence(1.5)
    recorder = TurnRecorder()
    events, turns = feed_audio(recorder, signal)
    assert kinds(events) == [STARTED, STOPPED]
    assert times(events, STARTED) == [pytest.approx(1.2)]
    assert times(events, STOPPED) == [pytest.approx(2.8)]
    turn = recorder.turn
    assert isinstance(turn, Turn) and turn.end_reason is STOPPED
    assert turn.started_at == pytest.approx(1.0) and turn.ended_at == pytest.approx(2.8)
    assert turn.duration == pytest.approx(1.8)
    # pre-roll (0.3 s) + speech (1.0 s) + end_silence (0.8 s), cut exactly from the signal
    assert turn.audio == signal[round(0.7 * BYTES_PER_SECOND) : round(2.8 * BYTES_PER_SECOND)]
    assert recorder.frames_since_start == len(signal) // FRAME_BYTES
    assert recorder.speech_frames_since_start == 50
    assert recorder.done and recorder.state is VadState.QUIET
    assert recorder.buffered_seconds == pytest.approx(0.3)  # only the pre-roll is left


def test_recorder_keeps_the_whole_starting_period():
    # 0.1 s, 0.1 s gap, 0.1 s: the candidate lasts 0.3 s before the turn is recognised
    signal = silence(1.0) + tone(0.1, -20) + silence(0.1) + tone(0.5, -20) + silence(1.0)
    recorder = TurnRecorder()
    feed_audio(recorder, signal)
    assert recorder.turn.started_at == pytest.approx(1.0)
    assert recorder.turn.audio.startswith(at(signal, 0.7, 1.0))  # pre-roll from 0.7 s


def test_recorder_pre_roll_is_clamped_at_the_start_of_the_audio():
    recorder = TurnRecorder()
    feed_audio(recorder, silence(0.1) + tone(0.5, -20) + silence(1.0))
    assert recorder.turn.started_at == pytest.approx(0.1)
    assert len(recorder.turn.audio) == round((0.1 + 0.5 + 0.8) * BYTES_PER_SECOND)


def test_recorder_no_speech():
    recorder = TurnRecorder()
    events, _ = feed_audio(recorder, silence(6.0) + tone(0.5, -50))
    assert kinds(events) == [NO_SPEECH]
    assert recorder.turn == Turn(
        audio=b"", started_at=pytest.approx(5.0), ended_at=pytest.approx(5.0), end_reason=NO_SPEECH
    )
    assert recorder.speech_frames_since_start == 0


def test_recorder_max_length():
    recorder = TurnRecorder(TurnSettings(max_turn=3.0))
    events, _ = feed_audio(recorder, silence(0.5) + tone(5.0, -20))
    assert kinds(events) == [STARTED, MAX_LENGTH]
    turn = recorder.turn
    assert turn.end_reason is MAX_LENGTH and turn.ended_at == pytest.approx(3.5)
    assert len(turn.audio) == round((0.3 + 3.0) * BYTES_PER_SECOND)


def test_recorder_threshold_and_custom_detector():
    quiet_speech = silence(0.5) + tone(1.0, -40) + silence(1.0)
    # a tone stands in for speech: only the energy detector takes any loud sound for speech
    events, _ = feed_audio(TurnRecorder(TurnSettings(detector="energy")), quiet_speech)
    assert events == []  # -40 dBFS is below the default -35 dBFS
    events, _ = feed_audio(TurnRecorder(TurnSettings(speech_threshold_dbfs=-45, detector="energy")), quiet_speech)
    assert kinds(events) == [STARTED, STOPPED]

    calls = []

    def detector(frame: bytes) -> bool:
        calls.append(len(frame))
        return len(calls) in range(10, 30)

    recorder = TurnRecorder(detector=detector)
    events, _ = feed_audio(recorder, silence(2.0))
    assert kinds(events) == [STARTED, STOPPED]
    assert recorder.turn.started_at == pytest.approx(9 * STEP)


def test_recorder_frame_validation():
    recorder = TurnRecorder()
    with pytest.raises(AudioError, match="even number of bytes"):
        recorder.feed(b"\x00" * 3)
    assert recorder.feed(b"") == [] and recorder.frames_since_start == 0
    recorder.feed(bytearray(FRAME_BYTES))
    assert recorder.elapsed == pytest.approx(STEP)


def test_recorder_reset_keeps_recent_audio_as_pre_roll():
    recorder = TurnRecorder()
    feed_audio(recorder, silence(0.5) + tone(0.5, -20) + silence(0.8))
    assert recorder.turn.end_reason is STOPPED
    marker = tone(0.3, -50, freq=1000)  # below threshold: silence to the detector
    feed_audio(recorder, marker)
    recorder.reset()
    assert recorder.turn is None and recorder.elapsed == 0.0 and recorder.frames_since_start == 0
    speech = tone(0.5, -20)
    feed_audio(recorder, speech + silence(1.0))
    turn = recorder.turn
    assert turn.started_at == pytest.approx(0.0)
    assert turn.audio.startswith(marker + speech)


# ================================================================ TurnRecorder.prime


def test_prime_speech_at_the_end_of_the_prompt_starts_the_turn_immediately():
    during_prompt = silence(1.5) + tone(0.5, -20)  # the caller starts talking 0.5 s before the end
    recorder = TurnRecorder()
    assert recorder.prime(split_frames(during_prompt)) == [STARTED]
    assert recorder.state is VadState.SPEAKING
    assert recorder.elapsed == 0.0
    after = tone(0.3, -20) + silence(1.0)
    events, _ = feed_audio(recorder, after)
    assert kinds(events) == [STOPPED]
    assert times(events, STOPPED) == [pytest.approx(1.1)]
    turn = recorder.turn
    assert turn.started_at == pytest.approx(-0.5)
    assert turn.ended_at == pytest.approx(1.1)
    expected = at(during_prompt + after, 1.2, 1.9)  # from 0.3 s before the primed speech
    assert turn.audio == expected  # pre-roll + primed speech + the rest of the turn


def test_prime_short_speech_at_the_end_counts_into_the_turn():
    recorder = TurnRecorder()
    assert recorder.prime(split_frames(silence(1.0) + tone(0.1, -20))) == []
    assert recorder.state is VadState.STARTING
    started = []
    for frame in split_frames(tone(0.5, -20) + silence(1.0)):
        if STARTED in recorder.feed(frame):
            started.append(recorder.elapsed)
    assert started == [pytest.approx(0.1)]  # 0.1 s primed + 0.1 s heard = min_speech
    assert recorder.turn.started_at == pytest.approx(-0.1)
    assert recorder.turn.audio.startswith(silence(0.3) + tone(0.1, -20))


def test_prime_without_speech_at_the_end_is_only_pre_roll():
    during_prompt = tone(0.5, -20) + silence(1.0) + tone(0.3, -50)
    recorder = TurnRecorder()
    assert recorder.prime(split_frames(during_prompt)) == []
    assert recorder.state is VadState.QUIET
    assert recorder.buffered_seconds == pytest.approx(0.3)
    speech = tone(0.5, -20)
    feed_audio(recorder, speech + silence(1.0))
    assert recorder.turn.started_at == pytest.approx(0.0)
    assert recorder.turn.audio.startswith(during_prompt[-round(0.3 * BYTES_PER_SECOND) :] + speech)


def test_prime_only_before_feed():
    recorder = TurnRecorder()
    recorder.feed(silence(STEP))
    with pytest.raises(RuntimeError, match="before feed"):
        recorder.prime([silence(STEP)])
    recorder.reset()
    assert recorder.prime([silence(STEP)]) == []
    buffered = recorder.buffered_seconds
    with pytest.raises(RuntimeError, match="once"):
        recorder.prime([tone(0.5, -20)])
    assert recorder.buffered_seconds == buffered  # the refused audio was not kept


# ================================================================ real speech (espeak-ng)

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (Debian: apt install espeak-ng); "
    "the real-speech VAD tests synthesise German speech with it",
)

UTTERANCE_A = "Guten Tag, mein Name ist Thomas Müller"
UTTERANCE_B = "Ich rufe wegen Ihrer Rechnung an"


def synthesise(directory, name: str, text: str) -> bytes:
    """German speech from espeak-ng as 8 kHz PCM, trimmed to the speech itself."""
    path = directory / f"{name}.wav"
    result = subprocess.run(
        ["espeak-ng", "-v", "de", "-w", str(path), text], capture_output=True, text=True
    )
    if result.returncode != 0 or not path.exists():
        pytest.skip(f"espeak-ng could not synthesise German speech: {result.stderr.strip()}")
    samples = np.frombuffer(decode_file(path), dtype="<i2")
    audible = np.flatnonzero(np.abs(samples.astype(np.int32)) > 32)  # above about -60 dBFS
    return samples[audible[0] : audible[-1] + 1].tobytes()


@pytest.fixture(scope="module")
def utterances(tmp_path_factory) -> tuple[bytes, bytes]:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    directory = tmp_path_factory.mktemp("espeak")
    return synthesise(directory, "a", UTTERANCE_A), synthesise(directory, "b", UTTERANCE_B)


def seconds_of(pcm: bytes) -> float:
    return len(pcm) / BYTES_PER_SECOND


def with_noise(pcm: bytes, dbfs: float, seed: int = 7) -> bytes:
    rng = np.random.default_rng(seed)
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    x += rng.normal(0.0, 32768 * 10 ** (dbfs / 20), size=x.size)
    return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()


@needs_espeak
@pytest.mark.parametrize("noise_dbfs", [None, -50.0])
def test_real_speech_single_turn(utterances, noise_dbfs):
    speech = utterances[0]
    assert 1.5 < seconds_of(speech) < 4.0
    signal = silence(1.0) + speech + silence(1.5)
    if noise_dbfs is not None:
        signal = with_noise(signal, noise_dbfs)
        assert level_dbfs(signal[:BYTES_PER_SECOND]) == pytest.approx(noise_dbfs, abs=0.5)
    onset, speech_end = 1.0, 1.0 + seconds_of(speech)

    recorder = TurnRecorder()
    events, turns = feed_audio(recorder, signal)
    assert kinds(events) == [STARTED, STOPPED]
    started = times(events, STARTED)[0]
    assert onset + 0.2 - STEP <= started <= onset + 0.3
    assert abs(times(events, STOPPED)[0] - (speech_end + 0.8)) <= 0.1

    turn = recorder.turn
    assert turn.end_reason is STOPPED
    assert abs(turn.started_at - onset) <= 0.05
    assert turn.ended_at == pytest.approx(times(events, STOPPED)[0])
    # the audio begins pre_roll before the first speech frame ...
    assert turn.audio == at(signal, turn.started_at - 0.3, turn.duration + 0.3)
    assert seconds_of(turn.audio) == pytest.approx(turn.duration + 0.3)
    # ... so the first syllable's onset is inside it, at least 0.3 s in
    first_syllable = at(signal, onset, 0.1)
    assert level_dbfs(first_syllable) > -35
    position = turn.audio.find(first_syllable)
    assert position >= 0
    assert seconds_of(turn.audio[:position]) >= 0.3 - 0.02
    # and it ends no more than end_silence (+ one frame) after the speech
    assert seconds_of(turn.audio) <= seconds_of(speech) + 0.3 + 0.8 + 0.1


@needs_espeak
def test_real_speech_short_pause_is_one_turn(utterances):
    a, b = utterances
    signal = silence(1.0) + a + silence(0.4) + b + silence(1.5)
    onset_b = 1.0 + seconds_of(a) + 0.4
    end_b = onset_b + seconds_of(b)

    recorder = TurnRecorder()
    events, turns = feed_audio(recorder, signal, reset_after_turn=True)
    assert kinds(events) == [STARTED, STOPPED]
    assert len(turns) == 1
    assert abs(times(events, STOPPED)[0] - (end_b + 0.8)) <= 0.1
    turn = turns[0][0]
    assert abs(turn.started_at - 1.0) <= 0.05
    assert at(signal, 1.0, 0.1) in turn.audio
    assert at(signal, onset_b, 0.1) in turn.audio
    assert at(signal, end_b - 0.1, 0.1) in turn.audio


@needs_espeak
def test_real_speech_long_pause_is_two_turns(utterances):
    a, b = utterances
    signal = silence(1.0) + a + silence(1.5) + b + silence(1.5)
    end_a = 1.0 + seconds_of(a)
    onset_b = end_a + 1.5
    end_b = onset_b + seconds_of(b)

    recorder = TurnRecorder()
    events, turns = feed_audio(recorder, signal, reset_after_turn=True)
    assert kinds(events) == [STARTED, STOPPED, STARTED, STOPPED]
    stops = times(events, STOPPED)
    assert abs(stops[0] - (end_a + 0.8)) <= 0.1
    assert abs(stops[1] - (end_b + 0.8)) <= 0.1
    assert onset_b + 0.2 - STEP <= times(events, STARTED)[1] <= onset_b + 0.3

    (first, first_start), (second, second_start) = turns
    assert first_start == 0.0 and abs(first.started_at - 1.0) <= 0.05
    # the second turn's times count from the reset, which happened when the first ended
    assert second_start == pytest.approx(stops[0])
    assert abs(second_start + second.started_at - onset_b) <= 0.05
    assert at(signal, 1.0, 0.1) in first.audio and at(signal, onset_b, 0.1) not in first.audio
    assert at(signal, onset_b, 0.1) in second.audio
    assert at(signal, end_a - 0.1, 0.1) not in second.audio
    position = second.audio.find(at(signal, onset_b, 0.1))
    assert seconds_of(second.audio[:position]) >= 0.3 - 0.02  # pre-roll across the reset


@needs_espeak
def test_real_speech_talking_over_the_end_of_the_prompt(utterances):
    speech = utterances[0]
    overlap = 0.6  # the caller starts 0.6 s before the prompt ends
    signal = silence(1.0) + speech + silence(1.5)
    split = round((1.0 + overlap) * SAMPLE_RATE) * 2
    during_prompt, after_prompt = signal[:split], signal[split:]

    recorder = TurnRecorder()
    assert recorder.prime(split_frames(during_prompt)) == [STARTED]
    events, _ = feed_audio(recorder, after_prompt)
    assert kinds(events) == [STOPPED]
    turn = recorder.turn
    assert abs(turn.started_at - -overlap) <= 0.05
    speech_end = seconds_of(speech) - overlap  # relative to the end of the prompt
    assert abs(turn.ended_at - (speech_end + 0.8)) <= 0.1
    assert speech in turn.audio  # nothing of the utterance is lost
    assert seconds_of(turn.audio[: turn.audio.find(speech)]) >= 0.3 - 0.02


def test_turn_audio_so_far_starts_with_the_pre_roll_and_grows_into_the_turn():
    from callbot.speech.recorder import TurnRecorder
    from callbot.speech.turns import TurnEvent, TurnSettings

    settings = TurnSettings(detector="energy")  # a square wave stands in for speech
    recorder = TurnRecorder(settings)
    quiet = bytes(320)
    loud = (b"\x00\x40\x00\xc0" * 80)  # square wave, about -6 dBFS
    assert recorder.turn_audio_so_far() == b""
    for _ in range(50):
        recorder.feed(quiet)
    started = None
    for i in range(100):
        if TurnEvent.SPEECH_STARTED in recorder.feed(loud):
            started = i
            break
    assert started is not None
    so_far = recorder.turn_audio_so_far()
    # pre-roll (0.3 s of silence) + the speech frames until the turn started
    assert len(so_far) == (15 + started + 1) * 320
    assert so_far[: 15 * 320] == bytes(15 * 320)
    for _ in range(60):
        recorder.feed(quiet)
    assert recorder.done and recorder.turn.audio.startswith(so_far)
