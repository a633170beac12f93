"""The ``[speech]``, ``[turns]`` and ``[tts]`` sections -> the speech components'
settings (:mod:`callbot.speech.settings`, :class:`callbot.speech.turns.TurnSettings`).

``[turns]`` is read key by key here (type, and the range :data:`callbot.speech.turns.LIMITS`
defines, each problem with its key); the rules between its values are
:class:`TurnSettings`' own, and its ``ValueError`` is reported as a ``turns:`` problem.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from callbot.config.reader import MISSING, Reader, check_writable_dir, describe
from callbot.speech.settings import (
    DEFAULT_MODELS,
    DEFAULT_MODELS_DIR,
    DEFAULT_PROMPT_CACHE,
    MAX_DECODERS,
    TRANSCRIPTION_MODES,
    TTS_ENGINES,
    TTS_SPEED_MAX,
    TTS_SPEED_MIN,
    SpeechSettings,
    TtsSettings,
)
from callbot.speech.turns import DETECTORS, LIMITS, TurnSettings

_TTS_VOICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def load_speech(r: Reader, t: dict[str, Any], base: Path, language: str) -> SpeechSettings:
    default_model = DEFAULT_MODELS_DIR / DEFAULT_MODELS.get(language, DEFAULT_MODELS["de"])
    model = r.path(t, "speech", "model", default_model, base)
    transcription = r.choice(t, "speech", "transcription", SpeechSettings.transcription, TRANSCRIPTION_MODES)
    decoders = SpeechSettings.decoders
    value = t.get("decoders", "auto")
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_DECODERS:
        decoders = value
    elif not (isinstance(value, str) and value.strip().lower() == "auto"):
        r.add(f'speech.decoders: expected "auto" or an integer 1-{MAX_DECODERS}, got {describe(value)}')
    live_calls = SpeechSettings.live_calls
    value = t.get("live_calls", "auto")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_DECODERS:
        live_calls = value
    elif not (isinstance(value, str) and value.strip().lower() == "auto"):
        r.add(f'speech.live_calls: expected "auto" (measured at start) or an integer 0-{MAX_DECODERS} '
              f"(0 = always transcribe after the call), got {describe(value)}")
    return SpeechSettings(model=model if model is not None else base / default_model, transcription=transcription,
                          decoders=decoders, live_calls=live_calls)


def load_turns(r: Reader, t: dict[str, Any]) -> TurnSettings:
    """Each key's type, and its range from TurnSettings' LIMITS, reported with its key; the rules
    between the values are TurnSettings' own (its ValueError becomes a ``turns:`` problem)."""
    d = TurnSettings()
    values = {}
    for key, (lo, hi, lo_excluded) in LIMITS.items():
        unit = "dBFS" if key == "speech_threshold_dbfs" else "seconds"
        values[key] = r.number(t, "turns", key, getattr(d, key), lo=lo, hi=hi, lo_exclusive=lo_excluded, unit=unit)
    values["detector"] = r.choice(t, "turns", "detector", d.detector, DETECTORS)
    if any(p.startswith("turns.") for p in r.bad):
        return d
    try:
        return TurnSettings(**values)
    except ValueError as exc:
        r.add(f"turns: {exc}")
        return d


def load_tts(r: Reader, t: dict[str, Any], base: Path) -> TtsSettings:
    d = TtsSettings()
    s = "tts"
    engine = r.choice(t, s, "engine", d.engine, TTS_ENGINES)
    voice = r.string(t, s, "voice", d.voice).strip()
    if voice and not _TTS_VOICE.match(voice):
        r.add(f"tts.voice: {describe(voice)} is not a voice name — use e.g. \"de\", \"en-us\" or "
              f"\"de+f3\" (`espeak-ng --voices` lists them), or leave it empty for the prompt language")
        voice = d.voice
    speed = r.integer(t, s, "speed", d.speed, TTS_SPEED_MIN, TTS_SPEED_MAX)
    piper_model: Path | None = None
    raw_model = t.get("piper_model", MISSING)
    if raw_model is not MISSING and not (isinstance(raw_model, str) and not raw_model.strip()):
        piper_model = r.path(t, s, "piper_model", Path("."), base)
    if engine == "piper" and "tts.piper_model" not in r.bad:
        if piper_model is None:
            r.add('tts.piper_model: required when tts.engine = "piper" — give the path of the '
                  "voice's .onnx file, e.g. \"data/voices/de_DE-thorsten-medium.onnx\"")
        elif not piper_model.is_file():
            r.add(f"tts.piper_model: {piper_model} does not exist — download a Piper voice "
                  f"(the .onnx and its .onnx.json) there, or fix the path")
    cache = r.path(t, s, "cache", DEFAULT_PROMPT_CACHE, base)
    if cache is not None:
        try:
            check_writable_dir(r, "tts.cache", cache)
        except OSError as exc:
            r.add(f"tts.cache: cannot check {cache} ({exc.strerror or exc}) — choose another path")
    return TtsSettings(
        engine=engine, voice=voice, speed=speed, piper_model=piper_model,
        cache=cache if cache is not None else base / DEFAULT_PROMPT_CACHE,
    )

