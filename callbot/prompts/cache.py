"""Rendered prompt files: content keys, the cache and seed file names, reading and writing them.

A prompt is rendered at both call rates (:data:`callbot.audio.RATES`): 8 kHz
for G.711 calls and 16 kHz for G.722 (wideband) calls. Each render is cached
as a 16-bit mono WAV named by a hash of its content (the recording's bytes, or
text + TTS engine/voice/speed, plus :data:`RENDER_VERSION`), so an unchanged
prompt is never decoded or synthesized twice::

    <id>-<hash>.wav        the 8 kHz render (also the name of a shipped seed file)
    <id>-<hash>-16k.wav    the 16 kHz render (cache only: seeds are 8 kHz)
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import secrets
import shutil
import tempfile
import wave
from pathlib import Path

from callbot.audio import RATES, SAMPLE_RATE, SAMPLE_WIDTH
from callbot.errors import AudioError

DEFAULT_CACHE = Path("data") / "cache" / "prompts"
#: Bump whenever rendering changes, so every cached render is redone.
RENDER_VERSION = "1"
HASH_CHARS = 12  # hex digits of the content hash in file names


def recording_key(data: bytes) -> str:
    """Content hash of a recording file's bytes (plus the render version)."""
    h = hashlib.sha256(f"callbot-prompt\0{RENDER_VERSION}\0recording\0".encode())
    h.update(data)
    return h.hexdigest()


def tts_key(text: str, engine_key: str) -> str:
    """Content hash of a text prompt: its text, the engine/voice/speed and the render version."""
    h = hashlib.sha256(f"callbot-prompt\0{RENDER_VERSION}\0tts\0{engine_key}\0".encode())
    h.update(text.encode("utf-8"))
    return h.hexdigest()


def _check_rate(rate: int) -> int:
    if rate not in RATES:
        raise AudioError(f"prompts are rendered at {' or '.join(map(str, RATES))} Hz, not at {rate!r} Hz")
    return rate


def rendered_name(prompt_id: str, key: str, rate: int = SAMPLE_RATE) -> str:
    """File name of a rendered prompt in a cache or seed directory.

    ``<id>-<hash>.wav`` at 8 kHz (unchanged, so the shipped seeds keep their
    names), ``<id>-<hash>-16k.wav`` at 16 kHz; another rate is an AudioError.
    """
    suffix = "" if _check_rate(rate) == SAMPLE_RATE else f"-{rate // 1000}k"
    return f"{prompt_id}-{key[:HASH_CHARS]}{suffix}.wav"


def read_rendered(path: Path, rate: int = SAMPLE_RATE) -> bytes | None:
    """The PCM of a rendered prompt file (16-bit mono WAV at ``rate``), or None if unusable.

    A file of another rate (or channel count, or sample width) is unusable.
    """
    try:
        with wave.open(str(path), "rb") as wav:
            if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (rate, 1, SAMPLE_WIDTH):
                return None
            pcm = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error):
        return None
    return pcm or None


def write_rendered(path: Path, pcm: bytes, rate: int = SAMPLE_RATE) -> None:
    """Write ``pcm`` as a 16-bit mono WAV at ``rate``, atomically (a reader never sees half a file)."""
    _check_rate(rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.stem}-{os.getpid()}-{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # mode as umask allows
    try:
        with os.fdopen(fd, "wb") as f, wave.open(f, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(SAMPLE_WIDTH)
            wav.setframerate(rate)
            wav.writeframes(pcm)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


_temp_cache: Path | None = None


def temporary_cache_dir() -> Path:
    """A per-process cache directory, removed at exit (used when no cache_dir is given)."""
    global _temp_cache
    if _temp_cache is None or not _temp_cache.is_dir():
        _temp_cache = Path(tempfile.mkdtemp(prefix="callbot-prompts-"))
        atexit.register(shutil.rmtree, _temp_cache, True)
    return _temp_cache
