"""Tests for wideband prompts: every prompt rendered at 8 kHz (G.711) and 16 kHz (G.722), each from
its source (the recording decoded at 16 kHz, the speech synthesized at 16 kHz), cached per rate,
and the shipped 8 kHz seed resampled when no TTS is installed.

Real espeak-ng and real audio files throughout (written with sox, soundfile and write_wav)."""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import callbot.prompts.render as render_module
from callbot.audio import frame_bytes, resample, write_wav
from callbot.errors import AudioError
from callbot.prompts.cache import read_rendered, rendered_name, tts_key, write_rendered
from callbot.prompts.layout import SEED_DIR
from callbot.prompts.library import PromptLibrary
from callbot.prompts.render import TARGET_DBFS, TRIM_MARGIN, Prompt
from callbot.prompts.seed import write_seed
from callbot.speech.tts import EspeakNg, TtsError, TtsUnavailable, default_engine
from tests.test_prompts import PROMPTS_DIR, speechlike, texts_of, write_texts

HAVE_TOOLS = shutil.which("espeak-ng") is not None and shutil.which("sox") is not None
needs_espeak = pytest.mark.skipif(not HAVE_TOOLS, reason="espeak-ng and sox are needed")

SENTENCE = "Guten Tag. Sie sprechen mit dem Telefonassistenten, bitte sagen Sie Ihren Namen."
SPEECH_SECONDS = 0.0  # set by the recording fixture: the length of the speech in it


# ---------------------------------------------------------------- measuring


