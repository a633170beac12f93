"""Test doubles for the session's call-I/O protocol and clock."""

from __future__ import annotations

import threading
from concurrent.futures import Future


class FakeClock:
    """Virtual time: sleep_until jumps forward instantly."""

    def __init__(self, start: float = 100.0):
        self.t = start

    def now(self) -> float:
        return self.t

    def sleep_until(self, deadline: float) -> None:
        self.t = max(self.t, deadline)


class FakeCall:
    """A call that records what the session wrote and when (on a FakeClock)."""

    def __init__(self, clock: FakeClock, caller_audio: list[bytes] | None = None, hang_up_at: float | None = None,
                 sample_rate: int = 8000):
        self.clock = clock
        self.sample_rate = sample_rate
        self.caller_audio = list(caller_audio or [])
        self.hang_up_at = hang_up_at
        self.written: list[tuple[float, bytes]] = []
        self.reads = 0
        self.hung_up_by_bot_at: float | None = None

    @property
    def active(self) -> bool:
        if self.hung_up_by_bot_at is not None:
            return False
        return self.hang_up_at is None or self.clock.now() < self.hang_up_at

    @property
    def ended_by(self) -> str | None:
        if self.hung_up_by_bot_at is not None:
            return "bot"
        return None if self.active else "caller"

    def read_frame(self) -> bytes | None:
        if not self.active:
            return None
        self.reads += 1
        return self.caller_audio.pop(0) if self.caller_audio else bytes(self.sample_rate // 50 * 2)

    def write_frame(self, frame: bytes) -> None:
        assert self.active, "wrote to a call that is down"
        self.written.append((self.clock.now(), frame))

    def hangup(self) -> None:
        self.hung_up_by_bot_at = self.clock.now()


class CannedTranscript:
    def __init__(self, text: str, confidence: float = 0.9):
        self.text = text
        self.confidence = confidence


class WatchedFuture(Future):
    """A Future that notes whether somebody waited on ``result()`` before it was resolved.

    (callbot.speech.transcripts.TranscriptFuture makes such a turn urgent for the decoder;
    futures.wait() does not count.)
    """

    def __init__(self):
        super().__init__()
        self.awaited = False

    def result(self, timeout=None):
        if not self.done():
            self.awaited = True
        return super().result(timeout)


class CannedStream:
    def __init__(self, text: str, delay: float = 0.0, rate: int = 8000):
        self.text = text
        self.rate = rate
        self.delay = delay
        self.fed = 0
        self.future: WatchedFuture | None = None

    def feed(self, pcm: bytes) -> None:
        self.fed += len(pcm)

    def finish(self) -> WatchedFuture:
        """The transcript, at once or (``delay``) that long after the turn ended, like a busy decoder."""
        if self.future is None:
            self.future = WatchedFuture()
            transcript = CannedTranscript(self.text)
            if self.delay:
                timer = threading.Timer(self.delay, self.future.set_result, [transcript])
                timer.daemon = True
                timer.start()
            else:
                self.future.set_result(transcript)
        return self.future

    def cancel(self) -> None:
        pass


class CannedRecognizer:
    """Stands in for Vosk where German words are needed: scripted transcripts, in turn order."""

    def __init__(self, *texts: str, delay: float = 0.0):
        import itertools

        self._texts = itertools.chain(texts, itertools.repeat(""))
        self.delay = delay
        self.streams: list[CannedStream] = []

    def stream(self, rate: int = 8000) -> CannedStream:
        stream = CannedStream(next(self._texts), self.delay, rate)
        self.streams.append(stream)
        return stream
