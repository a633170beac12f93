"""Voice activity: is one frame of caller audio speech? (The segmenter decides turns.)

:class:`EnergyDetector` says whether one PCM frame is speech: its RMS level in
dBFS (:func:`callbot.audio.level_dbfs`) is at or above a threshold. It feeds
:class:`callbot.speech.turns.TurnSegmenter` through
:class:`callbot.speech.recorder.TurnRecorder`, which accepts any ``detector``
callable ``(frame: bytes) -> bool``.

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
higher threshold. :class:`~callbot.speech.recorder.TurnRecorder` accepts any
``detector`` callable, so a spectral VAD can be plugged in later without
touching the segmenter.
"""

from __future__ import annotations

import math

from callbot.audio import level_dbfs

__all__ = ["EnergyDetector"]


class EnergyDetector:
    """``is_speech`` for one PCM frame: its RMS level in dBFS >= the threshold.

    No smoothing or hangover here -- :class:`~callbot.speech.turns.TurnSegmenter`
    does that. The level of the last frame is kept in :attr:`last_level` (for
    logging and threshold tuning).
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