def floats(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768


def high_band_share(pcm: bytes, rate: int, above: float = 4000.0) -> float:
    """The share of the energy above ``above`` Hz (numpy FFT)."""
    spectrum = np.abs(np.fft.rfft(floats(pcm))) ** 2
    freqs = np.fft.rfftfreq(len(pcm) // 2, 1 / rate)
    return float(spectrum[freqs > above].sum() / spectrum.sum())


def band_share(pcm: bytes, rate: int, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(floats(pcm))) ** 2
    freqs = np.fft.rfftfreq(len(pcm) // 2, 1 / rate)
    return float(spectrum[(freqs >= low) & (freqs <= high)].sum() / spectrum.sum())


def speech_dbfs(pcm: bytes, rate: int) -> float:
    """RMS over the 20 ms frames above -50 dBFS (what normalization targets), at ``rate``."""
    x, n = floats(pcm), rate // 50
    loud = [f for f in (x[i : i + n] for i in range(0, len(x), n)) if 10 * np.log10(np.mean(f * f) + 1e-20) >= -50]
    return float(10 * np.log10(np.mean(np.concatenate(loud) ** 2)))


def rates_of(engine) -> list[int]:
    """The rates an engine (:class:`Counting`, :class:`Tones`) was asked for, sorted."""
    return sorted(rate for _, rate in engine.calls)


def wav_rate(path: Path) -> int:
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return wav.getframerate()


# ---------------------------------------------------------------- engines


class Counting:
    """A real engine (same key, so the shipped seed still matches) that records (text, rate) per call."""

    def __init__(self, engine):
        self.engine = engine
        self.key = engine.key
        self.label = engine.label
        self.calls: list[tuple[str, int]] = []

    def synthesize(self, text: str, rate: int = 8000) -> bytes:
        self.calls.append((text, rate))
        return self.engine.synthesize(text, rate=rate)


class Tones:
    """A stand-in engine with a rate argument: a modulated tone at the rate asked for."""

    def __init__(self, key: str = "tones:1", fail_wide: Exception | None = None):
        self.key = key
        self.label = "tones"
        self.fail_wide = fail_wide
        self.calls: list[tuple[str, int]] = []

    def synthesize(self, text: str, rate: int = 8000) -> bytes:
        self.calls.append((text, rate))
        if rate != 8000 and self.fail_wide is not None:
            raise self.fail_wide
        return np.rint(speechlike(0.8, rate=rate, freq=300 + len(text) * 10) * 32767).astype("<i2").tobytes()


class OnlyText:
    """An engine from before wideband: ``synthesize(text)``, 8 kHz only."""

    key = "old:1"
    label = "old engine"

    def synthesize(self, text: str) -> bytes:
        return np.rint(speechlike(0.8) * 32767).astype("<i2").tobytes()


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def no_tts(tmp_path, monkeypatch) -> None:
    """Hide every program, espeak-ng included (a fresh install without TTS)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def wideband_recording(tmp_path) -> tuple[Path, float]:
    """prompts/de/hello.wav, recorded at 16 kHz: 0.5 s room noise, espeak-ng speech with a 5 kHz tone
    burst in the middle of it (energy between 4 and 7 kHz, which 8 kHz audio cannot hold), 0.5 s room
    noise. Returns the prompts root and the length of the loud part in seconds."""
    raw, at16 = tmp_path / "espeak.wav", tmp_path / "speech16.wav"
    subprocess.run(["espeak-ng", "-v", "de", "-s", "150", "-w", str(raw), SENTENCE], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-b", "16", str(at16)], check=True)
    speech, rate = sf.read(at16)
    assert rate == 16000
    nonzero = np.flatnonzero(np.abs(speech) > 1e-3)
    speech = speech[nonzero[0] : nonzero[-1] + 1]  # espeak's own silence off: the loud part is known
    speech = speech / np.sqrt(np.mean(speech**2)) * 10 ** (-18 / 20)
    t = np.arange(len(speech)) / rate
    middle = (t > t[-1] / 2 - 0.3) & (t < t[-1] / 2 + 0.3)
    burst = np.where(middle, np.sin(2 * np.pi * 5000 * t) * 10 ** (-18 / 20) * math.sqrt(2), 0.0)
    room = np.random.default_rng(3).normal(0, 10 ** (-75 / 20), int(0.5 * rate))
    audio = np.concatenate([room, speech + burst, room])
    (tmp_path / "prompts" / "de").mkdir(parents=True)
    sf.write(tmp_path / "prompts" / "de" / "hello.wav", audio, rate, subtype="PCM_16")
    write_wav(tmp_path / "prompts" / "de" / "withheld.wav", (np.rint(speechlike(1.0) * 32767)).astype("<i2").tobytes())
    return tmp_path / "prompts", len(speech) / rate


# ---------------------------------------------------------------- recordings


@needs_espeak
def test_a_16k_recording_keeps_its_high_band_for_wideband_calls(wideband_recording, cache):
    root, loud_seconds = wideband_recording
    prompt = PromptLibrary.load(root, "de", cache_dir=cache).get("hello")
    wide, narrow = prompt.pcm_at(16000), prompt.pcm
    assert prompt.pcm_at(8000) is prompt.pcm and prompt.wide == wide and prompt.origin == "rendered"

    # the 16 kHz render is decoded from the recording: the 5 kHz burst and the speech above 4 kHz are there
    assert high_band_share(wide, 16000) > 0.05
    assert band_share(wide, 16000, 4950, 5050) > 0.05
    # ... the 8 kHz one has nothing above 4 kHz (and the burst did not fold down to 3 kHz)
    assert high_band_share(resample(narrow, 8000, 16000), 16000) < 1e-4
    assert band_share(narrow, 8000, 2950, 3050) < 0.01
    assert wide != resample(narrow, 8000, 16000)

    # both trimmed (the 0.5 s of room noise on each side is gone, the margins kept) and normalized alike
    assert len(narrow) == 2 * round(prompt.duration * 8000)
    for pcm, rate in ((narrow, 8000), (wide, 16000)):
        assert len(pcm) / 2 / rate == pytest.approx(loud_seconds + 2 * TRIM_MARGIN, abs=0.03)
        assert speech_dbfs(pcm, rate) == pytest.approx(TARGET_DBFS, abs=1.0)
        assert np.max(np.abs(floats(pcm))) <= 10 ** (-1 / 20) + 1e-4
    assert speech_dbfs(wide, 16000) == pytest.approx(speech_dbfs(narrow, 8000), abs=1.0)
    assert len(wide) / 2 / 16000 == pytest.approx(prompt.duration, abs=0.02)


@needs_espeak
def test_frames_at_each_rate(wideband_recording, cache):
    prompt = PromptLibrary.load(wideband_recording[0], "de", cache_dir=cache).get("hello")
    narrow, wide = prompt.frames(), prompt.frames(16000)
    assert frame_bytes(16000) == 640 and frame_bytes(8000) == 320
    assert {len(f) for f in narrow} == {320} and {len(f) for f in wide} == {640}
    assert prompt.frames(8000) == narrow
    assert len(narrow) == math.ceil(prompt.duration / 0.02)
    assert len(wide) == math.ceil(len(prompt.pcm_at(16000)) / 640)
    assert abs(len(wide) - prompt.duration / 0.02) <= 1.5  # the same length, within a frame
    assert b"".join(wide)[: len(prompt.pcm_at(16000))] == prompt.pcm_at(16000)
    assert not any(b"".join(wide)[len(prompt.pcm_at(16000)) :])  # the last frame is zero-padded
    # cut once per rate: every call gives a fresh list of the same frames
    wide.clear()
    again = prompt.frames(16000)
    assert len(again) == len(prompt.frames(16000)) and again[0] is prompt.frames(16000)[0]


@needs_espeak
def test_both_renders_of_a_recording_are_cached(wideband_recording, cache, monkeypatch):
    root = wideband_recording[0]
    first = PromptLibrary.load(root, "de", cache_dir=cache).get("hello")
    narrow_file = cache / "de" / rendered_name("hello", first.key)
    wide_file = cache / "de" / rendered_name("hello", first.key, 16000)
    assert wide_file.name == narrow_file.name.replace(".wav", "-16k.wav")
    assert (wav_rate(narrow_file), wav_rate(wide_file)) == (8000, 16000)
    assert read_rendered(wide_file, 16000) == first.pcm_at(16000)

    decoded: list[int] = []
    real = render_module.decode_file
    monkeypatch.setattr(render_module, "decode_file",
                        lambda path, target=8000: decoded.append(target) or real(path, target=target))
    second = PromptLibrary.load(root, "de", cache_dir=cache).get("hello")
    assert decoded == [] and second.origin == "cache"
    assert second.pcm == first.pcm and second.pcm_at(16000) == first.pcm_at(16000)

    wide_file.unlink()  # a cache hit at 8 kHz, a miss at 16 kHz: only the 16 kHz one is rendered
    third = PromptLibrary.load(root, "de", cache_dir=cache).get("hello")
    assert decoded == [16000] and third.origin == "cache" and wide_file.is_file()
    assert third.pcm_at(16000) == first.pcm_at(16000)


# ---------------------------------------------------------------- text prompts


@needs_espeak
def test_a_text_prompt_is_synthesized_at_16k_and_cached(tmp_path, cache):
    write_texts(tmp_path / "de", {"withheld": "Bitte rufen Sie mit Nummer an.", "hello": SENTENCE})
    engine = Counting(EspeakNg("de", 150))
    hello = PromptLibrary.load(tmp_path, "de", cache_dir=cache, tts=engine).get("hello")
    assert sorted(c for c in engine.calls if c[0] == SENTENCE) == [(SENTENCE, 8000), (SENTENCE, 16000)]
    assert hello.origin == "synthesized" and hello.wide
    wide = hello.pcm_at(16000)
    # espeak-ng speaks at 22.05 kHz: synthesized for 16 kHz, its fricatives above 4 kHz stay
    assert high_band_share(wide, 16000) > 1e-3
    assert high_band_share(resample(hello.pcm, 8000, 16000), 16000) < 1e-5
    assert len(wide) / 2 / 16000 == pytest.approx(hello.duration, abs=0.1)
    assert speech_dbfs(wide, 16000) == pytest.approx(speech_dbfs(hello.pcm, 8000), abs=1.0)

    wide_file = cache / "de" / rendered_name("hello", hello.key, 16000)
    assert wide_file.name.endswith("-16k.wav") and wav_rate(wide_file) == 16000
    assert wav_rate(hello.source) == 8000 and hello.source == cache / "de" / rendered_name("hello", hello.key)

    engine.calls.clear()
    again = PromptLibrary.load(tmp_path, "de", cache_dir=cache, tts=engine).get("hello")
    assert engine.calls == [] and again.origin == "cache" and again.pcm_at(16000) == wide


def test_hot_reload_keeps_both_renders(tmp_path, cache):
    write_texts(tmp_path / "de", {"withheld": "Bitte mit Nummer.", "hello": "Hallo."})
    engine = Tones()
    library = PromptLibrary.load(tmp_path, "de", cache_dir=cache, tts=engine)
    assert rates_of(engine) == [8000, 8000, 16000, 16000]
    write_texts(tmp_path / "de", {"withheld": "Bitte mit Nummer.", "hello": "Hallo, wer ist da?"})
    engine.calls.clear()
    new = library.reload()
    assert sorted(engine.calls) == [("Hallo, wer ist da?", 8000), ("Hallo, wer ist da?", 16000)]
    kept = new.get("withheld")
    assert kept.origin == "memory" and kept.wide == library.get("withheld").wide != b""
    assert len(kept.wide) == 2 * len(kept.pcm)  # a tone without silence: exactly twice as many samples


# ---------------------------------------------------------------- the shipped 8 kHz seed


@pytest.mark.parametrize("how", ["no program", "engine unavailable"])
def test_seed_only_without_tts_is_resampled_for_wideband(how, tmp_path, cache, no_tts, caplog):
    shipped = Path(shutil.copytree(PROMPTS_DIR, tmp_path / "prompts"))
    tts = None
    if how == "engine unavailable":
        class Missing(Tones):
            def synthesize(self, text, rate=8000):
                raise TtsUnavailable("espeak-ng", "apt-get install espeak-ng")

        tts = Missing(key=default_engine("de").key)
    with caplog.at_level(logging.INFO, logger="callbot.prompts.render"):
        library = PromptLibrary.load(shipped, "de", required=list(texts_of("de")), cache_dir=cache, tts=tts)
    for prompt in library:
        assert prompt.origin == "seed" and prompt.wide == b""
        wide = prompt.pcm_at(16000)
        assert wide == resample(prompt.pcm, 8000, 16000) and len(wide) == 2 * len(prompt.pcm)
        assert len(prompt.frames(16000)) == len(prompt.frames())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "espeak-ng is not installed" in caplog.text
    assert {p.name for p in (shipped / "de" / SEED_DIR).iterdir()} == \
        {p.name for p in (PROMPTS_DIR / "de" / SEED_DIR).iterdir()}  # nothing written beside the seed


@needs_espeak
def test_seed_with_tts_gets_a_16k_render_from_tts(tmp_path, cache):
    shipped = Path(shutil.copytree(PROMPTS_DIR, tmp_path / "prompts"))
    engine = Counting(default_engine("de"))
    library = PromptLibrary.load(shipped, "de", cache_dir=cache, tts=engine)
    hello = library.get("hello")
    assert hello.origin == "seed" and hello.source.parent == shipped / "de" / SEED_DIR
    assert set(rates_of(engine)) == {16000} and len(engine.calls) == len(library)  # the 8 kHz is the seed
    assert high_band_share(hello.pcm_at(16000), 16000) > 1e-3
    assert (cache / "de" / rendered_name("hello", hello.key, 16000)).is_file()
    assert not list((shipped / "de" / SEED_DIR).glob("*-16k.wav"))

    engine.calls.clear()
    again = PromptLibrary.load(shipped, "de", cache_dir=cache, tts=engine).get("hello")
    assert engine.calls == [] and again.origin == "seed" and again.pcm_at(16000) == hello.pcm_at(16000)


def test_write_seed_ships_8k_only(tmp_path):
    shipped = Path(shutil.copytree(PROMPTS_DIR, tmp_path / "prompts"))
    texts = texts_of("de")
    texts["still_there"] = "Hallo? Sind Sie noch dran?"
    write_texts(shipped / "de", texts)
    engine = Tones(key=default_engine("de").key)
    write_seed(shipped, "de", tts=engine)
    assert engine.calls == [("Hallo? Sind Sie noch dran?", 8000)]
    seed_dir = shipped / "de" / SEED_DIR
    assert not list(seed_dir.glob("*-16k.wav")) and {wav_rate(p) for p in seed_dir.iterdir()} == {8000}
    name = rendered_name("still_there", tts_key(texts["still_there"], engine.key))
    assert (seed_dir / name).is_file()
    # loading it: the 8 kHz render is the new seed file, the 16 kHz one is synthesized (into the cache)
    engine.calls.clear()
    prompt = PromptLibrary.load(shipped, "de", cache_dir=tmp_path / "cache", tts=engine).get("still_there")
    assert prompt.origin == "seed" and prompt.source == seed_dir / name
    assert ("Hallo? Sind Sie noch dran?", 16000) in engine.calls and set(rates_of(engine)) == {16000}
    assert len(prompt.pcm_at(16000)) == 2 * len(prompt.pcm) and not list(seed_dir.glob("*-16k.wav"))


# ---------------------------------------------------------------- failures of the 16 kHz render


def test_a_failing_16k_synthesis_does_not_fail_the_prompt(tmp_path, cache, caplog):
    write_texts(tmp_path / "de", {"withheld": "a", "hello": "b"})
    engine = Tones(fail_wide=TtsError("piper (voice x) failed: out of memory"))
    with caplog.at_level(logging.WARNING, logger="callbot.prompts.render"):
        hello = PromptLibrary.load(tmp_path, "de", cache_dir=cache, tts=engine).get("hello")
    assert hello.origin == "synthesized" and hello.wide == b""
    assert hello.pcm_at(16000) == resample(hello.pcm, 8000, 16000)
    assert "out of memory" in caplog.text and "resampled" in caplog.text
    assert not list((cache / "de").glob("*-16k.wav"))


def test_an_unwritable_16k_cache_does_not_fail_the_prompt(tmp_path, cache, monkeypatch, caplog):
    write_texts(tmp_path / "de", {"withheld": "a", "hello": "b"})
    real = render_module.write_rendered

    def write(path, pcm, rate=8000):
        if rate == 16000:
            raise PermissionError(13, "Permission denied")
        real(path, pcm, rate)

    monkeypatch.setattr(render_module, "write_rendered", write)
    with caplog.at_level(logging.WARNING, logger="callbot.prompts.render"):
        hello = PromptLibrary.load(tmp_path, "de", cache_dir=cache, tts=Tones()).get("hello")
    assert hello.origin == "synthesized" and len(hello.pcm_at(16000)) == 2 * len(hello.pcm)
    assert "Permission denied" in caplog.text


def test_an_engine_without_a_rate_still_works(tmp_path, cache):
    write_texts(tmp_path / "de", {"withheld": "a", "hello": "b"})
    hello = PromptLibrary.load(tmp_path, "de", cache_dir=cache, tts=OnlyText()).get("hello")
    assert hello.wide == b"" and hello.pcm_at(16000) == resample(hello.pcm, 8000, 16000)


# ---------------------------------------------------------------- the Prompt and cache API


def test_other_rates_are_an_audio_error(tmp_path):
    prompt = Prompt("hello", "de", bytes(3200), "Hallo.", tmp_path / "x.wav", "tts", "espeak-ng de", "k", "seed")
    assert prompt.wide == b"" and prompt.pcm_at(16000) == bytes(6400) and len(prompt.frames(16000)) == 10
    for rate in (44100, 8001, 0):
        with pytest.raises(AudioError, match=str(rate)):
            prompt.pcm_at(rate)
        with pytest.raises(AudioError, match=str(rate)):
            prompt.frames(rate)


def test_cache_files_per_rate(tmp_path):
    assert rendered_name("hello", "ab" * 32) == f"hello-{'ab' * 6}.wav"
    assert rendered_name("hello", "ab" * 32, 16000) == f"hello-{'ab' * 6}-16k.wav"
    with pytest.raises(AudioError, match="44100"):
        rendered_name("hello", "ab" * 32, 44100)
    pcm = np.rint(speechlike(0.1, rate=16000) * 32767).astype("<i2").tobytes()
    path = tmp_path / "x-16k.wav"
    write_rendered(path, pcm, 16000)
    assert wav_rate(path) == 16000
    assert read_rendered(path, 16000) == pcm
    assert read_rendered(path) is None  # an 8 kHz read rejects a 16 kHz file
    write_rendered(path, pcm[:1600])
    assert read_rendered(path) == pcm[:1600] and read_rendered(path, 16000) is None


@needs_espeak
def test_espeak_synthesizes_at_the_rate_asked_for():
    engine = EspeakNg("de", 150)
    narrow, wide = engine.synthesize(SENTENCE), engine.synthesize(SENTENCE, rate=16000)
    assert engine.synthesize(SENTENCE, rate=8000) == narrow
    assert abs(len(wide) - 2 * len(narrow)) <= 4
    assert high_band_share(wide, 16000) > 1e-3
    with pytest.raises(ValueError):
        engine.synthesize(SENTENCE, rate=0)
