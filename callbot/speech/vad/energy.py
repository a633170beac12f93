"""The energy detector: a frame is speech when its RMS level reaches a fixed threshold."""

from __future__ import annotations

import math

from callbot.audio import level_dbfs

__all__ = ["EnergyDetector", "check_threshold"]


def check_threshold(threshold_dbfs: float) -> float:
    """``threshold_dbfs`` as a float; ``ValueError`` unless it is a finite number <= 0."""
    if isinstance(threshold_dbfs, bool) or not isinstance(threshold_dbfs, (int, float)):
        raise ValueError(f"threshold_dbfs must be a number, got {threshold_dbfs!r}")
    if not math.isfinite(threshold_dbfs) or threshold_dbfs > 0:
        raise ValueError(f"threshold_dbfs must be finite and <= 0, got {threshold_dbfs!r}")
    return float(threshold_dbfs)


class EnergyDetector:
    """``is_speech`` for one PCM frame: its RMS level in dBFS >= the threshold.

    No smoothing or hangover here -- :class:`~callbot.speech.turns.TurnSegmenter`
    does that. The level of the last frame is kept in :attr:`last_level` (for
    logging and threshold tuning).
    """

    def __init__(self, threshold_dbfs: float = -35.0):
        self.threshold_dbfs = check_threshold(threshold_dbfs)
        self.last_level = float("-inf")

    def __call__(self, frame: bytes) -> bool:
        self.last_level = level_dbfs(frame)
        return self.last_level >= self.threshold_dbfs
