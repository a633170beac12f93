"""Announcement prompts: the owner's recordings, or text spoken by TTS.

Layout, per language::

    prompts/<language>/prompts.toml           id = "what the bot says" (every prompt's text)
    prompts/<language>/<id>.wav               a recording (or .flac, .ogg, .mp3; any rate)
    prompts/<language>/tts/<id>-<hash>.wav    shipped pre-rendered speech (the "seed cache")

A recording wins; a prompt without one is spoken from its text by the TTS
engine (:mod:`callbot.speech.tts`). Either way the audio is *rendered* once into
what callers hear — 8 kHz 16-bit mono, leading/trailing silence trimmed,
loudness-normalized — and cached as a WAV file named by a hash of its content
(the recording's bytes, or text + TTS engine/voice/speed), so an unchanged
prompt is never decoded or synthesized twice. For a text prompt the lookup
order is: cache dir -> shipped seed -> synthesize (needs espeak-ng or Piper)
-> cache dir. The shipped prompts therefore work without any TTS installed.

:meth:`PromptLibrary.load` renders everything up front and reports every
problem at once in a single :class:`~callbot.errors.PromptError`, so a broken
prompt shows up when callbot starts, not in the middle of a call.
:meth:`PromptLibrary.changed` / :meth:`PromptLibrary.reload` pick up edited
prompt files while the bot runs.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import math
import os
import re
import secrets
import shutil
import tempfile
import tomllib
import wave
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from callbot.audio import (
    FRAME_BYTES,
    FRAME_SAMPLES,
    FULL_SCALE,
    SAMPLE_RATE,
    SAMPLE_WIDTH,
    decode_file,
    duration_seconds,
    level_dbfs,
    split_frames,
)
from callbot.errors import AudioError, PromptError
from callbot.speech.tts import TtsEngine, TtsError, TtsUnavailable, default_engine

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
TEXTS_FILE = "prompts.toml"
SEED_DIR = "tts"
DEFAULT_REQUIRED = ("withheld", "hello")
DEFAULT_CACHE = Path("data") / "cache" / "prompts"
KINDS = ("recording", "tts")

#: Bump whenever rendering changes, so every cached render is redone.
RENDER_VERSION = "1"
SILENCE_DBFS = -50.0  # 10 ms windows below this are silence (trimmed, not counted as speech)
TRIM_WINDOW = SAMPLE_RATE // 100  # 10 ms
TRIM_MARGIN = 0.05  # seconds of silence kept before and after the speech
TARGET_DBFS = -20.0  # RMS over the speech frames after normalization
PEAK_DBFS = -1.0  # ... unless that would push a peak above this
MIN_DURATION = 0.2  # seconds after trimming; shorter prompts are treated as empty
HASH_CHARS = 12  # hex digits of the content hash in file names

_ID = re.compile(r"^[A-Za-z0-9_-]+$")


# --------------------------------------------------------------------------
# Prompts


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


class UnknownPromptError(PromptError, KeyError):
    """:meth:`PromptLibrary.get` was asked for an id that was not loaded."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return "; ".join(self.problems)


@dataclass(frozen=True)
class Problem:
    """One problem found while rendering; ``prompt_id`` is None for file-level ones."""

    prompt_id: str | None
    message: str


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


def rendered_name(prompt_id: str, key: str) -> str:
    """File name of a rendered prompt in a cache or seed directory."""
    return f"{prompt_id}-{key[:HASH_CHARS]}.wav"


def _read_rendered(path: Path) -> bytes | None:
    """The PCM of a rendered prompt file (8 kHz 16-bit mono WAV), or None if unusable."""
    try:
        with wave.open(str(path), "rb") as wav:
            if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (SAMPLE_RATE, 1, SAMPLE_WIDTH):
                return None
            pcm = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error):
        return None
    return pcm or None


