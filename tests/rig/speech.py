"""Caller speech for tests and benchmarks: espeak-ng, trimmed to the spoken part."""

from __future__ import annotations

import subprocess
from pathlib import Path

from callbot.audio import FRAME_BYTES, decode_file, level_dbfs

#: A 20 ms frame at or above this level counts as speech when trimming.
SPEECH_DBFS = -35.0


def espeak_pcm(text: str, wav: Path, voice: str = "de", speed: int = 150, rate: int = 8000) -> bytes:
    """``text`` spoken by espeak-ng as 16-bit PCM at ``rate`` (8 or 16 kHz), without
    leading/trailing silence (so a test knows exactly when the speech starts and ends)."""
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text], check=True)
    pcm = decode_file(wav, rate)
    size = FRAME_BYTES * rate // 8000
    frames = [pcm[i : i + size] for i in range(0, len(pcm), size)]
    loud = [i for i, f in enumerate(frames) if level_dbfs(f) >= SPEECH_DBFS]
    return b"".join(frames[loud[0] : loud[-1] + 1])


def talk_spans(frames, *, dbfs: float = -30.0, join: float = 0.3) -> list[tuple[float, float]]:
    """When the audio was loud: ``frames`` are ``(time, pcm16)`` in order; returns
    ``(first, last)`` times of each loud run, runs less than ``join`` seconds apart
    merged (prompts said back to back count as one time the bot talks)."""
    runs: list[list[float]] = []
    for at, pcm in frames:
        if level_dbfs(pcm) <= dbfs:
            continue
        if runs and at - runs[-1][1] < join:
            runs[-1][1] = at
        else:
            runs.append([at, at])
    return [(first, last) for first, last in runs]
