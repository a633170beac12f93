"""Turn taking: is the caller speaking, and when has the caller finished? Where a turn ends.

Three layers, each usable on its own:

A detector (:mod:`callbot.speech.vad`, chosen by ``TurnSettings.detector``)
    Says whether one PCM frame is speech: by default webrtcvad plus a running
    noise floor plus a level threshold (``combined``), or only the threshold (``energy``).
:class:`TurnSegmenter` (this module)
    A pure state machine in **seconds**. It is fed ``(seconds, is_speech)``
    and returns :class:`TurnEvent` values; it knows nothing about audio, so
    its timing rules are tested with plain floats and bools (the style of Home
    Assistant's ``VoiceCommandSegmenter``). The states follow pipecat's VAD:
    QUIET -> STARTING -> SPEAKING -> STOPPING.
:class:`~callbot.speech.recorder.TurnRecorder` (:mod:`callbot.speech.recorder`)
    Frames in, one :class:`~callbot.speech.recorder.Turn` out: detector +
    segmenter + a pre-roll buffer, so the recorded turn starts ``pre_roll``
    seconds before the first speech frame and the first syllable is never clipped.

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
:meth:`TurnSegmenter.prime` and :meth:`callbot.speech.recorder.TurnRecorder.prime`.
The bot does not cut its prompt short (no barge-in); a caller who starts
talking over the end of the prompt simply has that speech counted into the turn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from enum import Enum

__all__ = [
    "DETECTORS",
    "ENDING_EVENTS",
    "TurnEvent",
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


#: ``detector``: which frame classifier a TurnRecorder uses (see :mod:`callbot.speech.vad`):
#: ``combined`` (webrtcvad + running noise floor + the threshold) or ``energy`` (the threshold only).
DETECTORS = ("combined", "energy")

#: Each setting's allowed range ``(lowest, highest, lowest excluded)``: the one rule that
#: TurnSettings enforces and the config loader reports key by key.
LIMITS: dict[str, tuple[float, float, bool]] = {
    "speech_threshold_dbfs": (-96.0, 0.0, False),
    "min_speech": (0.0, 300.0, True),
    "end_silence": (0.0, 300.0, True),
    "no_speech_timeout": (0.0, 300.0, True),
    "max_turn": (0.0, 300.0, True),
    "pre_roll": (0.0, 300.0, True),
    "max_wait": (0.0, 30.0, True),
    "max_hold": (0.0, 60.0, False),
}


@dataclass(frozen=True)
class TurnSettings:
    """Timing and threshold of turn detection; all durations in seconds.

    Every duration must be > 0, the threshold <= 0 dBFS, ``max_turn`` longer
    than ``min_speech``, and ``pre_roll >= min_speech``: a turn is recognised
    only ``min_speech`` after its first speech frame, so a pre-roll shorter
    than that could not reach back to the first syllable from the moment
    ``SPEECH_STARTED`` fires. (:class:`~callbot.speech.recorder.TurnRecorder`
    keeps the whole candidate and measures the pre-roll back from the onset,
    so for it the rule is a safe floor.) Invalid values raise ``ValueError``
    listing every problem.
    """

    speech_threshold_dbfs: float = -35.0  # a frame is speech when its level >= this
    min_speech: float = 0.2  # seconds of speech that make a turn start
    end_silence: float = 0.8  # seconds of silence that end a turn
    no_speech_timeout: float = 5.0  # give up when no turn has started by then
    max_turn: float = 20.0  # a turn is ended after this long
    pre_roll: float = 0.3  # seconds of audio kept before the first speech frame
    max_wait: float = 1.2  # after the caller's turn: wait this long for the words a decision needs …
    max_hold: float = 4.0  # … then say `one_moment` and wait at most this much longer, then decide without them
    detector: str = "combined"  # frame classifier: "combined" or "energy" (DETECTORS)

    def __post_init__(self) -> None:
        problems = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in LIMITS:  # detector: a name, checked below
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                problems.append(f"{f.name} must be a number, got {value!r}")
            elif not math.isfinite(value):
                problems.append(f"{f.name} must be finite, got {value!r}")
            else:
                lo, hi, lo_excluded = LIMITS[f.name]
                unit = "dBFS" if f.name == "speech_threshold_dbfs" else "seconds"
                if value > hi:
                    full = " (full scale)" if unit == "dBFS" else ""
                    problems.append(f"{f.name} must be <= {hi:g} {unit}{full}, got {value!r}")
                elif value < lo or (lo_excluded and value == lo):
                    op = ">" if lo_excluded else ">="
                    problems.append(f"{f.name} must be {op} {lo:g} {unit}, got {value!r}")
        if self.detector not in DETECTORS:
            choices = ", ".join(repr(d) for d in DETECTORS)
            problems.append(f"detector must be one of {choices}, got {self.detector!r}")
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