def _write_rendered(path: Path, pcm: bytes) -> None:
    """Write atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.stem}-{os.getpid()}-{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # mode as umask allows
    try:
        with os.fdopen(fd, "wb") as f, wave.open(f, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(SAMPLE_WIDTH)
            wav.setframerate(SAMPLE_RATE)
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


# --------------------------------------------------------------------------
# prompts.toml

_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def _describe_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date/time"


def _line_of(lines: list[str], key: str) -> int | None:
    """Line number (1-based) where ``key`` is defined, or None."""
    k = re.escape(key)
    pattern = re.compile(rf"""^\s*(?:\[+\s*)?(?:{k}|"{k}"|'{k}')\s*(?:[=.\]])""")
    for number, line in enumerate(lines, 1):
        if pattern.match(line):
            return number
    return None


def read_texts(path: Path) -> tuple[dict[str, str], list[Problem]]:
    """The prompt texts in a prompts.toml; a missing file means no texts.

    Returns ``(texts, problems)``; problems name the file and line.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, []
    except OSError as exc:
        return {}, [Problem(None, f"cannot read {path}: {exc.strerror or exc}")]
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return {}, [Problem(None, f"{path} line {line}: not valid UTF-8 — save the file as UTF-8 text")]
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _TOML_POS.search(msg)
        where = f"line {m.group(1)}, column {m.group(2)}" if m else "somewhere in the file"
        reason = msg[: m.start()] if m else msg
        reason = reason[:1].lower() + reason[1:]
        return {}, [Problem(None, f"{path} {where}: invalid TOML ({reason}) — each line is "
                                  f'id = "text", with the text in double quotes')]
    lines = source.splitlines()
    texts: dict[str, str] = {}
    problems: list[Problem] = []
    for key, value in data.items():
        number = _line_of(lines, key)
        at = f"{path} line {number}" if number else str(path)
        if isinstance(value, dict):
            problems.append(Problem(key, f"{at}: {key!r} is a table — {TEXTS_FILE} holds only "
                                         f'id = "text" lines (no [sections] or dotted keys)'))
            continue
        if not _ID.match(key):
            problems.append(Problem(key, f"{at}: invalid prompt id {key!r} — use only letters, "
                                         f"digits, _ and -"))
            continue
        if not isinstance(value, str):
            problems.append(Problem(key, f"{at}: the text of {key!r} must be in double quotes, "
                                         f"got {_describe_kind(value)}"))
            continue
        if not value.strip():
            problems.append(Problem(key, f"{at}: the text of {key!r} is empty — write what the bot "
                                         f"says, or delete the line"))
            continue
        texts[key] = value.strip()
    return texts, problems


# --------------------------------------------------------------------------
# Scanning a language directory


def _scan(lang_dir: Path) -> tuple[dict[str, list[Path]], dict[str, tuple[int, int]]]:
    """Recordings by id, and the (mtime_ns, size) of every file a change of which matters."""
    audio: dict[str, list[Path]] = {}
    snapshot: dict[str, tuple[int, int]] = {}
    with os.scandir(lang_dir) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            suffix = os.path.splitext(entry.name)[1].lower()
            if entry.name != TEXTS_FILE and suffix not in AUDIO_EXTENSIONS:
                continue
            try:
                if not entry.is_file():
                    continue
                st = entry.stat()
            except OSError:
                continue
            snapshot[entry.name] = (st.st_mtime_ns, st.st_size)
            if suffix in AUDIO_EXTENSIONS:
                audio.setdefault(os.path.splitext(entry.name)[0], []).append(Path(entry.path))
    return audio, snapshot


def _snapshot(lang_dir: Path) -> dict[str, tuple[int, int]] | None:
    try:
        return _scan(lang_dir)[1]
    except OSError:
        return None


def _check_language(directory: Path, language: str) -> Path:
    if not language or language in (".", "..") or "/" in language or "\\" in language:
        raise PromptError([f"invalid prompt language {language!r}"])
    lang_dir = directory / language
    if not lang_dir.is_dir():
        available = []
        if directory.is_dir():
            available = sorted(p.name for p in directory.iterdir() if p.is_dir())
        hint = f" (available: {', '.join(available)})" if available else ""
        raise PromptError([f"prompt directory for language {language!r} not found: {lang_dir}{hint}"])
    return lang_dir


