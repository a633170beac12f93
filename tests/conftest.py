"""Shared fixtures: short test prompts, configs for a bot on loopback, a running bot."""

from __future__ import annotations

import contextlib
import math
import socket
import struct
from dataclasses import replace
from pathlib import Path

import pytest

from callbot.audio import SAMPLE_RATE, write_wav
from callbot.config import Config, default_config

REPO = Path(__file__).resolve().parent.parent


def tone(seconds: float, freq: float = 440.0, dbfs: float = -12.0) -> bytes:
    """A sine tone as 16-bit 8 kHz PCM (a stand-in prompt whose length we know exactly)."""
    amplitude = 32767 * 10 ** (dbfs / 20) * math.sqrt(2)
    n = int(seconds * SAMPLE_RATE)
    return struct.pack(f"<{n}h", *(int(amplitude * math.sin(2 * math.pi * freq * i / SAMPLE_RATE)) for i in range(n)))


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: Stand-in prompts: id -> (seconds, frequency). Distinct frequencies let tests
#: tell from the received RTP which prompt was played.
SHORT_PROMPTS = {
    "withheld": (2.0, 440),
    "hello": (1.5, 660),
    "ask_identity": (1.0, 880),
    "ask_purpose": (0.8, 1100),
    "goodbye": (0.6, 1320),
}


@pytest.fixture
def short_prompts(tmp_path: Path) -> Path:
    """prompts/<lang>/ with short tones standing in for every prompt (see SHORT_PROMPTS)."""
    root = tmp_path / "prompts"
    for lang in ("de", "en"):
        (root / lang).mkdir(parents=True)
        for prompt_id, (seconds, freq) in SHORT_PROMPTS.items():
            write_wav(root / lang / f"{prompt_id}.wav", tone(seconds, freq))
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
    from callbot.bot import Bot

    bot = Bot(config)
    bot.start()
    try:
        yield bot
    finally:
        bot.stop()
