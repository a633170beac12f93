"""Shared fixtures: short test prompts, configs for a bot on loopback, a running bot."""

from __future__ import annotations

import contextlib
import math
import random
import socket
import struct
from dataclasses import replace
from pathlib import Path

import pytest

from callbot.audio import SAMPLE_RATE, write_wav
from callbot.config.model import Config, default_config

REPO = Path(__file__).resolve().parent.parent


def tone(seconds: float, freq: float = 440.0, dbfs: float = -12.0) -> bytes:
    """A sine tone as 16-bit 8 kHz PCM (a stand-in prompt whose length we know exactly)."""
    amplitude = 32767 * 10 ** (dbfs / 20) * math.sqrt(2)
    n = int(seconds * SAMPLE_RATE)
    return struct.pack(f"<{n}h", *(int(amplitude * math.sin(2 * math.pi * freq * i / SAMPLE_RATE)) for i in range(n)))


#: SIP ports for the bot in tests come from here: below the kernel's ephemeral range
#: (32768-60999), where the tests' RTP blocks (41000-60000, 42000-42099 …) and SIPp live,
#: so a SIP port can never fall inside the bot's own RTP range.
SIP_TEST_PORTS = range(20000, 30000)


def free_udp_port() -> int:
    for _ in range(100):
        port = random.choice(SIP_TEST_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free UDP port in 20000-29999 on 127.0.0.1")


#: Stand-in prompts: id -> (seconds, frequency). Frequencies at least 110 Hz
#: apart let tests tell from the received RTP which prompt was played.
SHORT_PROMPTS = {
    "withheld": (2.0, 400),
    "hello": (1.5, 660),
    "greeting": (0.6, 520),
    "recording_notice": (0.6, 770),
    "ask_identity": (1.0, 880),
    "ask_purpose": (0.8, 1100),
    "still_there": (0.5, 990),
    "ask_website": (0.7, 1210),
    "offer": (1.2, 1430),
    "offer_thanks": (0.6, 1550),
    "alternative": (0.9, 1700),
    "take_message": (0.8, 1850),
    "goodbye": (0.6, 1320),
    "no_response": (0.7, 2000),
    "blocked": (1.0, 2150),
    "one_moment": (0.9, 2300),
}


@pytest.fixture
def short_prompts(tmp_path: Path) -> Path:
    """prompts/<lang>/ with short tones standing in for every prompt (see SHORT_PROMPTS)
    and the shipped default script."""
    root = tmp_path / "prompts"
    for lang in ("de", "en"):
        (root / lang).mkdir(parents=True)
        for prompt_id, (seconds, freq) in SHORT_PROMPTS.items():
            write_wav(root / lang / f"{prompt_id}.wav", tone(seconds, freq))
        (root / lang / "script.toml").write_text((REPO / "prompts" / lang / "script.toml").read_text())
    return root


_port_block = iter(range(41000, 60000, 40))


def loopback_config(tmp_path: Path, prompts: Path, unknown: str = "greet", transcription: str = "off", **sip) -> Config:
    """A config for a bot on 127.0.0.1 that does not register (direct INVITEs).

    Numbered callers are greeted (``hello``) unless ``unknown="screen"``;
    transcription is off unless asked for.
    """
    config = default_config(tmp_path)
    rtp_low = next(_port_block)
    sip_settings = dict(
        register=False, local_ip="127.0.0.1", local_port=free_udp_port(),
        rtp_port_min=rtp_low, rtp_port_max=rtp_low + 39,
    )
    sip_settings.update(sip)
    return replace(
        config,
        sip=replace(config.sip, **sip_settings),
        prompts=replace(config.prompts, dir=prompts),
        calls=replace(config.calls, unknown=unknown),
        speech=replace(config.speech, transcription=transcription),
    )


@contextlib.contextmanager
def running_bot(config: Config):
    from callbot.app import Bot

    bot = Bot(config)
    bot.start()
    try:
        yield bot
    finally:
        bot.stop()


def prompt_sequence(pcm: bytes, min_frames: int = 3) -> list[tuple[str, float]]:
    """Which stand-in prompts (SHORT_PROMPTS tones) a stream of bot audio contains, in order.

    Each 20 ms frame louder than -40 dBFS is matched to the nearest prompt tone
    by its dominant frequency; runs of the same prompt become (prompt id, seconds).
    """
    import numpy as np

    by_freq = {freq: prompt_id for prompt_id, (_, freq) in SHORT_PROMPTS.items()}
    freqs = np.array(sorted(by_freq))
    samples = np.frombuffer(pcm[: len(pcm) // 320 * 320], dtype="<i2").astype(np.float64).reshape(-1, 160)
    window = np.hanning(160 * 4)
    runs: list[list] = []
    for frame in samples:
        rms = np.sqrt(np.mean(frame ** 2))
        if rms < 32768 * 10 ** (-40 / 20):
            runs.append(["", 1])
            continue
        spectrum = np.abs(np.fft.rfft(np.tile(frame, 4) * window))
        peak = np.fft.rfftfreq(640, 1 / SAMPLE_RATE)[int(np.argmax(spectrum))]
        nearest = freqs[int(np.argmin(np.abs(freqs - peak)))]
        label = by_freq[int(nearest)] if abs(nearest - peak) < 70 else "?"
        if runs and runs[-1][0] == label:
            runs[-1][1] += 1
        else:
            runs.append([label, 1])
    merged: list[list] = []
    for label, count in runs:
        if not label or count < min_frames:
            continue
        if merged and merged[-1][0] == label:
            merged[-1][1] += count
        else:
            merged.append([label, count])
    return [(label, round(count * 0.02, 2)) for label, count in merged]
