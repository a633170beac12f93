"""Recording one caller turn: frames in, one :class:`Turn` out.

:class:`TurnRecorder` puts together a detector (by default the one
``settings.detector`` names, see :func:`callbot.speech.vad.make_detector`), the pure
:class:`callbot.speech.turns.TurnSegmenter` (which decides where a turn starts
and ends) and a pre-roll buffer, so the recorded turn starts ``pre_roll``
seconds before the first speech frame and the first syllable is never clipped.
It works at the call's sample rate (``rate``: 8 kHz for G.711 calls, 16 kHz for
G.722 wideband calls, :data:`callbot.audio.RATES`). :class:`Turn` is its
result: the audio (and its rate) and times of one turn (not a stored call's
turn row).

Audio that arrives while the bot is still talking is not thrown away: see
:meth:`TurnRecorder.prime`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from numbers import Integral

from callbot.audio import RATES, SAMPLE_RATE, SAMPLE_WIDTH
from callbot.errors import AudioError
from callbot.speech.turns import ENDING_EVENTS, TurnEvent, TurnSegmenter, TurnSettings, VadState
from callbot.speech.vad import make_detector

__all__ = ["Turn", "TurnRecorder"]


@dataclass
class Turn:
    """One caller turn (or the lack of one).

    ``audio`` is 16-bit PCM at ``rate`` Hz (the recorder's: 8000 or 16000) from
    ``pre_roll`` before the first speech frame up to the moment the turn
    ended, so it holds the pre-roll, the speech
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
    rate: int = SAMPLE_RATE  # sample rate of ``audio`` (Hz)

    @property
    def duration(self) -> float:
        """Seconds from the first speech frame to the end of the turn."""
        return self.ended_at - self.started_at

    @property
    def audio_seconds(self) -> float:
        """Seconds of :attr:`audio` (pre-roll and trailing silence included)."""
        return len(self.audio) / (SAMPLE_WIDTH * self.rate)


class TurnRecorder:
    """Frames in, a :class:`Turn` out: detector + :class:`TurnSegmenter` + pre-roll.

    Feed the caller's audio, 16-bit mono PCM at ``rate`` Hz (the call's rate, one of
    :data:`callbot.audio.RATES`; another is an :class:`AudioError`), in 20 ms frames
    (320 bytes at 8 kHz, 640 at 16 kHz; any even number of bytes works, the frame
    length sets the time step) with :meth:`feed`. While nobody speaks only
    the last ``pre_roll`` seconds are kept; from the first speech
    frame on everything is kept until the turn ends or the candidate is
    discarded. When an ending event fires, :attr:`turn` holds the result; call
    :meth:`reset` to listen for the next turn -- the recent audio stays as the
    next turn's pre-roll.

    ``detector`` classifies a frame as speech; by default a new one of the kind
    ``settings.detector`` names, at ``rate`` (:func:`~callbot.speech.vad.make_detector`:
    the combined detector, or the energy detector with ``settings.speech_threshold_dbfs``);
    a detector given here must expect frames at ``rate``. A detector keeps the
    line's noise floor, so give each recorder its own.
    """

    def __init__(
        self,
        settings: TurnSettings = TurnSettings(),
        detector: Callable[[bytes], bool] | None = None,
        rate: int = SAMPLE_RATE,
    ):
        if isinstance(rate, bool) or not isinstance(rate, Integral) or int(rate) not in RATES:
            raise AudioError(f"a turn can only be recorded at {RATES} Hz, not at {rate!r} Hz")
        #: Sample rate of the audio fed and recorded (Hz).
        self.rate = int(rate)
        self.segmenter = TurnSegmenter(settings)
        self.settings = settings
        self.detector = detector or make_detector(settings, self.rate)
        self._pre_roll_samples = round(settings.pre_roll * self.rate)
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
        return len(self._buf) / (SAMPLE_WIDTH * self.rate)

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

    def _seconds(self, frame: bytes) -> float:
        return len(frame) / (SAMPLE_WIDTH * self.rate)

    def _append(self, frame: bytes) -> None:
        self._buf += frame
        self._pos += len(frame) // SAMPLE_WIDTH

    def _sample_at(self, t: float) -> int:
        """Absolute sample index of time ``t`` (seconds since listening began)."""
        return self._origin + round(t * self.rate)

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
            return Turn(audio=b"", started_at=ended_at, ended_at=ended_at, end_reason=reason, rate=self.rate)
        return Turn(
            audio=self._audio_since_pre_roll(), started_at=seg.turn_started_at, ended_at=ended_at,
            end_reason=reason, rate=self.rate,
        )

    def _audio_since_pre_roll(self) -> bytes:
        """Buffered audio from ``pre_roll`` before the turn's start to now."""
        start = max(self._buf_start, self._sample_at(self.segmenter.turn_started_at) - self._pre_roll_samples)
        return bytes(self._buf[(start - self._buf_start) * SAMPLE_WIDTH :])
