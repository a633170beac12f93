"""Text-to-speech for prompts that have a text but no recording.

Two engines, both producing callbot's internal audio (16-bit mono PCM) at the
rate asked for: 8 kHz (:data:`~callbot.audio.SAMPLE_RATE`, G.711 calls, the
default) or 16 kHz (:data:`~callbot.audio.WIDEBAND_RATE`, G.722 calls). The
engine's own output (espeak-ng: 22.05 kHz) is decoded straight to that rate, so
a 16 kHz synthesis keeps the speech between 4 and 8 kHz that an 8 kHz one cannot
hold:

- :class:`EspeakNg` (the default) runs the ``espeak-ng`` program
  (Debian: ``apt-get install espeak-ng``).
- :class:`Piper` speaks with a Piper voice model (``*.onnx``) through the
  ``piper`` program or the ``piper`` Python package (``pip install piper-tts``);
  neither is a dependency of callbot.

Every engine has a :attr:`~TtsEngine.key` that names what determines its
output (engine, voice, speed); :mod:`callbot.prompts` puts it into the cache
key of each synthesized prompt, so changing the voice re-renders the prompts.

Engines are cheap to construct and never touch the system until
:meth:`~TtsEngine.synthesize` is called: a library whose prompts are all
cached (or shipped pre-rendered) works without any TTS program installed.

``python -m callbot.prompts --seed [PROMPTS_DIR]`` regenerates the shipped seed
cache (``prompts/<lang>/tts/``), the same as ``callbot prompts render --seed``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from callbot.audio import SAMPLE_RATE, decode_file
from callbot.errors import AudioError, CallbotError

ENGINES = ("espeak-ng", "piper")
DEFAULT_ENGINE = "espeak-ng"
DEFAULT_SPEED = 150  # words per minute (espeak-ng's own default is 175)
MIN_SPEED, MAX_SPEED = 80, 400
TIMEOUT = 120.0  # seconds for one synthesis


class TtsError(CallbotError):
    """Speech synthesis failed (bad voice, engine crashed, ...)."""


class TtsUnavailable(TtsError):
    """The TTS engine is not installed. ``tool`` names it, ``fix`` says how to install it."""

    def __init__(self, tool: str, fix: str):
        self.tool = tool
        self.fix = fix
        super().__init__(f"{tool} is not installed — {fix}")


@runtime_checkable
class TtsEngine(Protocol):
    """Something that turns text into 16-bit mono PCM at a given rate.

    An engine written before wideband calls, whose ``synthesize`` takes only
    the text (8 kHz), is still accepted by :mod:`callbot.prompts`: its 16 kHz
    prompts are then its 8 kHz speech resampled.
    """

    #: Everything that determines the output, e.g. ``"espeak-ng:de:150"``.
    key: str
    #: Short human-readable description, e.g. ``"espeak-ng de"``.
    label: str

    def synthesize(self, text: str, rate: int = SAMPLE_RATE) -> bytes:
        """The spoken ``text`` as 16-bit mono PCM at ``rate`` Hz; raises TtsError/TtsUnavailable."""
        ...


def _check_rate(rate: int) -> int:
    if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
        raise ValueError(f"the sample rate must be a positive number of Hz, got {rate!r}")
    return rate


def _decode_wav_bytes(data: bytes, what: str, rate: int = SAMPLE_RATE) -> bytes:
    """WAV bytes from an engine -> internal PCM at ``rate`` (via :func:`callbot.audio.decode_file`)."""
    if not data:
        raise TtsError(f"{what} produced no audio")
    with tempfile.TemporaryDirectory(prefix="callbot-tts-") as tmp:
        path = Path(tmp) / "speech.wav"
        path.write_bytes(data)
        try:
            return decode_file(path, target=rate)
        except AudioError as exc:
            raise TtsError(f"{what} produced unreadable audio ({exc})") from None


def _run(argv: list[str], text: str, what: str, fix: str) -> bytes:
    """Run a TTS program with ``text`` on stdin; its stdout, or TtsError."""
    try:
        done = subprocess.run(
            argv, input=text.encode("utf-8"), capture_output=True, timeout=TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise TtsUnavailable(Path(argv[0]).name, fix) from None
    except subprocess.TimeoutExpired:
        raise TtsError(f"{what} did not finish within {TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise TtsError(f"{what} could not be started ({exc.strerror or exc})") from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        shown = reason[-1] if reason else f"exit code {done.returncode}"
        raise TtsError(f"{what} failed: {shown}")
    return done.stdout


class EspeakNg:
    """The espeak-ng speech synthesizer (``espeak-ng -v VOICE -s SPEED --stdout``)."""

    program = "espeak-ng"
    install_hint = "apt-get install espeak-ng"

    def __init__(self, voice: str = "de", speed: int = DEFAULT_SPEED):
        if not voice or any(c.isspace() for c in voice) or voice.startswith("-"):
            raise ValueError(f"invalid espeak-ng voice {voice!r}")
        if isinstance(speed, bool) or not isinstance(speed, int) or not MIN_SPEED <= speed <= MAX_SPEED:
            raise ValueError(f"speed must be {MIN_SPEED}-{MAX_SPEED} words per minute, got {speed!r}")
        self.voice = voice
        self.speed = speed
        self.key = f"espeak-ng:{voice}:{speed}"
        self.label = f"espeak-ng {voice}"

    def synthesize(self, text: str, rate: int = SAMPLE_RATE) -> bytes:
        """The spoken ``text`` as 16-bit mono PCM at ``rate`` Hz (espeak-ng's 22.05 kHz decoded to it)."""
        _check_rate(rate)
        binary = shutil.which(self.program)
        if binary is None:
            raise TtsUnavailable(self.program, self.install_hint)
        what = f"espeak-ng (voice {self.voice})"
        # --stdin: the text never becomes an argument; -b 1: it is UTF-8.
        data = _run([binary, "-v", self.voice, "-s", str(self.speed), "-b", "1", "--stdin", "--stdout"],
                    text, what, self.install_hint)
        return _decode_wav_bytes(data, what, rate)

    def __repr__(self) -> str:
        return f"EspeakNg(voice={self.voice!r}, speed={self.speed})"


class Piper:
    """A Piper neural voice: ``model`` is the ``*.onnx`` file (its ``.onnx.json`` beside it).

    Uses the ``piper`` program when it is on PATH, else the ``piper`` Python
    package (``pip install piper-tts``).
    """

    program = "piper"
    install_hint = "pip install piper-tts"

    def __init__(self, model: str | os.PathLike):
        self.model = Path(model)
        try:
            size = self.model.stat().st_size
        except OSError:
            size = 0
        # The model file's name and size stand for its content: hashing a
        # 60 MB model on every start would be slow, and voices are not edited.
        self.key = f"piper:{self.model.name}:{size}"
        self.label = f"piper {self.model.stem}"
        self._voice: Any = None

    def synthesize(self, text: str, rate: int = SAMPLE_RATE) -> bytes:
        """The spoken ``text`` as 16-bit mono PCM at ``rate`` Hz (the voice's own rate decoded to it)."""
        _check_rate(rate)
        if not self.model.is_file():
            raise TtsError(f"Piper voice model {self.model} not found — download a voice "
                           f"(.onnx and .onnx.json) and set tts.piper_model to it")
        binary = shutil.which(self.program)
        if binary is not None:
            return self._with_program(binary, text, rate)
        return self._with_package(text, rate)

    def _with_program(self, binary: str, text: str, rate: int) -> bytes:
        what = f"piper (voice {self.model.name})"
        with tempfile.TemporaryDirectory(prefix="callbot-tts-") as tmp:
            out = Path(tmp) / "speech.wav"
            _run([binary, "-m", str(self.model), "-f", str(out)], text, what, self.install_hint)
            if not out.is_file():
                raise TtsError(f"{what} wrote no audio file")
            return _decode_wav_bytes(out.read_bytes(), what, rate)

    def _with_package(self, text: str, rate: int) -> bytes:
        try:
            from piper import PiperVoice  # type: ignore[import-not-found]
        except ImportError:
            raise TtsUnavailable(self.program, self.install_hint) from None
        what = f"piper (voice {self.model.name})"
        try:
            if self._voice is None:
                self._voice = PiperVoice.load(str(self.model))
            with tempfile.TemporaryDirectory(prefix="callbot-tts-") as tmp:
                out = Path(tmp) / "speech.wav"
                with wave.open(str(out), "wb") as wav:
                    if hasattr(self._voice, "synthesize_wav"):  # piper-tts >= 1.3
                        self._voice.synthesize_wav(text, wav)
                    else:  # piper-tts 1.2
                        self._voice.synthesize(text, wav)
                data = out.read_bytes()
        except TtsError:
            raise
        except Exception as exc:  # the package's own errors are not documented
            raise TtsError(f"{what} failed: {exc}") from None
        return _decode_wav_bytes(data, what, rate)

    def __repr__(self) -> str:
        return f"Piper(model={str(self.model)!r})"


def default_engine(language: str) -> EspeakNg:
    """The engine used when nothing is configured: espeak-ng, voice = language, 150 wpm."""
    return EspeakNg(language, DEFAULT_SPEED)


def engine_from_config(tts_config: Any, language: str) -> TtsEngine:
    """The engine a ``[tts]`` config section (:class:`callbot.speech.settings.TtsSettings`) asks for.

    An empty ``voice`` means the prompt language (``de``, ``en``).
    """
    engine = getattr(tts_config, "engine", DEFAULT_ENGINE)
    if engine == "piper":
        model = getattr(tts_config, "piper_model", None)
        if not model:
            raise TtsError("tts.engine is \"piper\" but tts.piper_model is not set — give the "
                           "path of the voice's .onnx file")
        return Piper(model)
    if engine != "espeak-ng":
        raise TtsError(f"unknown TTS engine {engine!r}; one of: {', '.join(ENGINES)}")
    voice = getattr(tts_config, "voice", "") or language
    speed = getattr(tts_config, "speed", DEFAULT_SPEED)
    return EspeakNg(voice, speed)
