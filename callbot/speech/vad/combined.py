"""The combined detector: sounds like speech (webrtcvad) *and* stands out from the background.

A frame is speech when all three hold:

1. **it sounds like speech** -- by default webrtcvad (the WebRTC project's GMM voice
   activity detector, ``webrtcvad-wheels``) says so; any ``vad`` callable
   ``(frame) -> bool`` can take its place. Measured: webrtcvad takes any loud
   sound for speech -- pink, brown and white noise at -25 dBFS, babble, a 440 Hz
   tone -- so on its own it never ends a turn in loud noise, and in the noise tests
   rule 2 does the deciding. It only says no to quiet non-speech.
2. **it stands out from the background** -- its speech-band level, averaged over
   ``smoothing`` seconds, is at least ``margin_db`` above the running noise floor
   (:class:`~callbot.speech.vad.floor.NoiseFloor`). This is what ends a turn in
   loud stationary noise (which webrtcvad takes for speech at 5-10 dB SNR) and in
   office babble (which *is* speech to any VAD, only quieter than the caller).
3. **it is loud enough** -- its RMS level is at or above ``threshold_dbfs`` (the
   plain energy detector's rule, ``turns.speech_threshold_dbfs``), so faint sounds
   on a very quiet line never count.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import webrtcvad

from callbot.audio import SAMPLE_RATE
from callbot.speech.vad.energy import check_threshold
from callbot.speech.vad.floor import MovingPower, NoiseFloor, band_power, power_db

__all__ = ["CombinedDetector"]

#: Sample rates webrtcvad takes.
VAD_RATES = (8000, 16000, 32000, 48000)
_FULL_SCALE_SQUARED = 32768.0 * 32768.0


class CombinedDetector:
    """``is_speech`` for one PCM frame (16-bit mono at ``rate``): webrtcvad and the noise floor.

    ``margin_db`` (how far above the floor), ``smoothing`` and ``floor_window``
    (seconds) were tuned on the noise tests (``tests/test_noise.py``): 6 dB let
    babble alone start a turn, 8 dB starts turns later at 3-5 dB SNR.

    Frames may be any length: webrtcvad gets them whole when they are 10, 20 or 30 ms
    long, else in 10 ms pieces (the last piece's decision counts). One detector
    follows one line -- it keeps the line's noise floor, so make a new one per call
    (a :class:`~callbot.speech.recorder.TurnRecorder` does).

    The last frame's measurements are kept for logging and tuning: :attr:`last_level`
    (RMS dBFS), :attr:`last_band_level` (smoothed speech-band dB),
    :attr:`floor` (dB) and :attr:`last_vad` (webrtcvad's answer).
    """

    def __init__(
        self,
        threshold_dbfs: float = -35.0,
        *,
        rate: int = SAMPLE_RATE,
        margin_db: float = 7.0,
        smoothing: float = 0.2,
        floor_window: float = 3.0,
        mode: int = 2,
        vad: Callable[[bytes], bool] | None = None,
    ):
        self.threshold_dbfs = check_threshold(threshold_dbfs)
        if rate not in VAD_RATES:
            raise ValueError(f"rate must be one of {VAD_RATES} Hz, got {rate!r}")
        if mode not in (0, 1, 2, 3):
            raise ValueError(f"mode must be 0-3 (webrtcvad aggressiveness), got {mode!r}")
        if not margin_db >= 0:
            raise ValueError(f"margin_db must be >= 0, got {margin_db!r}")
        if not smoothing > 0:
            raise ValueError(f"smoothing must be > 0 seconds, got {smoothing!r}")
        self.rate = rate
        self.margin_db = float(margin_db)
        self._vad = webrtcvad.Vad(mode)
        self._custom_vad = vad
        self._piece = rate // 100  # samples in 10 ms
        self._pending = b""  # an incomplete 10 ms piece for webrtcvad
        self._power = MovingPower(smoothing)
        self._floor = NoiseFloor(floor_window)
        self.last_level = float("-inf")
        self.last_band_level = float("-inf")
        self.last_vad = False

    @property
    def floor(self) -> float:
        """The background's speech-band level in dB (``inf`` before the first frame)."""
        return self._floor.level

    def __call__(self, frame: bytes) -> bool:
        frame = bytes(frame)
        samples = np.frombuffer(frame, dtype="<i2").astype(np.float32)
        if samples.size == 0:
            return False
        seconds = samples.size / self.rate
        mean_square = float(np.mean(np.square(samples, dtype=np.float64))) / _FULL_SCALE_SQUARED
        self.last_level = power_db(mean_square) if mean_square > 0 else float("-inf")
        band = power_db(self._power.update(band_power(samples, self.rate), seconds))
        self.last_band_level = band
        floor = self._floor.update(band, seconds)
        self.last_vad = self._sounds_like_speech(frame)
        return (
            self.last_vad
            and self.last_level >= self.threshold_dbfs
            and band >= floor + self.margin_db
        )

    def _sounds_like_speech(self, frame: bytes) -> bool:
        """The VAD's decision; it sees every frame (webrtcvad's noise model adapts to the line)."""
        if self._custom_vad is not None:
            return bool(self._custom_vad(frame))
        if webrtcvad.valid_rate_and_frame_length(self.rate, len(frame) // 2) and not self._pending:
            return self._vad.is_speech(frame, self.rate)
        data = self._pending + frame
        step = 2 * self._piece
        decision = self.last_vad
        for start in range(0, len(data) - step + 1, step):
            decision = self._vad.is_speech(data[start : start + step], self.rate)
        self._pending = data[len(data) - len(data) % step :]
        return decision
