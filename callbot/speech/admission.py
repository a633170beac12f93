"""Admission to the decoders: live recognition only while the decoders can follow in real time.

A call is transcribed live only while ``live calls × RTF ≤ decoders × SAFETY`` (RTF: the
engine's compute real-time factor, measured at start on bundled speech). A call beyond
that capacity is recorded now and transcribed after the call, when the decoders have
room, oldest first — so no caller's wait grows with the load.
"""

from __future__ import annotations

import math
import threading
import time

from callbot.audio import SAMPLE_RATE, duration_seconds

__all__ = ["SAFETY", "Admission", "capacity_for", "measure_rtf"]

#: Share of the decoders' compute that live calls may take. The decoders run at idle priority,
#: but a machine they saturate still delays the calls' own audio threads: on 2 cores with 16
#: callers, 9 live streams (0.8) made turns end early; 4-5 (0.4) kept every turn
#: (bench/turn_bench.py). The rest also absorbs bursts and the after-call work.
SAFETY = 0.4
#: How long the start-up measurement may take before it is given up (seconds).
MEASURE_TIMEOUT = 120.0


def capacity_for(rtf: float, decoders: int, safety: float = SAFETY) -> int:
    """How many callers the decoders follow live: ``floor(decoders × safety / rtf)``, at least 1."""
    if not rtf or rtf <= 0 or not math.isfinite(rtf):
        return max(1, decoders)
    return max(1, math.floor(decoders * safety / rtf))


def measure_rtf(recognizer, pcm: bytes, rate: int = SAMPLE_RATE, timeout: float = MEASURE_TIMEOUT) -> float:
    """The recognizer's compute real-time factor on ``pcm`` (16-bit PCM at ``rate`` Hz):
    decoding wall time / audio time.

    One stream at ``rate``, the whole audio fed at once (so the figure is compute, not pacing)."""
    seconds = duration_seconds(pcm, rate)
    if seconds <= 0:
        raise ValueError("no audio to measure the recognizer with")
    started = time.monotonic()
    stream = recognizer.stream(rate)
    stream.feed(pcm)
    stream.finish().result(timeout=timeout)
    return (time.monotonic() - started) / seconds


class Admission:
    """Counts the calls transcribed live (``capacity`` None admits every call) and the calls in
    progress (live or not), so work after the call knows whether callers need the machine."""

    def __init__(self, capacity: int | None):
        if capacity is not None and capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity!r}")
        self.capacity = capacity
        self._live = 0
        self._calls = 0
        self._lock = threading.Lock()

    @property
    def live(self) -> int:
        return self._live

    @property
    def calls(self) -> int:
        """Calls in progress right now (see :meth:`call_started`)."""
        return self._calls

    def call_started(self) -> None:
        with self._lock:
            self._calls += 1

    def call_ended(self) -> None:
        with self._lock:
            self._calls = max(0, self._calls - 1)

    def try_admit(self) -> bool:
        """Take a live slot if one is free (a call or one after-call turn)."""
        with self._lock:
            if self.capacity is not None and self._live >= self.capacity:
                return False
            self._live += 1
            return True

    def release(self) -> None:
        with self._lock:
            if self._live <= 0:
                raise RuntimeError("release() without a matching try_admit()")
            self._live -= 1
