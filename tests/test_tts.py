"""Tests for callbot.speech.tts: espeak-ng and Piper engines, and engine selection from [tts]."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from callbot.audio import SAMPLE_RATE, duration_seconds, level_dbfs
from callbot.speech.settings import TtsSettings
from callbot.errors import CallbotError
from callbot.speech.tts import (
    DEFAULT_SPEED,
    EspeakNg,
    Piper,
    TtsEngine,
    TtsError,
    TtsUnavailable,
    default_engine,
    engine_from_config,
)

HAVE_ESPEAK = shutil.which("espeak-ng") is not None
HAVE_PIPER = shutil.which("piper") is not None or importlib.util.find_spec("piper") is not None
needs_espeak = pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not installed")


@pytest.fixture
def empty_path(tmp_path, monkeypatch) -> Path:
    """PATH with nothing on it: no espeak-ng, no piper."""
    bin_dir = tmp_path / "empty-bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def fake_program(bin_dir: Path, name: str, script: str) -> None:
    """A shell script standing in for a TTS program."""
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\nPATH=/usr/bin:/bin\n{script}\n")
    path.chmod(0o755)


# ---------------------------------------------------------------- espeak-ng


@needs_espeak
def test_espeak_speaks_german_as_8k_pcm():
    engine = EspeakNg("de", 150)
    pcm = engine.synthesize("Guten Tag, Sie sprechen mit dem Telefonassistenten.")
    assert isinstance(pcm, bytes) and len(pcm) % 2 == 0
    assert 1.5 < duration_seconds(pcm, SAMPLE_RATE) < 8.0  # 8 kHz: a short sentence, not 22 kHz samples
    assert level_dbfs(pcm) > -40  # speech, not silence
    # reproducible: the same text gives the same audio (the cache relies on it)
    assert engine.synthesize("Guten Tag, Sie sprechen mit dem Telefonassistenten.") == pcm


@needs_espeak
def test_espeak_speed_changes_the_length():
    text = "Bitte nennen Sie mir Ihren Namen und Ihre Firma."
    slow, fast = EspeakNg("de", 100).synthesize(text), EspeakNg("de", 250).synthesize(text)
    assert duration_seconds(slow) > 1.5 * duration_seconds(fast)


@needs_espeak
def test_espeak_text_is_never_an_option():
    # the text goes to stdin, so text that looks like an option is just spoken
    assert level_dbfs(EspeakNg("de").synthesize("-v xx --help")) > -40


@needs_espeak
def test_espeak_unknown_voice_is_a_clear_error():
    with pytest.raises(TtsError, match="voice") as excinfo:
        EspeakNg("xx-nonexistent").synthesize("Hallo")
    assert "xx-nonexistent" in str(excinfo.value)


def test_espeak_missing_binary_says_how_to_install(empty_path):
    with pytest.raises(TtsUnavailable) as excinfo:
        EspeakNg("de").synthesize("Hallo")
    error = excinfo.value
    assert isinstance(error, TtsError) and isinstance(error, CallbotError)
    assert error.tool == "espeak-ng" and error.fix == "apt-get install espeak-ng"
    assert str(error) == "espeak-ng is not installed — apt-get install espeak-ng"


def test_espeak_failure_shows_its_message(empty_path):
    fake_program(empty_path, "espeak-ng", 'echo "Error: something broke" >&2; exit 3')
    with pytest.raises(TtsError, match="something broke"):
        EspeakNg("de").synthesize("Hallo")


def test_espeak_garbage_output_is_an_error(empty_path):
    fake_program(empty_path, "espeak-ng", "cat >/dev/null; echo not-a-wav-file")
    with pytest.raises(TtsError, match="unreadable audio"):
        EspeakNg("de").synthesize("Hallo")
    fake_program(empty_path, "espeak-ng", "cat >/dev/null")
    with pytest.raises(TtsError, match="no audio"):
        EspeakNg("de").synthesize("Hallo")


def test_espeak_gets_voice_speed_and_text(empty_path, tmp_path):
    """The command line the engine runs (checked with a fake espeak-ng that records it)."""
    log = tmp_path / "args"
    wav = tmp_path / "tone.wav"
    from tests.conftest import tone
    from callbot.audio import write_wav

    write_wav(wav, tone(0.5), rate=SAMPLE_RATE)
    fake_program(empty_path, "espeak-ng", f'echo "$@" > {log}; cat > {log}.text; cat {wav}')
    pcm = EspeakNg("en-us", 180).synthesize("Hello -there")
    assert duration_seconds(pcm) == pytest.approx(0.5)
    assert log.read_text().split() == ["-v", "en-us", "-s", "180", "-b", "1", "--stdin", "--stdout"]
    assert (tmp_path / "args.text").read_text() == "Hello -there"


def test_espeak_key_and_label():
    engine = EspeakNg("de", 150)
    assert isinstance(engine, TtsEngine)
    assert engine.key == "espeak-ng:de:150"
    assert engine.label == "espeak-ng de"
    assert default_engine("en").key == f"espeak-ng:en:{DEFAULT_SPEED}"


@pytest.mark.parametrize("voice, speed", [("", 150), ("-x", 150), ("de de", 150), ("de", 79), ("de", 401),
                                          ("de", True), ("de", 150.0)])
def test_espeak_rejects_bad_settings(voice, speed):
    with pytest.raises(ValueError):
        EspeakNg(voice, speed)


# ---------------------------------------------------------------- Piper


def test_piper_key_names_the_model(tmp_path):
    model = tmp_path / "de_DE-thorsten-medium.onnx"
    model.write_bytes(b"x" * 1234)
    engine = Piper(model)
    assert isinstance(engine, TtsEngine)
    assert engine.key == "piper:de_DE-thorsten-medium.onnx:1234"
    assert engine.label == "piper de_DE-thorsten-medium"


def test_piper_missing_model(tmp_path):
    with pytest.raises(TtsError, match="not found"):
        Piper(tmp_path / "nope.onnx").synthesize("Hallo")


@pytest.mark.skipif(HAVE_PIPER, reason="piper is installed")
def test_piper_not_installed_says_how_to_install(tmp_path, empty_path):
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"x")
    with pytest.raises(TtsUnavailable, match="pip install piper-tts"):
        Piper(model).synthesize("Hallo")


def test_piper_program_is_used_when_on_path(tmp_path, empty_path):
    from tests.conftest import tone
    from callbot.audio import write_wav

    wav = tmp_path / "tone.wav"
    write_wav(wav, tone(0.7), rate=SAMPLE_RATE)
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"x")
    # like piper: -m MODEL -f OUTPUT, text on stdin
    fake_program(empty_path, "piper", f'cat > {tmp_path}/text; cp {wav} "$4"; echo "$1 $2 $3" > {tmp_path}/args')
    pcm = Piper(model).synthesize("Guten Tag")
    assert duration_seconds(pcm) == pytest.approx(0.7)
    assert (tmp_path / "text").read_text() == "Guten Tag"
    assert (tmp_path / "args").read_text().split() == ["-m", str(model), "-f"]


@pytest.mark.skipif(not (HAVE_PIPER and os.environ.get("CALLBOT_PIPER_MODEL")),
                    reason="needs piper and a voice in CALLBOT_PIPER_MODEL")
def test_piper_speaks():  # pragma: no cover - only where a Piper voice is installed
    pcm = Piper(os.environ["CALLBOT_PIPER_MODEL"]).synthesize("Guten Tag.")
    assert duration_seconds(pcm) > 0.3 and level_dbfs(pcm) > -40


# ---------------------------------------------------------------- from config


def test_engine_from_default_config_is_what_the_seed_was_made_with():
    engine = engine_from_config(TtsSettings(), "de")
    assert isinstance(engine, EspeakNg)
    assert engine.key == default_engine("de").key == "espeak-ng:de:150"
    assert engine_from_config(TtsSettings(), "en").key == "espeak-ng:en:150"


def test_engine_from_config_voice_and_speed():
    engine = engine_from_config(TtsSettings(voice="de+f3", speed=170), "en")
    assert engine.key == "espeak-ng:de+f3:170"


def test_engine_from_config_piper(tmp_path):
    model = tmp_path / "v.onnx"
    model.write_bytes(b"x")
    engine = engine_from_config(TtsSettings(engine="piper", piper_model=model), "de")
    assert isinstance(engine, Piper) and engine.model == model
    with pytest.raises(TtsError, match="piper_model"):
        engine_from_config(TtsSettings(engine="piper"), "de")
    with pytest.raises(TtsError, match="unknown TTS engine"):
        engine_from_config(TtsSettings(engine="festival"), "de")
