"""Noisy caller lines for tests and benchmarks: espeak-ng speech in pink/brown noise or babble.

Everything here is deterministic: sox makes the noise in its repeatable mode (``-R``, a
fixed seed), babble is espeak-ng voices (deterministic) at fixed offsets, and each
mix is scaled so the noise sits exactly ``snr_db`` below the speech's RMS level
(speech and noise measured over the whole band at 8 kHz).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from callbot.audio import SAMPLE_RATE

from rig.speech import espeak_pcm

#: The caller's answer (German, about 3 s) and its level: speech ≈ -20 dBFS RMS.
SPEECH_TEXT = "Guten Tag, mein Name ist Thomas Müller von der Firma Vergleichsportal."
SPEECH_DBFS = -20.0

#: Babble: several espeak-ng talkers at once (voice, words per minute, text), each
#: looped and started at its own offset, so the mix never pauses.
BABBLE_TALKERS = (
    ("de+m3", 160, "Wir haben das Angebot gestern besprochen, und der Termin steht noch nicht fest."),
    ("de+f2", 175, "Könnten Sie mir bitte die Unterlagen bis Freitag schicken, das wäre sehr nett."),
    ("en-us+m1", 170, "I told him the meeting was moved to Thursday afternoon after lunch."),
    ("en+f4", 150, "The printer on the second floor is broken again, somebody should call them."),
    ("de+m5", 145, "Das Projekt läuft gut, aber wir brauchen noch zwei Leute für die Abnahme."),
    ("fr+f1", 165, "Nous avons reçu la facture ce matin, il faut la vérifier avant midi."),
)
BABBLE_TALKER_GAIN_DB = (0.0, -2.0, -1.0, -3.0, -1.5, -2.5)


def _samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def _pcm(x: np.ndarray) -> bytes:
    return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()


def rms_dbfs(x: np.ndarray) -> float:
    return 10.0 * np.log10(np.mean(np.square(x)) / 32768.0**2)


def scale_to(x: np.ndarray, dbfs: float) -> np.ndarray:
    return x * 10 ** ((dbfs - rms_dbfs(x)) / 20)


def sox_noise(kind: str, seconds: float) -> np.ndarray:
    """``pinknoise`` / ``brownnoise`` / ``whitenoise`` from sox at 8 kHz, the same on every run."""
    out = subprocess.run(
        ["sox", "-R", "-n", "-r", str(SAMPLE_RATE), "-b", "16", "-c", "1", "-e", "signed-integer",
         "-t", "raw", "-", "synth", f"{seconds:.3f}", kind, "vol", "0.5"],
        check=True, capture_output=True,
    ).stdout
    return _samples(out)


def babble(seconds: float, workdir: Path) -> np.ndarray:
    """Office babble: :data:`BABBLE_TALKERS` talking at once, ``seconds`` long."""
    n = int(seconds * SAMPLE_RATE)
    mix = np.zeros(n)
    for i, ((voice, speed, text), gain) in enumerate(zip(BABBLE_TALKERS, BABBLE_TALKER_GAIN_DB)):
        talker = _samples(espeak_pcm(text, workdir / f"babble{i}.wav", voice=voice, speed=speed))
        talker = np.concatenate([talker, np.zeros(int(0.15 * SAMPLE_RATE))])  # breath between sentences
        looped = np.tile(talker, n // talker.size + 2)
        offset = (i * 7919) % talker.size  # each talker starts elsewhere in its sentence
        mix += scale_to(looped[offset : offset + n], -20.0 + gain)
    return mix


@dataclass(frozen=True)
class NoisyLine:
    """A caller's answer in noise: the mixed PCM and when the speech really starts and ends."""

    pcm: bytes
    speech_start: float
    speech_end: float


def noisy_line(speech: bytes, noise: np.ndarray | None, snr_db: float, *, lead: float = 2.0,
               tail: float = 3.0) -> NoisyLine:
    """``lead`` s of noise, ``speech`` at :data:`SPEECH_DBFS`, ``tail`` s of noise; the noise
    ``snr_db`` below the speech (``noise`` None: digital silence)."""
    s = scale_to(_samples(speech), SPEECH_DBFS)
    n_lead, n_tail = int(lead * SAMPLE_RATE), int(tail * SAMPLE_RATE)
    x = np.concatenate([np.zeros(n_lead), s, np.zeros(n_tail)])
    if noise is not None:
        if noise.size < x.size:
            raise ValueError(f"noise too short: {noise.size} < {x.size} samples")
        x = x + scale_to(noise[: x.size], SPEECH_DBFS - snr_db)
    return NoisyLine(_pcm(x), lead, lead + s.size / SAMPLE_RATE)


def noise_for(kind: str, seconds: float, workdir: Path) -> np.ndarray | None:
    """``"pink"``, ``"brown"``, ``"babble"`` or ``"silence"`` (None), ``seconds`` long."""
    if kind == "silence":
        return None
    if kind == "babble":
        return babble(seconds, workdir)
    return sox_noise(f"{kind}noise", seconds)


def noise_only(noise: np.ndarray, snr_db: float, seconds: float) -> bytes:
    """``seconds`` of ``noise`` alone, at the level it has in a :func:`noisy_line` at ``snr_db``."""
    return _pcm(scale_to(noise[: int(seconds * SAMPLE_RATE)], SPEECH_DBFS - snr_db))
