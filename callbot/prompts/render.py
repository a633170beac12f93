"""Rendering prompts into what callers hear: :class:`Prompt`, trim + normalize, the :class:`Renderer`.

A recording wins; a prompt without one is spoken from its text by the TTS
engine (:mod:`callbot.speech.tts`). Either way the audio is *rendered* once into
what callers hear — 8 kHz 16-bit mono, leading/trailing silence trimmed,
loudness-normalized — and cached (:mod:`callbot.prompts.cache`). For a text
prompt the lookup order is: cache dir -> shipped seed -> synthesize (needs
espeak-ng or Piper) -> cache dir. The shipped prompts therefore work without
any TTS installed.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from callbot.audio import (
    FRAME_BYTES,
    FRAME_SAMPLES,
    FULL_SCALE,
    SAMPLE_RATE,
    decode_file,
    duration_seconds,
    level_dbfs,
    split_frames,
)
from callbot.errors import AudioError
from callbot.prompts.cache import (
    read_rendered,
    recording_key,
    rendered_name,
    temporary_cache_dir,
    tts_key,
    write_rendered,
)
from callbot.prompts.layout import SEED_DIR
from callbot.prompts.texts import Problem
from callbot.speech.tts import TtsEngine, TtsError, TtsUnavailable, default_engine

log = logging.getLogger(__name__)

KINDS = ("recording", "tts")

SILENCE_DBFS = -50.0  # 10 ms windows below this are silence (trimmed, not counted as speech)
TRIM_WINDOW = SAMPLE_RATE // 100  # 10 ms
TRIM_MARGIN = 0.05  # seconds of silence kept before and after the speech
TARGET_DBFS = -20.0  # RMS over the speech frames after normalization
PEAK_DBFS = -1.0  # ... unless that would push a peak above this
MIN_DURATION = 0.2  # seconds after trimming; shorter prompts are treated as empty


@dataclass(frozen=True)
class Prompt:
    """One prompt as callers hear it (16-bit mono 8 kHz PCM, trimmed and normalized)."""

    id: str
    language: str
    pcm: bytes = field(repr=False)
    text: str | None
    source: Path  # the recording, or the rendered speech file (cache or seed)
    kind: str = "recording"  # "recording" or "tts"
    tts: str | None = None  # the engine that spoke it, e.g. "espeak-ng de" (kind "tts")
    key: str = field(default="", repr=False)  # content hash of what was rendered
    origin: str = field(default="", compare=False)  # rendered, synthesized, cache, seed, memory

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return duration_seconds(self.pcm)

    @cached_property
    def _frames(self) -> tuple[bytes, ...]:
        return tuple(split_frames(self.pcm, FRAME_BYTES))

    def frames(self) -> list[bytes]:
        """The prompt as 20 ms frames (320 bytes; the last one zero-padded)."""
        return list(self._frames)


# --------------------------------------------------------------------------
# Rendering: trim + normalize


def _windows_dbfs(samples: np.ndarray, window: int) -> np.ndarray:
    """RMS level (dBFS) of consecutive windows; the last one may be shorter."""
    n = len(samples)
    if n == 0:
        return np.zeros(0)
    x = samples.astype(np.float64) / FULL_SCALE
    starts = np.arange(0, n, window)
    sums = np.add.reduceat(x * x, starts)
    counts = np.diff(np.append(starts, n))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(sums / counts)


def trim_silence(pcm: bytes, threshold_dbfs: float = SILENCE_DBFS, margin: float = TRIM_MARGIN) -> bytes:
    """Cut leading and trailing silence (10 ms windows below ``threshold_dbfs``).

    Keeps ``margin`` seconds before the first and after the last loud window
    (never more than there is), so audio that starts and ends loud is returned
    unchanged. All-silent audio gives ``b""``.
    """
    samples = np.frombuffer(pcm, dtype="<i2")
    loud = np.flatnonzero(_windows_dbfs(samples, TRIM_WINDOW) >= threshold_dbfs)
    if loud.size == 0:
        return b""
    keep = int(round(margin * SAMPLE_RATE))
    start = max(0, int(loud[0]) * TRIM_WINDOW - keep)
    end = min(len(samples), (int(loud[-1]) + 1) * TRIM_WINDOW + keep)
    return samples[start:end].tobytes()


def normalize(pcm: bytes, target_dbfs: float = TARGET_DBFS, peak_dbfs: float = PEAK_DBFS) -> bytes:
    """Scale so the speech (20 ms frames above :data:`SILENCE_DBFS`) has RMS ``target_dbfs``.

    The gain is lowered where needed so no sample exceeds ``peak_dbfs``.
    Silence is returned unchanged.
    """
    ints = np.frombuffer(pcm, dtype="<i2")
    if ints.size == 0 or not ints.any():
        return bytes(pcm)
    samples = ints.astype(np.float64)
    levels = _windows_dbfs(ints, FRAME_SAMPLES)
    starts = np.arange(0, len(samples), FRAME_SAMPLES)
    speech = np.zeros(len(samples), dtype=bool)
    for i in np.flatnonzero(levels >= SILENCE_DBFS):
        speech[starts[i] : starts[i] + FRAME_SAMPLES] = True
    if not speech.any():
        speech[:] = True
    rms = math.sqrt(float(np.mean(np.square(samples[speech])))) / FULL_SCALE
    peak = float(np.max(np.abs(samples))) / FULL_SCALE
    gain = 10 ** (target_dbfs / 20) / rms
    gain = min(gain, 10 ** (peak_dbfs / 20) / peak)
    out = np.clip(np.rint(samples * gain), -32768, 32767)
    return out.astype("<i2").tobytes()


def _finish(raw: bytes, what: str) -> tuple[bytes | None, str | None]:
    """Decoded audio -> (rendered PCM, None) or (None, problem)."""
    trimmed = trim_silence(raw)
    speech = trim_silence(raw, margin=0.0)  # the length check ignores the kept margins
    if not trimmed:
        level = level_dbfs(raw)
        shown = "silence" if level == float("-inf") else f"{level:.1f} dBFS"
        return None, (f"{what} is silent ({shown}; speech must reach at least "
                      f"{SILENCE_DBFS:.0f} dBFS) — record it again, closer to the microphone")
    duration = duration_seconds(speech)
    if duration < MIN_DURATION:
        return None, (f"{what} is empty or too short ({duration:.2f} s without the silence, "
                      f"need at least {MIN_DURATION} s)")
    return normalize(trimmed), None


class Renderer:
    """Renders the prompts of one language directory (see :meth:`callbot.prompts.library.PromptLibrary.render`)."""

    def __init__(self, lang_dir: Path, language: str, cache_dir: Path | None, tts: TtsEngine,
                 memo: Mapping[str, Prompt], use_cache: bool = True):
        self.lang_dir = lang_dir
        self.language = language
        self.cache_root = Path(cache_dir) if cache_dir is not None else None
        self.tts = tts
        self.memo = memo  # key -> an already rendered prompt (from the library being reloaded)
        self.seed_dir = lang_dir / SEED_DIR
        self.use_cache = use_cache  # False (making the seed): no cache or seed read, no cache written

    # -- cache ---------------------------------------------------------------

    def _cache_path(self, prompt_id: str, key: str) -> Path:
        root = self.cache_root if self.cache_root is not None else temporary_cache_dir()
        return root / self.language / rendered_name(prompt_id, key)

    def _store(self, prompt_id: str, key: str, pcm: bytes) -> Path:
        path = self._cache_path(prompt_id, key)
        try:
            write_rendered(path, pcm)
        except OSError as exc:
            if self.cache_root is None:
                raise
            log.warning("cannot write the prompt cache %s (%s); using a temporary one", path,
                        exc.strerror or exc)
            path = temporary_cache_dir() / self.language / rendered_name(prompt_id, key)
            write_rendered(path, pcm)
        return path

    def _cached(self, prompt_id: str, key: str) -> tuple[bytes, Path, str] | None:
        if not self.use_cache:
            return None
        old = self.memo.get(key)
        if old is not None and old.source.exists():
            return old.pcm, old.source, "memory"
        path = self._cache_path(prompt_id, key)
        pcm = read_rendered(path) if path.is_file() else None
        return (pcm, path, "cache") if pcm else None

    # -- sources -------------------------------------------------------------

    def recording(self, prompt_id: str, path: Path, text: str | None) -> Prompt | Problem:
        try:
            data = path.read_bytes()
        except OSError as exc:
            return Problem(prompt_id, f"prompt {prompt_id!r}: cannot read {path} ({exc.strerror or exc})")
        key = recording_key(data)
        old = self.memo.get(key)
        if old is not None and old.kind == "recording":  # the source is the recording itself
            return Prompt(prompt_id, self.language, old.pcm, text, path, "recording", None, key, "memory")
        hit = self._cached(prompt_id, key)
        if hit is not None:
            return Prompt(prompt_id, self.language, hit[0], text, path, "recording", None, key, "cache")
        if not data:
            return Problem(prompt_id, f"prompt {prompt_id!r}: {path}: file is empty (0 bytes)")
        try:
            raw = decode_file(path)
        except AudioError as exc:
            return Problem(prompt_id, f"prompt {prompt_id!r}: {exc}")
        pcm, problem = _finish(raw, f"recording {path}")
        if pcm is None:
            return Problem(prompt_id, problem or "")
        try:
            self._store(prompt_id, key, pcm)
        except OSError as exc:
            log.warning("cannot cache the rendered %s (%s)", path, exc.strerror or exc)
        return Prompt(prompt_id, self.language, pcm, text, path, "recording", None, key, "rendered")

    def speech(self, prompt_id: str, text: str) -> Prompt | Problem:
        engine = self.tts
        key = tts_key(text, engine.key)
        hit = self._cached(prompt_id, key)
        if hit is None and self.use_cache:
            seed = self.seed_dir / rendered_name(prompt_id, key)
            pcm = read_rendered(seed) if seed.is_file() else None
            if pcm:
                hit = (pcm, seed, "seed")
        if hit is not None:
            return Prompt(prompt_id, self.language, hit[0], text, hit[1], "tts", engine.label, key, hit[2])
        try:
            raw = engine.synthesize(text)
        except TtsUnavailable as exc:
            return Problem(prompt_id, self._unavailable(prompt_id, exc))
        except TtsError as exc:
            return Problem(prompt_id, f"prompt {prompt_id!r}: text-to-speech failed: {exc} — check "
                                      f"the [tts] settings, or record {self.lang_dir / prompt_id}.wav")
        pcm, problem = _finish(raw, f"the speech for prompt {prompt_id!r} ({engine.label})")
        if pcm is None:
            return Problem(prompt_id, problem or "")
        if not self.use_cache:
            seed = self.seed_dir / rendered_name(prompt_id, key)
            return Prompt(prompt_id, self.language, pcm, text, seed, "tts", engine.label, key, "synthesized")
        try:
            path = self._store(prompt_id, key, pcm)
        except OSError as exc:
            return Problem(prompt_id, f"prompt {prompt_id!r}: cannot write the prompt cache "
                                      f"({exc.strerror or exc}) — check tts.cache")
        return Prompt(prompt_id, self.language, pcm, text, path, "tts", engine.label, key, "synthesized")

    def _unavailable(self, prompt_id: str, exc: TtsUnavailable) -> str:
        seeded = self.seed_dir.is_dir() and any(self.seed_dir.glob(f"{glob_escape(prompt_id)}-*.wav"))
        if seeded and self.tts.key == default_engine(self.language).key:
            why = "text changed"
        elif seeded:
            why = f"the voice ({self.tts.label}) is not the pre-rendered one"
        else:
            why = "has only a text"
        return (f"prompt {prompt_id!r}: {why} but {exc.tool} is not installed — {exc.fix}, "
                f"or record {self.lang_dir / prompt_id}.wav")


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)
