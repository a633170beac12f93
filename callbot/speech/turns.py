"""Turn taking: is the caller speaking, and when has the caller finished?

Three layers, each usable on its own:

:class:`EnergyDetector`
    Says whether one PCM frame is speech: its RMS level in dBFS
    (:func:`callbot.audio.level_dbfs`) is at or above a threshold.
:class:`TurnSegmenter`
    A pure state machine in **seconds**. It is fed ``(seconds, is_speech)``
    and returns :class:`TurnEvent` values; it knows nothing about audio, so
    its timing rules are tested with plain floats and bools (the style of Home
    Assistant's ``VoiceCommandSegmenter``). The states follow pipecat's VAD:
    QUIET -> STARTING -> SPEAKING -> STOPPING.
:class:`TurnRecorder`
    Frames in, one :class:`Turn` out: detector + segmenter + a pre-roll buffer,
    so the recorded turn starts ``pre_roll`` seconds before the first speech
    frame and the first syllable is never clipped.

Why an energy detector and not webrtcvad
----------------------------------------
The detector compares the level of each 20 ms frame with a fixed dBFS
threshold. That needs no native dependency (numpy only), is deterministic and
trivially testable, and fits telephony: the line is band-limited to about
300-3400 Hz and a caller speaks close to the handset microphone, so speech is
normally well above the idle noise of the line. PhoneBlock's SIP answer bot
works the same way -- 20 ms buffers classified by their dBFS level against a
configurable ``--silence-db`` threshold (-30 dBFS by default in the versions
we checked). callbot defaults to -35 dBFS, a little more sensitive to quiet
callers; ``speech_threshold_dbfs`` is the knob for noisy lines.

webrtcvad (a GMM classifier from the WebRTC project) would be more robust
against loud background noise -- traffic, a TV, a car hands-free kit --
because it looks at the spectrum, not only the energy. But it is a C
extension that has been unmaintained since 2017 (wheels for current Python
versions come from forks), and its decisions are harder to reason about in
tests. The trade-off: in a noisy environment the energy detector may hear
speech where there is none (so a turn lasts until ``max_turn``) and needs a
higher threshold. :class:`TurnRecorder` accepts any ``detector`` callable, so
a spectral VAD can be plugged in later without touching the segmenter.

Timing rules (all durations from :class:`TurnSettings`)
-------------------------------------------------------
* QUIET -> STARTING on the first speech chunk; that chunk's start time is the
  *onset*.
* STARTING accumulates speech time. Silence gaps are tolerated while each gap
  is shorter than ``min_speech``; a continuous gap of ``min_speech`` or longer
  discards the candidate (STARTING -> QUIET: a click or a cough is not a
  turn) and the speech count starts again at the next speech chunk. Only
  speech time counts towards ``min_speech``, gap time does not.
* STARTING -> SPEAKING once the accumulated speech reaches ``min_speech``:
  ``SPEECH_STARTED`` (once per turn). The turn starts at the onset.
* SPEAKING -> STOPPING on a silence chunk; STOPPING -> SPEAKING on the next
  speech chunk. Once the silence since the end of the last speech chunk
  reaches ``end_silence``: ``SPEECH_STOPPED`` and the turn is over.
* ``MAX_LENGTH`` once ``max_turn`` seconds have passed since the onset while
  the turn is still going (SPEAKING or STOPPING); the turn is over.
* ``NO_SPEECH`` once ``no_speech_timeout`` seconds have passed since listening
  began while no turn has started (state QUIET or STARTING); listening is over.
* Exactly one of ``SPEECH_STOPPED`` / ``MAX_LENGTH`` / ``NO_SPEECH`` ends a
  listening period. After that :attr:`TurnSegmenter.done` is true, the state
  is QUIET and further input only advances the clock; call ``reset()`` to
  listen for the next turn.

An event fires at the end of the chunk in which its condition becomes true,
so with 20 ms frames every time is exact to one frame. Comparisons allow a
1e-9 s tolerance so that summing 0.02 fifty times still reaches 1.0.

Audio that arrives while the bot is still talking is not thrown away: see
:meth:`TurnSegmenter.prime` and :meth:`TurnRecorder.prime`. The bot does not
cut its prompt short (no barge-in); a caller who starts talking over the end of
the prompt simply has that speech counted into the turn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from enum import Enum

from callbot.audio import SAMPLE_RATE, SAMPLE_WIDTH, level_dbfs
from callbot.errors import AudioError

__all__ = [
    "ENDING_EVENTS",
    "EnergyDetector",
    "Turn",
    "TurnEvent",
    "TurnRecorder",
    "TurnSegmenter",
    "TurnSettings",
    "VadState",
]

# Tolerance for comparing accumulated float durations with their limits.
_EPS = 1e-9


class VadState(str, Enum):
    """Where the segmenter is within a turn."""

    QUIET = "quiet"  # no speech (or the turn is over)
    STARTING = "starting"  # speech heard, not yet min_speech of it
    SPEAKING = "speaking"  # in a turn, the last chunk was speech
    STOPPING = "stopping"  # in a turn, silence since the last speech chunk


class TurnEvent(str, Enum):
    """What :meth:`TurnSegmenter.process` reports."""

    SPEECH_STARTED = "speech_started"  # speech lasted >= min_speech: a turn begins (once per turn)
    SPEECH_STOPPED = "speech_stopped"  # silence >= end_silence after speech: end of the turn
    NO_SPEECH = "no_speech"  # no_speech_timeout elapsed without a turn starting
    MAX_LENGTH = "max_length"  # the turn reached max_turn and was ended


#: Events that end a listening period.
ENDING_EVENTS = frozenset({TurnEvent.SPEECH_STOPPED, TurnEvent.NO_SPEECH, TurnEvent.MAX_LENGTH})


@dataclass(frozen=True)
class TurnSettings:
    """Timing and threshold of turn detection; all durations in seconds.

    Every duration must be > 0, the threshold <= 0 dBFS, ``max_turn`` longer
    than ``min_speech``, and ``pre_roll >= min_speech``: a turn is recognised
    only ``min_speech`` after its first speech frame, so a pre-roll shorter
    than that could not reach back to the first syllable from the moment
    ``SPEECH_STARTED`` fires. (:class:`TurnRecorder` keeps the whole candidate
    and measures the pre-roll back from the onset, so for it the rule is a
    safe floor.) Invalid values raise ``ValueError`` listing every problem.
    """

    speech_threshold_dbfs: float = -35.0  # a frame is speech when its level >= this
    min_speech: float = 0.2  # seconds of speech that make a turn start
    end_silence: float = 0.8  # seconds of silence that end a turn
    no_speech_timeout: float = 5.0  # give up when no turn has started by then
    max_turn: float = 20.0  # a turn is ended after this long
    pre_roll: float = 0.3  # seconds of audio kept before the first speech frame

    def __post_init__(self) -> None:
        problems = []
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                problems.append(f"{f.name} must be a number, got {value!r}")
            elif not math.isfinite(value):
                problems.append(f"{f.name} must be finite, got {value!r}")
            elif f.name == "speech_threshold_dbfs":
                if value > 0:
                    problems.append(
                        f"speech_threshold_dbfs must be <= 0 dBFS (full scale), got {value!r}"
                    )
            elif value <= 0:
                problems.append(f"{f.name} must be > 0 seconds, got {value!r}")
        if not problems:
            if self.pre_roll < self.min_speech:
                problems.append(
                    f"pre_roll ({self.pre_roll} s) must be >= min_speech ({self.min_speech} s):"
                    " the pre-roll has to cover the time speech needs to be recognised as a"
                    " turn, or the first syllable is cut off"
                )
            if self.max_turn <= self.min_speech:
                problems.append(
                    f"max_turn ({self.max_turn} s) must be longer than min_speech"
                    f" ({self.min_speech} s)"
                )
        if problems:
            raise ValueError("invalid turn settings: " + "; ".join(problems))


def _check_seconds(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ValueError(f"seconds must be a number, got {seconds!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"seconds must be finite and >= 0, got {seconds!r}")
    return float(seconds)


class TurnSegmenter:
    """Pure state machine in seconds: feed ``(seconds, is_speech)``; returns events.

    Times are seconds relative to the start of listening (construction or the
    last :meth:`reset`). Attributes:

    ``state``            the :class:`VadState`
    ``elapsed``          seconds processed since listening began
    ``speech_seconds``   speech time in the current candidate or turn (gaps excluded)
    ``silence_seconds``  length of the current run of non-speech since the last speech
    ``onset_at``         start of the first speech chunk of the current candidate or
                         turn, ``None`` while QUIET (and after the turn is over)
    ``turn_started_at``  onset of the turn once ``SPEECH_STARTED`` fired, else ``None``
    ``speech_ended_at``  end of the last speech chunk of the turn, else ``None``
    ``turn_ended_at``    when the ending event fired, else ``None``
    ``end_reason``       the ending event, else ``None``
    """

    def __init__(self, settings: TurnSettings = TurnSettings()):
        if not isinstance(settings, TurnSettings):
            raise TypeError(f"settings must be TurnSettings, got {type(settings).__name__}")
        self.settings = settings
        self.reset()

    def reset(self) -> None:
        """Forget everything and listen for a new turn; the clock restarts at 0."""
        self.state = VadState.QUIET
        self.elapsed = 0.0
        self.speech_seconds = 0.0
        self.silence_seconds = 0.0
        self.onset_at: float | None = None
        self.turn_started_at: float | None = None
        self.speech_ended_at: float | None = None
        self.turn_ended_at: float | None = None
        self.end_reason: TurnEvent | None = None
        self._started = False  # prime() or process() was called
        self._priming = False

    # ------------------------------------------------------------------ queries

    @property
    def done(self) -> bool:
        """True once an ending event (stopped, max length, no speech) fired."""
        return self.end_reason is not None

    @property
    def in_turn(self) -> bool:
        """True between ``SPEECH_STARTED`` and the end of the turn."""
        return self.state in (VadState.SPEAKING, VadState.STOPPING)

    # ------------------------------------------------------------------ input

    def prime(self, chunks: Iterable[tuple[float, bool]]) -> list[TurnEvent]:
        """Feed what was heard *before* listening began (while the bot talked).

        ``chunks`` are ``(seconds, is_speech)`` pairs, oldest first, ending
        at the moment listening begins; they get negative times. Must be
        called before the first :meth:`process` (after construction or
        :meth:`reset`). The chunks run through the same state machine, except
        that neither timeout applies and a turn that already *ended* during
        the prompt is forgotten. Only speech still going on at the end of the
        prompt carries over:

        * a turn in progress (SPEAKING/STOPPING): returns ``[SPEECH_STARTED]``
          right away; its onset (``turn_started_at``) is negative and its
          length counts towards ``max_turn``;
        * a candidate (STARTING): its speech time counts towards
          ``min_speech``, so the turn starts after less speech;
        * otherwise: returns ``[]`` and the segmenter is simply QUIET.
        """
        if self._started:
            raise RuntimeError("prime() must be called before process(); call reset() first")
        chunks = [(_check_seconds(s), bool(speech)) for s, speech in chunks]
        self._started = True
        self.elapsed = -math.fsum(s for s, _ in chunks)
        self._priming = True
        try:
            for seconds, is_speech in chunks:
                self._step(seconds, is_speech)
        finally:
            self._priming = False
        self.elapsed = 0.0  # exact, whatever rounding the sum collected
        return [TurnEvent.SPEECH_STARTED] if self.in_turn else []

    def process(self, seconds: float, is_speech: bool) -> list[TurnEvent]:
        """Advance time by ``seconds`` of audio classified as ``is_speech``."""
        seconds = _check_seconds(seconds)
        self._started = True
        if self.done:
            self.elapsed += seconds
            return []
        return self._step(seconds, bool(is_speech))

    # ------------------------------------------------------------------ machine

    def _step(self, seconds: float, is_speech: bool) -> list[TurnEvent]:
        s = self.settings
        events: list[TurnEvent] = []
        start = self.elapsed
        end = self.elapsed = start + seconds

        if self.state is VadState.QUIET:
            if is_speech:
                self.state = VadState.STARTING
                self.onset_at = start
                self.speech_seconds = seconds
                self.silence_seconds = 0.0
                self.speech_ended_at = end
                if self.speech_seconds >= s.min_speech - _EPS:
                    events.append(self._begin_turn())
        elif self.state is VadState.STARTING:
            if is_speech:
                self.speech_seconds += seconds
                self.silence_seconds = 0.0
                self.speech_ended_at = end
                if self.speech_seconds >= s.min_speech - _EPS:
                    events.append(self._begin_turn())
            else:
                self.silence_seconds += seconds
                if self.silence_seconds >= s.min_speech - _EPS:
                    self._clear()  # a click, a cough: not a turn
        else:  # SPEAKING or STOPPING
            if is_speech:
                self.state = VadState.SPEAKING
                self.speech_seconds += seconds
                self.silence_seconds = 0.0
                self.speech_ended_at = end
            else:
                self.state = VadState.STOPPING
                self.silence_seconds += seconds
                if self.silence_seconds >= s.end_silence - _EPS:
                    events.extend(self._end(TurnEvent.SPEECH_STOPPED, end))

        if self._priming:
            return events
        if self.in_turn and end - self.turn_started_at >= s.max_turn - _EPS:
            events.extend(self._end(TurnEvent.MAX_LENGTH, end))
        elif not self.in_turn and not self.done and end >= s.no_speech_timeout - _EPS:
            events.extend(self._end(TurnEvent.NO_SPEECH, end))
        return events

    def _begin_turn(self) -> TurnEvent:
        self.state = VadState.SPEAKING
        self.turn_started_at = self.onset_at
        return TurnEvent.SPEECH_STARTED

    def _clear(self) -> None:
        self.state = VadState.QUIET
        self.onset_at = None
        self.turn_started_at = None
        self.speech_ended_at = None
        self.speech_seconds = 0.0
        self.silence_seconds = 0.0

    def _end(self, reason: TurnEvent, at: float) -> list[TurnEvent]:
        if self._priming:  # a turn that ended during the prompt is forgotten
            self._clear()
            return []
        if reason is TurnEvent.NO_SPEECH:
            self._clear()
        self.state = VadState.QUIET
        self.onset_at = None
        self.turn_ended_at = at
        self.end_reason = reason
        return [reason]


class EnergyDetector:
    """``is_speech`` for one PCM frame: its RMS level in dBFS >= the threshold.

    No smoothing or hangover here -- :class:`TurnSegmenter` does that. The
    level of the last frame is kept in :attr:`last_level` (for logging and
    threshold tuning).
    """

    def __init__(self, threshold_dbfs: float = -35.0):
        if isinstance(threshold_dbfs, bool) or not isinstance(threshold_dbfs, (int, float)):
            raise ValueError(f"threshold_dbfs must be a number, got {threshold_dbfs!r}")
        if not math.isfinite(threshold_dbfs) or threshold_dbfs > 0:
            raise ValueError(f"threshold_dbfs must be finite and <= 0, got {threshold_dbfs!r}")
        self.threshold_dbfs = float(threshold_dbfs)
        self.last_level = float("-inf")

    def __call__(self, frame: bytes) -> bool:
        self.last_level = level_dbfs(frame)
        return self.last_level >= self.threshold_dbfs


@dataclass
class Turn:
    """One caller turn (or the lack of one).

    ``audio`` is 16-bit PCM at 8 kHz from ``pre_roll`` before the first speech
    frame up to the moment the turn ended, so it holds the pre-roll, the speech
    and at most ``end_silence`` of trailing silence (a little less when the
    pre-roll reaches back before the first audio received). Times are seconds
    since listening began; ``started_at`` is negative when the caller started
    talking during the bot's prompt (see :meth:`TurnRecorder.prime`).
    For ``NO_SPEECH`` the audio is empty and ``started_at == ended_at``.
    """

    audio: bytes
    started_at: float  # first speech frame
    ended_at: float  # when the ending event fired
    end_reason: TurnEvent  # SPEECH_STOPPED / MAX_LENGTH / NO_SPEECH

    @property
    def duration(self) -> float:
        """Seconds from the first speech frame to the end of the turn."""
        return self.ended_at - self.started_at


class TurnRecorder:
    """Frames in, a :class:`Turn` out: detector + :class:`TurnSegmenter` + pre-roll.

    Feed the caller's audio in 20 ms frames (any even number of bytes works;
    the frame length sets the time step) with :meth:`feed`. While nobody
    speaks only the last ``pre_roll`` seconds are kept; from the first speech
    frame on everything is kept until the turn ends or the candidate is
    discarded. When an ending event fires, :attr:`turn` holds the result; call
    :meth:`reset` to listen for the next turn -- the recent audio stays as the
    next turn's pre-roll.

    ``detector`` classifies a frame as speech; by default an
    :class:`EnergyDetector` with ``settings.speech_threshold_dbfs``.
    """

    def __init__(
        self,
        settings: TurnSettings = TurnSettings(),
        detector: Callable[[bytes], bool] | None = None,
    ):
        self.segmenter = TurnSegmenter(settings)
        self.settings = settings
        self.detector = detector or EnergyDetector(settings.speech_threshold_dbfs)
        self._pre_roll_samples = round(settings.pre_roll * SAMPLE_RATE)
        self._buf = bytearray()
        self._buf_start = 0  # absolute sample index of _buf[0]
        self._pos = 0  # absolute sample index just after the last sample received
        self._reset_listening()

    def _reset_listening(self) -> None:
        self.segmenter.reset()
        self._origin = self._pos  # absolute sample index of elapsed == 0
        self.turn: Turn | None = None
        self.frames_since_start = 0
        self.speech_frames_since_start = 0
        self._listening = False  # prime() or feed() was called since the reset
        self._trim()

    def reset(self) -> None:
        """Listen for a new turn (clock back to 0); recent audio stays as pre-roll."""
        self._reset_listening()

    # ------------------------------------------------------------------ queries

    @property
    def state(self) -> VadState:
        return self.segmenter.state

    @property
    def elapsed(self) -> float:
        """Seconds of audio fed since listening began."""
        return self.segmenter.elapsed

    @property
    def done(self) -> bool:
        """True once the listening period ended (:attr:`turn` is set)."""
        return self.turn is not None

    @property
    def buffered_seconds(self) -> float:
        """Seconds of audio currently held (pre-roll plus the turn so far)."""
        return len(self._buf) / (SAMPLE_WIDTH * SAMPLE_RATE)

    def turn_audio_so_far(self) -> bytes:
        """Audio of the turn under way, pre-roll included; ``b""`` before a turn starts.

        Lets a streaming recognizer start as soon as :attr:`TurnEvent.SPEECH_STARTED`
        fires; afterwards feed it each new frame.
        """
        if self.turn is not None:
            return self.turn.audio
        if self.segmenter.turn_started_at is None:
            return b""
        return self._audio_since_pre_roll()

    # ------------------------------------------------------------------ input

    def prime(self, frames: Iterable[bytes]) -> list[TurnEvent]:
        """Add audio captured while the bot's prompt played, oldest frame first.

        Call right after the prompt ends, before the first :meth:`feed` (after
        construction or :meth:`reset`). The audio becomes pre-roll, and speech
        still going on at the end of the prompt counts into the turn (see
        :meth:`TurnSegmenter.prime`): returns ``[SPEECH_STARTED]`` when the
        caller is already in the middle of a turn, so the turn starts
        immediately. Speech that ended during the prompt is not a turn.
        """
        if self._listening:
            raise RuntimeError(
                "prime() must be called once, before feed(); call reset() first"
            )
        self._listening = True
        chunks = []
        for frame in frames:
            frame = self._check(frame)
            if frame:
                chunks.append((self._seconds(frame), bool(self.detector(frame))))
                self._append(frame)
        events = self.segmenter.prime(chunks)
        self._origin = self._pos
        self._trim()
        return events

    def feed(self, frame: bytes) -> list[TurnEvent]:
        """Add one frame of caller audio; returns the events it caused."""
        frame = self._check(frame)
        self._listening = True
        if not frame:
            return []
        is_speech = bool(self.detector(frame))
        self._append(frame)
        self.frames_since_start += 1
        if is_speech:
            self.speech_frames_since_start += 1
        events = self.segmenter.process(self._seconds(frame), is_speech)
        for event in events:
            if event in ENDING_EVENTS:
                self.turn = self._make_turn(event)
        self._trim()
        return events

    # ------------------------------------------------------------------ buffer

    @staticmethod
    def _check(frame: bytes) -> bytes:
        frame = bytes(frame)
        if len(frame) % SAMPLE_WIDTH:
            raise AudioError(
                f"16-bit PCM frame must have an even number of bytes, got {len(frame)}"
            )
        return frame

    @staticmethod
    def _seconds(frame: bytes) -> float:
        return len(frame) / (SAMPLE_WIDTH * SAMPLE_RATE)

    def _append(self, frame: bytes) -> None:
        self._buf += frame
        self._pos += len(frame) // SAMPLE_WIDTH

    def _sample_at(self, t: float) -> int:
        """Absolute sample index of time ``t`` (seconds since listening began)."""
        return self._origin + round(t * SAMPLE_RATE)

    def _trim(self) -> None:
        """Drop audio that can no longer belong to a turn."""
        onset = self.segmenter.onset_at
        if onset is not None:  # candidate or turn: keep from pre_roll before its onset
            keep_from = self._sample_at(onset) - self._pre_roll_samples
        else:
            keep_from = self._pos - self._pre_roll_samples
        drop = keep_from - self._buf_start
        if drop > 0:
            del self._buf[: drop * SAMPLE_WIDTH]
            self._buf_start += drop

    def _make_turn(self, reason: TurnEvent) -> Turn:
        seg = self.segmenter
        ended_at = seg.turn_ended_at
        if reason is TurnEvent.NO_SPEECH:
            return Turn(audio=b"", started_at=ended_at, ended_at=ended_at, end_reason=reason)
        return Turn(
            audio=self._audio_since_pre_roll(), started_at=seg.turn_started_at, ended_at=ended_at,
            end_reason=reason,
        )

    def _audio_since_pre_roll(self) -> bytes:
        """Buffered audio from ``pre_roll`` before the turn's start to now."""
        start = max(self._buf_start, self._sample_at(self.segmenter.turn_started_at) - self._pre_roll_samples)
        return bytes(self._buf[(start - self._buf_start) * SAMPLE_WIDTH :])