@dataclass
class RenderReport:
    """Everything :meth:`PromptLibrary.render` found: the prompts that work and the problems."""

    directory: Path
    language: str
    prompts: dict[str, Prompt]
    problems: list[Problem]
    texts: dict[str, str]
    required: tuple[str, ...]
    cache_dir: Path | None
    tts: TtsEngine
    snapshot: dict[str, tuple[int, int]]

    @property
    def ok(self) -> bool:
        return not self.problems

    def problems_of(self, prompt_id: str) -> list[str]:
        return [p.message for p in self.problems if p.prompt_id == prompt_id]

    def library(self) -> PromptLibrary:
        """The library; raises one PromptError listing every problem."""
        if self.problems:
            raise PromptError([p.message for p in self.problems])
        return PromptLibrary(self.directory, self.language, self.prompts, texts=self.texts,
                             required=self.required, cache_dir=self.cache_dir, tts=self.tts,
                             snapshot=self.snapshot)


class _Renderer:
    """Renders the prompts of one language directory (see :meth:`PromptLibrary.render`)."""

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
            _write_rendered(path, pcm)
        except OSError as exc:
            if self.cache_root is None:
                raise
            log.warning("cannot write the prompt cache %s (%s); using a temporary one", path,
                        exc.strerror or exc)
            path = temporary_cache_dir() / self.language / rendered_name(prompt_id, key)
            _write_rendered(path, pcm)
        return path

    def _cached(self, prompt_id: str, key: str) -> tuple[bytes, Path, str] | None:
        if not self.use_cache:
            return None
        old = self.memo.get(key)
        if old is not None and old.source.exists():
            return old.pcm, old.source, "memory"
        path = self._cache_path(prompt_id, key)
        pcm = _read_rendered(path) if path.is_file() else None
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
            pcm = _read_rendered(seed) if seed.is_file() else None
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


def _missing_message(lang_dir: Path, prompt_id: str) -> str:
    others = "/".join(AUDIO_EXTENSIONS[1:])
    return (f"missing prompt {prompt_id!r}: no recording {lang_dir / prompt_id}.wav (or {others}) "
            f"and no text for it in {lang_dir / TEXTS_FILE} — add a line {prompt_id} = \"…\" there, "
            f"or record one (WAV, FLAC, OGG or MP3, any sample rate)")


# --------------------------------------------------------------------------
# The library


