"""Rendering prompts into what callers hear: :class:`Prompt`, trim + normalize, the :class:`Renderer`.

A recording wins; a prompt without one is spoken from its text by the TTS
engine (:mod:`callbot.speech.tts`). Either way the audio is *rendered* once into
what callers hear — 16-bit mono, leading/trailing silence trimmed,
loudness-normalized — at both call rates, each from the source: 8 kHz
(:attr:`Prompt.pcm`, G.711 calls) and 16 kHz (:meth:`Prompt.pcm_at`, G.722
calls; the recording decoded at 16 kHz, or the speech synthesized at 16 kHz).
Both are cached (:mod:`callbot.prompts.cache`). For a text prompt the lookup
order is, per rate: cache dir -> shipped seed (8 kHz only) -> synthesize (needs
espeak-ng or Piper) -> cache dir. The shipped prompts therefore work without
any TTS installed; a prompt whose only render is the shipped 8 kHz seed then
has no 16 kHz render of its own, and :meth:`Prompt.pcm_at` gives the seed
resampled to 16 kHz. A 16 kHz render that fails (TTS missing or broken, cache
not writable) never fails the prompt: it is logged and the 8 kHz render
resampled stands in for it (:meth:`Renderer._wide`).
"""

from __future__ import annotations

import inspect
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from callbot.audio import (
    FRAME_MS,
    FULL_SCALE,
    RATES,
    SAMPLE_RATE,
    WIDEBAND_RATE,
    decode_file,
    duration_seconds,
    frame_bytes,
    level_dbfs,
    resample,
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
TRIM_WINDOW = 0.01  # seconds (10 ms windows)
TRIM_MARGIN = 0.05  # seconds of silence kept before and after the speech
TARGET_DBFS = -20.0  # RMS over the speech frames after normalization
PEAK_DBFS = -1.0  # ... unless that would push a peak above this
MIN_DURATION = 0.2  # seconds after trimming; shorter prompts are treated as empty


@dataclass(frozen=True)
class Prompt:
    """One prompt as callers hear it (16-bit mono PCM, trimmed and normalized).

    :attr:`pcm` is the 8 kHz render (G.711 calls), :attr:`wide` the 16 kHz one
    (G.722 calls) or ``b""`` when there is none (the shipped 8 kHz seed without
    any TTS installed, or its rendering failed): :meth:`pcm_at` and
    :meth:`frames` then use :attr:`pcm` resampled to 16 kHz. Each render is
    trimmed on its own, so the 16 kHz one can be some 10-60 ms longer (a final
    "s" above 4 kHz is speech there); :attr:`duration` is the 8 kHz one's.
    """

    id: str
    language: str
    pcm: bytes = field(repr=False)
    text: str | None
    source: Path  # the recording, or the rendered speech file (cache or seed)
    kind: str = "recording"  # "recording" or "tts"
    tts: str | None = None  # the engine that spoke it, e.g. "espeak-ng de" (kind "tts")
    key: str = field(default="", repr=False)  # content hash of what was rendered
    origin: str = field(default="", compare=False)  # rendered, synthesized, cache, seed, memory
    wide: bytes = field(default=b"", repr=False, compare=False)  # the 16 kHz render, b"" if none

    @property
    def duration(self) -> float:
        """Length in seconds (of the 8 kHz render)."""
        return duration_seconds(self.pcm)

    def pcm_at(self, rate: int) -> bytes:
        """The prompt at ``rate``: 8000 -> :attr:`pcm`, 16000 -> the 16 kHz render.

        Without a 16 kHz render (:attr:`wide` empty) it is :attr:`pcm`
        resampled (computed once). Any other rate is an AudioError.
        """
        if rate == SAMPLE_RATE:
            return self.pcm
        if rate == WIDEBAND_RATE:
            return self.wide or self._resampled
        raise AudioError(f"prompt {self.id!r}: no audio at {rate!r} Hz — prompts are rendered at "
                         f"{' and '.join(map(str, RATES))} Hz")

    @cached_property
    def _resampled(self) -> bytes:
        return resample(self.pcm, SAMPLE_RATE, WIDEBAND_RATE)

    @cached_property
    def _frames(self) -> tuple[bytes, ...]:
        return tuple(split_frames(self.pcm, frame_bytes(SAMPLE_RATE)))

    @cached_property
    def _wide_frames(self) -> tuple[bytes, ...]:
        return tuple(split_frames(self.pcm_at(WIDEBAND_RATE), frame_bytes(WIDEBAND_RATE)))

    def frames(self, rate: int = SAMPLE_RATE) -> list[bytes]:
        """The prompt at ``rate`` (see :meth:`pcm_at`) as 20 ms frames, the last one zero-padded.

        320 bytes each at 8 kHz, 640 at 16 kHz; cut once per rate.
        """
        if rate == WIDEBAND_RATE:
            return list(self._wide_frames)
        self.pcm_at(rate)  # any rate but the two is an AudioError
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


def trim_silence(pcm: bytes, threshold_dbfs: float = SILENCE_DBFS, margin: float = TRIM_MARGIN,
                 rate: int = SAMPLE_RATE) -> bytes:
    """Cut leading and trailing silence (10 ms windows below ``threshold_dbfs``) of PCM at ``rate`` Hz.

    Keeps ``margin`` seconds before the first and after the last loud window
    (never more than there is), so audio that starts and ends loud is returned
    unchanged. All-silent audio gives ``b""``.
    """
    samples = np.frombuffer(pcm, dtype="<i2")
    window = max(1, int(round(TRIM_WINDOW * rate)))
    loud = np.flatnonzero(_windows_dbfs(samples, window) >= threshold_dbfs)
    if loud.size == 0:
        return b""
    keep = int(round(margin * rate))
    start = max(0, int(loud[0]) * window - keep)
    end = min(len(samples), (int(loud[-1]) + 1) * window + keep)
    return samples[start:end].tobytes()


def normalize(pcm: bytes, target_dbfs: float = TARGET_DBFS, peak_dbfs: float = PEAK_DBFS,
              rate: int = SAMPLE_RATE) -> bytes:
    """Scale PCM at ``rate`` Hz so the speech (20 ms frames above :data:`SILENCE_DBFS`) has RMS ``target_dbfs``.

    The gain is lowered where needed so no sample exceeds ``peak_dbfs``.
    Silence is returned unchanged.
    """
    ints = np.frombuffer(pcm, dtype="<i2")
    if ints.size == 0 or not ints.any():
        return bytes(pcm)
    samples = ints.astype(np.float64)
    frame = max(1, rate * FRAME_MS // 1000)
    levels = _windows_dbfs(ints, frame)
    starts = np.arange(0, len(samples), frame)
    speech = np.zeros(len(samples), dtype=bool)
    for i in np.flatnonzero(levels >= SILENCE_DBFS):
        speech[starts[i] : starts[i] + frame] = True
    if not speech.any():
        speech[:] = True
    rms = math.sqrt(float(np.mean(np.square(samples[speech])))) / FULL_SCALE
    peak = float(np.max(np.abs(samples))) / FULL_SCALE
    gain = 10 ** (target_dbfs / 20) / rms
    gain = min(gain, 10 ** (peak_dbfs / 20) / peak)
    out = np.clip(np.rint(samples * gain), -32768, 32767)
    return out.astype("<i2").tobytes()


def _finish(raw: bytes, what: str, rate: int = SAMPLE_RATE) -> tuple[bytes | None, str | None]:
    """Decoded audio at ``rate`` Hz -> (rendered PCM, None) or (None, problem)."""
    trimmed = trim_silence(raw, rate=rate)
    speech = trim_silence(raw, margin=0.0, rate=rate)  # the length check ignores the kept margins
    if not trimmed:
        level = level_dbfs(raw)
        shown = "silence" if level == float("-inf") else f"{level:.1f} dBFS"
        return None, (f"{what} is silent ({shown}; speech must reach at least "
                      f"{SILENCE_DBFS:.0f} dBFS) — record it again, closer to the microphone")
    duration = duration_seconds(speech, rate)
    if duration < MIN_DURATION:
        return None, (f"{what} is empty or too short ({duration:.2f} s without the silence, "
                      f"need at least {MIN_DURATION} s)")
    return normalize(trimmed, rate=rate), None


def _speaks_at(engine: TtsEngine) -> bool:
    """Does ``engine.synthesize`` take a ``rate``? (An engine from before wideband takes only the text.)"""
    try:
        params = inspect.signature(engine.synthesize).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "rate" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


class Renderer:
    """Renders the prompts of one language directory (see :meth:`callbot.prompts.library.PromptLibrary.render`).

    Every prompt at 8 kHz and, with ``wideband`` (the default), at 16 kHz too.
    """

    def __init__(self, lang_dir: Path, language: str, cache_dir: Path | None, tts: TtsEngine,
                 memo: Mapping[str, Prompt], use_cache: bool = True, wideband: bool = True):
        self.lang_dir = lang_dir
        self.language = language
        self.cache_root = Path(cache_dir) if cache_dir is not None else None
        self.tts = tts
        self.memo = memo  # key -> an already rendered prompt (from the library being reloaded)
        self.seed_dir = lang_dir / SEED_DIR
        self.use_cache = use_cache  # False (making the seed): no cache or seed read, no cache written
        self.wideband = wideband  # False (making the seed, which is 8 kHz only): no 16 kHz render

    # -- cache ---------------------------------------------------------------

    def _cache_path(self, prompt_id: str, key: str, rate: int = SAMPLE_RATE) -> Path:
        root = self.cache_root if self.cache_root is not None else temporary_cache_dir()
        return root / self.language / rendered_name(prompt_id, key, rate)

    def _store(self, prompt_id: str, key: str, pcm: bytes, rate: int = SAMPLE_RATE) -> Path:
        path = self._cache_path(prompt_id, key, rate)
        try:
            write_rendered(path, pcm, rate)
        except OSError as exc:
            if self.cache_root is None:
                raise
            log.warning("cannot write the prompt cache %s (%s); using a temporary one", path,
                        exc.strerror or exc)
            path = temporary_cache_dir() / self.language / rendered_name(prompt_id, key, rate)
            write_rendered(path, pcm, rate)
        return path

    def _cached(self, prompt_id: str, key: str) -> tuple[bytes, Path, str, bytes] | None:
        """(8 kHz PCM, its file, origin, the 16 kHz render if the memo has it) or None."""
        if not self.use_cache:
            return None
        old = self.memo.get(key)
        if old is not None and old.source.exists():
            return old.pcm, old.source, "memory", old.wide
        path = self._cache_path(prompt_id, key)
        pcm = read_rendered(path) if path.is_file() else None
        return (pcm, path, "cache", b"") if pcm else None

    def _wide(self, prompt_id: str, key: str, what: str, make: Callable[[], bytes] | None,
              known: bytes = b"") -> bytes:
        """The 16 kHz render: ``known`` (from the memo), the cache, or ``make()`` finished and cached.

        ``make`` gives the raw 16 kHz audio from the source (None: there is no
        way to). Returns ``b""`` when there is no 16 kHz render — then
        :meth:`Prompt.pcm_at` resamples the 8 kHz one. A failure here never
        fails the prompt (its 8 kHz render worked): it is logged.
        """
        if known or not self.wideband:
            return known
        if self.use_cache:
            path = self._cache_path(prompt_id, key, WIDEBAND_RATE)
            pcm = read_rendered(path, WIDEBAND_RATE) if path.is_file() else None
            if pcm:
                return pcm
        if make is None:
            return b""
        fallback = "wideband calls hear the 8 kHz render resampled"
        try:
            raw = make()
        except TtsUnavailable as exc:  # the shipped seed without TTS: the documented case
            log.info("%s: no 16 kHz render (%s is not installed); %s", what, exc.tool, fallback)
            return b""
        except (TtsError, AudioError, OSError) as exc:
            log.warning("%s: cannot render it at 16 kHz (%s); %s", what, exc, fallback)
            return b""
        wide, problem = _finish(raw, what, WIDEBAND_RATE)
        if wide is None:
            log.warning("at 16 kHz, %s; %s", problem, fallback)
            return b""
        if self.use_cache:
            try:
                self._store(prompt_id, key, wide, WIDEBAND_RATE)
            except OSError as exc:  # rendered all the same: used, just not cached
                log.warning("cannot cache the 16 kHz render of %s (%s)", what, exc.strerror or exc)
        return wide

    # -- sources -------------------------------------------------------------

    def recording(self, prompt_id: str, path: Path, text: str | None) -> Prompt | Problem:
        try:
            data = path.read_bytes()
        except OSError as exc:
            return Problem(prompt_id, f"prompt {prompt_id!r}: cannot read {path} ({exc.strerror or exc})")
        key = recording_key(data)
        what = f"recording {path}"

        def wide(known: bytes = b"") -> bytes:
            return self._wide(prompt_id, key, what, lambda: decode_file(path, target=WIDEBAND_RATE), known)

        old = self.memo.get(key)
        if old is not None and old.kind == "recording":  # the source is the recording itself
            return Prompt(prompt_id, self.language, old.pcm, text, path, "recording", None, key, "memory",
                          wide(old.wide))
        hit = self._cached(prompt_id, key)
        if hit is not None:
            return Prompt(prompt_id, self.language, hit[0], text, path, "recording", None, key, "cache",
                          wide(hit[3]))
        if not data:
            return Problem(prompt_id, f"prompt {prompt_id!r}: {path}: file is empty (0 bytes)")
        try:
            raw = decode_file(path, target=SAMPLE_RATE)
        except AudioError as exc:
            return Problem(prompt_id, f"prompt {prompt_id!r}: {exc}")
        pcm, problem = _finish(raw, what)
        if pcm is None:
            return Problem(prompt_id, problem or "")
        try:
            self._store(prompt_id, key, pcm)
        except OSError as exc:
            log.warning("cannot cache the rendered %s (%s)", path, exc.strerror or exc)
        return Prompt(prompt_id, self.language, pcm, text, path, "recording", None, key, "rendered", wide())

    def speech(self, prompt_id: str, text: str) -> Prompt | Problem:
        engine = self.tts
        key = tts_key(text, engine.key)
        what = f"the speech for prompt {prompt_id!r} ({engine.label})"
        make = (lambda: engine.synthesize(text, rate=WIDEBAND_RATE)) if _speaks_at(engine) else None

        def prompt(pcm: bytes, source: Path, origin: str, known: bytes = b"") -> Prompt:
            wide = self._wide(prompt_id, key, what, make, known)
            return Prompt(prompt_id, self.language, pcm, text, source, "tts", engine.label, key, origin, wide)

        hit = self._cached(prompt_id, key)
        if hit is None and self.use_cache:
            seed = self.seed_dir / rendered_name(prompt_id, key)
            pcm = read_rendered(seed) if seed.is_file() else None
            if pcm:  # seeds are 8 kHz only: the 16 kHz render is synthesized if TTS is there
                hit = (pcm, seed, "seed", b"")
        if hit is not None:
            return prompt(*hit)
        try:
            raw = engine.synthesize(text)  # at 8 kHz (every engine's default rate)
        except TtsUnavailable as exc:
            return Problem(prompt_id, self._unavailable(prompt_id, exc))
        except TtsError as exc:
            return Problem(prompt_id, f"prompt {prompt_id!r}: text-to-speech failed: {exc} — check "
                                      f"the [tts] settings, or record {self.lang_dir / prompt_id}.wav")
        pcm, problem = _finish(raw, what)
        if pcm is None:
            return Problem(prompt_id, problem or "")
        if not self.use_cache:
            return prompt(pcm, self.seed_dir / rendered_name(prompt_id, key), "synthesized")
        try:
            path = self._store(prompt_id, key, pcm)
        except OSError as exc:
            return Problem(prompt_id, f"prompt {prompt_id!r}: cannot write the prompt cache "
                                      f"({exc.strerror or exc}) — check tts.cache")
        return prompt(pcm, path, "synthesized")

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
