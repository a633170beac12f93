"""The background level of a line: the speech-band level of a frame, and a running noise floor.

:func:`band_power` measures how much of a frame lies in the telephone speech band
(250-3500 Hz, or up to the Nyquist frequency): rumble, hum and brown noise below it
do not count. :class:`NoiseFloor` tracks the background level by *minimum
statistics* (R. Martin, 2001): the lowest smoothed level of the last ``window``
seconds. Between words and sentences a talker always drops back to the background,
so the minimum follows the noise, not the speech; when the noise gets louder the
floor rises with it within ``window`` seconds, when it gets quieter at once.

All of it is rate-aware: frames may be of any length and any sample rate.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

__all__ = ["BAND_HZ", "MovingPower", "NoiseFloor", "band_power", "power_db"]

#: The speech band whose level is compared with the floor (the telephone band).
BAND_HZ = (250.0, 3500.0)
#: Levels are clamped here (digital silence would be -inf).
MIN_DB = -120.0
_FULL_SCALE_SQUARED = 32768.0 * 32768.0

# (samples, rate) -> (Hann window, mask of the band's FFT bins, power normalisation)
_WINDOWS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, float]] = {}


def _window(n: int, rate: int) -> tuple[np.ndarray, np.ndarray, float]:
    key = (n, rate)
    if key not in _WINDOWS:
        window = np.hanning(n + 2)[1:-1].astype(np.float32)  # no zero end points
        freqs = np.fft.rfftfreq(n, 1.0 / rate)
        lo, hi = BAND_HZ
        mask = (freqs >= lo) & (freqs <= min(hi, rate / 2))
        # Parseval: mean square of the windowed frame = (|X0|^2 + 2 sum |Xk|^2 ...) / n^2
        norm = 2.0 / (n * float(np.sum(window * window)))
        _WINDOWS[key] = (window, mask, norm)
    return _WINDOWS[key]


def band_power(samples: np.ndarray, rate: int) -> float:
    """Mean-square power of ``samples`` (int16 values as floats) in :data:`BAND_HZ`,
    relative to a full-scale square (so ``power_db`` of it is in dBFS)."""
    n = samples.size
    if n < 8:
        return float(np.mean(np.square(samples))) / _FULL_SCALE_SQUARED if n else 0.0
    window, mask, norm = _window(n, rate)
    spectrum = np.fft.rfft(samples * window)
    power = spectrum.real[mask] ** 2 + spectrum.imag[mask] ** 2
    return float(np.sum(power)) * norm / _FULL_SCALE_SQUARED


def power_db(power: float) -> float:
    """A power (1.0 = full scale) in dB, clamped at :data:`MIN_DB`."""
    return 10.0 * math.log10(power) if power > 10 ** (MIN_DB / 10) else MIN_DB


class NoiseFloor:
    """The background level in dB: the minimum of the levels of the last ``window`` seconds.

    Kept as the minima of ``block``-second blocks (so one update is O(1) amortised,
    whatever the frame length). Before the first update the floor is ``+inf``:
    nothing stands out from a background not yet heard.
    """

    def __init__(self, window: float = 3.0, block: float = 0.25):
        if not (0 < block <= window) or not math.isfinite(window):
            raise ValueError(f"need 0 < block <= window, got block={block!r}, window={window!r}")
        self.block = float(block)
        self._blocks: deque[float] = deque(maxlen=max(1, round(window / block)))
        self._current = math.inf  # minimum of the block being filled
        self._current_seconds = 0.0
        self.level = math.inf

    def update(self, level_db: float, seconds: float) -> float:
        """Add the level of ``seconds`` of audio; returns the floor including it."""
        self._current = min(self._current, level_db)
        self._current_seconds += seconds
        floor = min(self._current, min(self._blocks, default=math.inf))
        if self._current_seconds >= self.block - 1e-9:
            self._blocks.append(self._current)
            self._current, self._current_seconds = math.inf, 0.0
        self.level = floor
        return floor


class MovingPower:
    """The mean power of the last ``seconds`` of frames (a moving average, so it forgets fully)."""

    def __init__(self, seconds: float):
        self.seconds = float(seconds)
        self._frames: deque[tuple[float, float]] = deque()  # (seconds, power)
        self._span = 0.0
        self._energy = 0.0

    def update(self, power: float, seconds: float) -> float:
        self._frames.append((seconds, power))
        self._span += seconds
        self._energy += power * seconds
        while len(self._frames) > 1 and self._span - self._frames[0][0] >= self.seconds - 1e-9:
            old_seconds, old_power = self._frames.popleft()
            self._span -= old_seconds
            self._energy -= old_power * old_seconds
        return max(self._energy, 0.0) / self._span if self._span > 0 else 0.0