class PromptLibrary:
    """The prompts of one language, rendered and validated."""

    def __init__(
        self,
        directory: Path,
        language: str,
        prompts: Mapping[str, Prompt],
        *,
        texts: Mapping[str, str] | None = None,
        required: Iterable[str] = DEFAULT_REQUIRED,
        cache_dir: Path | None = None,
        tts: TtsEngine | None = None,
        snapshot: Mapping[str, tuple[int, int]] | None = None,
    ):
        self.directory = Path(directory)  # the prompts root, holding <language>/
        self.language = language
        self._prompts = dict(prompts)
        self.texts = dict(texts or {})
        self.required = tuple(required)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.tts = tts if tts is not None else default_engine(language)
        self._snapshot = dict(snapshot) if snapshot is not None else _snapshot(self.language_dir)
        self._failed_snapshot: dict[str, tuple[int, int]] | None = None

    @property
    def language_dir(self) -> Path:
        return self.directory / self.language

    # -- loading -------------------------------------------------------------

    @classmethod
    def render(
        cls,
        directory: Path,
        language: str,
        required: Iterable[str] = DEFAULT_REQUIRED,
        cache_dir: Path | None = None,
        tts: TtsEngine | None = None,
        _memo: Mapping[str, Prompt] | None = None,
    ) -> RenderReport:
        """Render every prompt of ``directory/<language>``; collect problems instead of raising.

        Raises PromptError only when the language directory itself is unusable.
        ``cache_dir`` None: a temporary per-process cache. ``tts`` None: espeak-ng
        with the language as voice at 150 words per minute (what the seed was made with).
        """
        directory = Path(directory)
        required_ids = tuple(dict.fromkeys(required))
        lang_dir = _check_language(directory, language)
        engine = tts if tts is not None else default_engine(language)
        try:
            audio, snapshot = _scan(lang_dir)
        except OSError as exc:
            raise PromptError([f"cannot read the prompt directory {lang_dir}: {exc.strerror or exc}"]) from None
        texts, problems = read_texts(lang_dir / TEXTS_FILE)
        legacy = sorted(p.name for p in lang_dir.glob("*.txt"))
        if legacy:
            log.warning("%s: %s ignored — prompt texts now live in %s", lang_dir, ", ".join(legacy), TEXTS_FILE)

        # A prompt whose text line is broken, or any when prompts.toml cannot be read at
        # all, is not reported "missing" as well: the one problem says what to fix.
        broken_text_ids = {p.prompt_id for p in problems}
        for prompt_id in required_ids:
            if prompt_id in audio or prompt_id in texts:
                continue
            if prompt_id not in broken_text_ids and None not in broken_text_ids:
                problems.append(Problem(prompt_id, _missing_message(lang_dir, prompt_id)))

        renderer = _Renderer(lang_dir, language, cache_dir, engine, _memo or {})
        prompts: dict[str, Prompt] = {}
        for prompt_id in sorted(set(audio) | set(texts)):
            paths = audio.get(prompt_id, [])
            if len(paths) > 1:
                names = ", ".join(str(p) for p in paths)
                problems.append(Problem(prompt_id, f"ambiguous prompt {prompt_id!r}: several recordings "
                                                   f"({names}); keep only one of them"))
                continue
            if paths:
                result = renderer.recording(prompt_id, paths[0], texts.get(prompt_id))
            else:
                result = renderer.speech(prompt_id, texts[prompt_id])
            if isinstance(result, Problem):
                problems.append(result)
            else:
                prompts[prompt_id] = result
        return RenderReport(directory, language, prompts, problems, texts, required_ids,
                            Path(cache_dir) if cache_dir is not None else None, engine, snapshot)

    @classmethod
    def load(
        cls,
        directory: Path,
        language: str,
        required: Iterable[str] = DEFAULT_REQUIRED,
        cache_dir: Path | None = None,
        tts: TtsEngine | None = None,
    ) -> PromptLibrary:
        """Render ``directory/<language>``; raise one PromptError listing all problems."""
        return cls.render(directory, language, required, cache_dir, tts).library()

    @classmethod
    def from_config(cls, config: Any, required: Iterable[str] = DEFAULT_REQUIRED,
                    language: str | None = None) -> PromptLibrary:
        """Load with a :class:`callbot.config.Config`: its prompt dir, language, [tts] engine and cache."""
        return cls.load(**config_kwargs(config, language), required=required)

    # -- hot reload ----------------------------------------------------------

    def changed(self) -> bool:
        """Cheap check: were prompts.toml or a recording added, removed or modified since loading?"""
        return _snapshot(self.language_dir) != self._snapshot

    def reload(self) -> PromptLibrary:
        """A new library from the current files (unchanged prompts are reused, not re-rendered).

        Raises PromptError like :meth:`load`; this library stays usable.
        """
        memo = {p.key: p for p in self._prompts.values() if p.key}
        report = self.render(self.directory, self.language, self.required, self.cache_dir, self.tts, _memo=memo)
        return report.library()

    def refreshed(self) -> PromptLibrary:
        """``self`` if nothing changed, else the reloaded library.

        For the bot between calls: if the edited prompts are broken, the
        problems are logged once and ``self`` (the last good prompts) is kept.
        """
        current = _snapshot(self.language_dir)
        if current == self._snapshot or current == self._failed_snapshot:
            return self
        try:
            library = self.reload()
        except PromptError as exc:
            self._failed_snapshot = current
            log.error("edited prompts in %s not used, keeping the previous ones: %s",
                      self.language_dir, "; ".join(exc.problems))
            return self
        log.info("prompts in %s reloaded", self.language_dir)
        return library

    # -- access --------------------------------------------------------------

    def get(self, prompt_id: str) -> Prompt:
        """The prompt ``prompt_id``; raises UnknownPromptError (a PromptError and KeyError)."""
        try:
            return self._prompts[prompt_id]
        except KeyError:
            known = ", ".join(self.ids()) or "none"
            raise UnknownPromptError(
                [f"unknown prompt {prompt_id!r} for language {self.language!r} (loaded: {known})"]
            ) from None

    def ids(self) -> list[str]:
        """The loaded prompt ids, sorted."""
        return sorted(self._prompts)

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self._prompts

    def __iter__(self) -> Iterator[Prompt]:
        return iter(self._prompts[i] for i in self.ids())

    def __len__(self) -> int:
        return len(self._prompts)

    def __repr__(self) -> str:
        return f"PromptLibrary({str(self.language_dir)!r}, ids={self.ids()!r})"


