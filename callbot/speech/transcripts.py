"""What a recognizer gives back: :class:`Word`, :class:`Transcript` and :class:`TranscriptFuture`.

Plain values, free of vosk: the call layer, the store and the decoder process
all pass them around (:mod:`callbot.speech.recognizer` makes them).
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # seconds from the start of the turn's audio
    end: float
    confidence: float  # Vosk's word posterior, 0..1


@dataclass(frozen=True)
class Transcript:
    text: str  # words separated by single spaces; "" when nothing was recognised
    words: tuple[Word, ...]
    confidence: float | None  # mean word confidence; None when there are no words
    audio_seconds: float  # seconds of audio fed, at the turn's sample rate
    decode_seconds: float  # wall time spent inside the recognizer (creation included)

    @property
    def real_time_factor(self) -> float | None:
        """decode_seconds / audio_seconds (below 1 = faster than real time)."""
        return self.decode_seconds / self.audio_seconds if self.audio_seconds else None


class TranscriptFuture(Future):
    """``Future[Transcript]`` that tells the decoder when somebody waits for it.

    The first ``result()``/``exception()`` call on an unfinished transcript
    calls ``on_wait`` once: the turn becomes urgent and is decoded before
    turns nobody waits for. ``concurrent.futures.wait()`` and done-callbacks
    do not count (a background saver waiting for every turn should not
    overtake the caller the bot is deciding about).
    """

    def __init__(self, on_wait: Callable[[], None]):
        super().__init__()
        self._on_wait: Callable[[], None] | None = on_wait

    def result(self, timeout: float | None = None):
        self._waiting()
        return super().result(timeout)

    def exception(self, timeout: float | None = None):
        self._waiting()
        return super().exception(timeout)

    def _waiting(self) -> None:
        on_wait, self._on_wait = self._on_wait, None
        if on_wait is not None and not self.done():
            on_wait()
