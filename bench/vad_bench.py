"""End of turn in noise, per detector: espeak-ng speech at -20 dBFS in pink/brown noise or babble.

    python bench/vad_bench.py

Prints, for each detector x noise x SNR, how long after the speech really ended the
turn ended (the README's table; the target is end_silence + 0.3 s = 1.1 s), and each
detector's CPU time per 20 ms frame. Deterministic: the same lines as tests/test_noise.py.
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import webrtcvad  # noqa: E402

from callbot.audio import FRAME_BYTES, SAMPLE_RATE  # noqa: E402
from callbot.speech.recorder import TurnRecorder  # noqa: E402
from callbot.speech.turns import TurnEvent, TurnSettings  # noqa: E402
from callbot.speech.vad import CombinedDetector, EnergyDetector  # noqa: E402
from rig.noise import SPEECH_TEXT, noise_for, noise_only, noisy_line  # noqa: E402
from rig.speech import espeak_pcm  # noqa: E402

SETTINGS = TurnSettings()
CASES = [("pink", 5), ("pink", 10), ("brown", 5), ("brown", 10), ("babble", 10), ("babble", 15), ("silence", 0)]


class WebRtcOnly:
    """webrtcvad alone (mode 2), for comparison."""

    def __init__(self):
        self.vad = webrtcvad.Vad(2)

    def __call__(self, frame: bytes) -> bool:
        return self.vad.is_speech(frame, SAMPLE_RATE)


DETECTORS = {
    "energy (-35 dBFS)": lambda: EnergyDetector(SETTINGS.speech_threshold_dbfs),
    "webrtcvad alone": WebRtcOnly,
    "combined (default)": lambda: CombinedDetector(SETTINGS.speech_threshold_dbfs),
}


def turn_end_delay(make, line) -> str:
    recorder = TurnRecorder(SETTINGS, detector=make())
    for i in range(0, len(line.pcm) - FRAME_BYTES + 1, FRAME_BYTES):
        recorder.feed(line.pcm[i : i + FRAME_BYTES])
        if recorder.done:
            break
    turn = recorder.turn
    if turn is None or turn.end_reason is not TurnEvent.SPEECH_STOPPED:
        return "> 6 s (max_turn)"
    return f"{turn.ended_at - line.speech_end:.2f} s"


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="vad_bench-"))
    speech = espeak_pcm(SPEECH_TEXT, work / "speech.wav")
    noises = {kind: noise_for(kind, 16.0, work) for kind in ("pink", "brown", "babble", "silence")}
    print(f"machine: {platform.node()} ({platform.processor() or platform.machine()}), "
          f"Python {platform.python_version()}")
    print("| detector | " + " | ".join(f"{k} {s} dB" if k != "silence" else "no noise" for k, s in CASES) + " |")
    print("|---" * (len(CASES) + 1) + "|")
    for name, make in DETECTORS.items():
        cells = [turn_end_delay(make, noisy_line(speech, noises[k], s, tail=6.0)) for k, s in CASES]
        print(f"| {name} | " + " | ".join(cells) + " |")
    pcm = noise_only(noises["babble"], 10.0, 10.0)
    frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]
    for name, make in DETECTORS.items():
        detector = make()
        start = time.process_time()
        for frame in frames:
            detector(frame)
        per_frame = (time.process_time() - start) / len(frames)
        print(f"{name}: {per_frame * 1e6:.1f} us CPU per 20 ms frame "
              f"({per_frame * 20 * 50 * 100:.2f} % of one core for 20 calls)")


if __name__ == "__main__":
    main()