def config_kwargs(config: Any, language: str | None = None) -> dict[str, Any]:
    """``directory``, ``language``, ``cache_dir`` and ``tts`` for a Config (see :meth:`PromptLibrary.load`)."""
    from callbot.speech.tts import engine_from_config

    language = language or config.prompts.language
    tts_config = getattr(config, "tts", None)
    if tts_config is None:
        return {"directory": config.prompts.dir, "language": language, "cache_dir": None, "tts": None}
    try:
        engine = engine_from_config(tts_config, language)
    except (TtsError, ValueError) as exc:
        raise PromptError([f"tts: {exc}"]) from None
    return {"directory": config.prompts.dir, "language": language,
            "cache_dir": getattr(tts_config, "cache", None), "tts": engine}


# --------------------------------------------------------------------------
# The shipped seed cache


def write_seed(directory: Path, language: str, tts: TtsEngine | None = None) -> list[str]:
    """(Re)generate ``directory/<language>/tts/`` from prompts.toml; delete stale seed files.

    Seeds are made with the default engine (espeak-ng, voice = language, 150
    wpm) unless ``tts`` is given: they are what a default install speaks
    without any TTS program. Returns one line per file for the user; raises
    PromptError listing the problems (nothing is deleted then).
    """
    directory = Path(directory)
    lang_dir = _check_language(directory, language)
    engine = tts if tts is not None else default_engine(language)
    texts, problems = read_texts(lang_dir / TEXTS_FILE)
    if not (lang_dir / TEXTS_FILE).is_file():
        problems.append(Problem(None, f"no {lang_dir / TEXTS_FILE}: nothing to pre-render"))
    seed_dir = lang_dir / SEED_DIR
    # Never the data cache: the seed is made from scratch (or kept if it is already right).
    renderer = _Renderer(lang_dir, language, None, engine, {}, use_cache=False)
    report: list[str] = []
    wanted: dict[str, tuple[Path, bytes | None]] = {}
    for prompt_id, text in sorted(texts.items()):
        path = seed_dir / rendered_name(prompt_id, tts_key(text, engine.key))
        if path.is_file() and _read_rendered(path):
            wanted[path.name] = (path, None)
            continue
        result = renderer.speech(prompt_id, text)
        if isinstance(result, Problem):
            problems.append(result)
        else:
            wanted[path.name] = (path, result.pcm)
    if problems:
        raise PromptError([p.message for p in problems])
    for name, (path, pcm) in sorted(wanted.items()):
        if pcm is None:
            report.append(f"kept  {path}")
        else:
            _write_rendered(path, pcm)
            report.append(f"wrote {path} ({duration_seconds(pcm):.1f} s)")
    if seed_dir.is_dir():
        for stale in sorted(seed_dir.iterdir()):
            if stale.is_file() and stale.name not in wanted:
                stale.unlink()
                report.append(f"removed stale {stale}")
    return report
