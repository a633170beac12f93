"""Tests for callbot.prompts: shipped prompts and seed cache, recordings in every format,
trimming and loudness, TTS and the content-hash cache, prompts.toml checks, hot reload,
and the `callbot prompts` commands."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tomllib
import types
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

import callbot.prompts.render as render_module
from callbot.audio import FRAME_BYTES, SAMPLE_RATE, level_dbfs, write_wav
from callbot.errors import PromptError
from callbot.prompts.layout import SEED_DIR, TEXTS_FILE
from callbot.prompts.render import TARGET_DBFS, TRIM_MARGIN, Prompt
from callbot.prompts.library import PromptLibrary, UnknownPromptError
from callbot.prompts.texts import read_texts
from callbot.prompts.cache import rendered_name, tts_key
from callbot.prompts.seed import write_seed
from callbot.speech.tts import EspeakNg, TtsError, TtsUnavailable, default_engine
from tests.conftest import SHORT_PROMPTS

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
HAVE_ESPEAK = shutil.which("espeak-ng") is not None
needs_espeak = pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not installed")


# ---------------------------------------------------------------- helpers


def speechlike(seconds: float, rate: int = SAMPLE_RATE, dbfs: float = -12.0, freq: float = 440.0) -> np.ndarray:
    """A modulated tone standing in for speech (float, -1..1), RMS ``dbfs``."""
    t = np.arange(int(round(rate * seconds))) / rate
    x = np.sin(2 * np.pi * freq * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return x * (10 ** (dbfs / 20) / np.sqrt(np.mean(x * x)))


def quiet_noise(seconds: float, rate: int, dbfs: float = -70.0) -> np.ndarray:
    """Room noise well below the silence threshold."""
    return np.random.default_rng(7).normal(0, 10 ** (dbfs / 20), int(round(rate * seconds)))


def record(directory: Path, prompt_id: str, seconds: float = 1.0, *, suffix: str = ".wav", rate: int = SAMPLE_RATE,
           channels: int = 1, subtype: str | None = None, dbfs: float = -12.0, lead: float = 0.0,
           trail: float = 0.0) -> Path:
    """Write a recording: ``lead``/``trail`` seconds of near-silence around ``seconds`` of 'speech'."""
    directory.mkdir(parents=True, exist_ok=True)
    x = np.concatenate([quiet_noise(lead, rate), speechlike(seconds, rate, dbfs), quiet_noise(trail, rate)])
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    path = directory / f"{prompt_id}{suffix}"
    sf.write(path, data, rate, subtype=subtype)
    return path


def write_texts(directory: Path, texts: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / TEXTS_FILE
    path.write_text("".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in texts.items()),
                    encoding="utf-8")
    return path


def texts_of(language: str) -> dict[str, str]:
    return tomllib.loads((PROMPTS_DIR / language / TEXTS_FILE).read_text(encoding="utf-8"))


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768


def speech_dbfs(pcm: bytes) -> float:
    """RMS over the 20 ms frames above -50 dBFS (what normalization targets)."""
    x = samples(pcm)
    frames = [x[i : i + 160] for i in range(0, len(x), 160)]
    loud = [f for f in frames if 10 * np.log10(np.mean(f * f) + 1e-20) >= -50]
    return 10 * np.log10(np.mean(np.concatenate(loud) ** 2))


class SpyEngine:
    """A TTS engine that counts its calls; different texts give different (tone) audio."""

    def __init__(self, key: str = "spy:1", seconds: float = 0.8, pcm: bytes | None = None):
        self.key = key
        self.label = "spy voice"
        self.seconds = seconds
        self.pcm = pcm
        self.calls: list[str] = []

    def synthesize(self, text: str) -> bytes:
        self.calls.append(text)
        if self.pcm is not None:
            return self.pcm
        freq = 300 + sum(text.encode()) % 700
        return (np.rint(speechlike(self.seconds, freq=freq) * 32767)).astype("<i2").tobytes()


class CountingEngine:
    """Wraps a real engine (same key, so the shipped seed still matches) and counts calls."""

    def __init__(self, engine):
        self.engine = engine
        self.key = engine.key
        self.label = engine.label
        self.calls: list[str] = []

    def synthesize(self, text: str) -> bytes:
        self.calls.append(text)
        return self.engine.synthesize(text)


@pytest.fixture
def no_espeak(tmp_path, monkeypatch) -> None:
    """Hide every program, espeak-ng included (a fresh install without TTS)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def shipped(tmp_path) -> Path:
    """A copy of the shipped prompts/ directory, safe to edit."""
    return Path(shutil.copytree(PROMPTS_DIR, tmp_path / "prompts"))


@pytest.fixture
def root(tmp_path) -> Path:
    """A prompts root with a valid German set: two recordings and their texts."""
    record(tmp_path / "de", "withheld", 1.0)
    record(tmp_path / "de", "hello", 1.5)
    write_texts(tmp_path / "de", {"withheld": "Rufnummer unterdrückt.", "hello": "Guten Tag."})
    return tmp_path


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


def problems_of(excinfo) -> list[str]:
    return excinfo.value.problems


# ---------------------------------------------------------------- shipped prompts


@pytest.mark.parametrize("language", ["de", "en"])
def test_shipped_prompts_load_without_espeak(language, no_espeak):
    assert shutil.which("espeak-ng") is None
    texts = texts_of(language)
    library = PromptLibrary.load(PROMPTS_DIR, language, required=list(texts))
    assert library.language == language and library.directory == PROMPTS_DIR
    assert library.ids() == sorted(texts)
    for prompt_id, text in texts.items():
        prompt = library.get(prompt_id)
        assert isinstance(prompt, Prompt)
        assert (prompt.id, prompt.language, prompt.kind, prompt.text) == (prompt_id, language, "tts", text)
        assert prompt.tts == f"espeak-ng {language}" and prompt.origin == "seed"
        assert prompt.source.parent == PROMPTS_DIR / language / SEED_DIR
        assert 0.8 <= prompt.duration <= 20.0
        # normalized: speech at the target unless a peak would pass -1 dBFS
        assert TARGET_DBFS - 2 <= speech_dbfs(prompt.pcm) <= TARGET_DBFS + 0.2
        assert np.max(np.abs(samples(prompt.pcm))) <= 10 ** (-1 / 20) + 1e-4
        frames = prompt.frames()
        assert frames and all(len(frame) == FRAME_BYTES for frame in frames)
        assert b"".join(frames)[: len(prompt.pcm)] == prompt.pcm


@pytest.mark.parametrize("language", ["de", "en"])
def test_shipped_seed_is_exactly_the_texts(language):
    """One small, already processed 8 kHz file per text, named <id>-<hash12>.wav; nothing stale."""
    engine = default_engine(language)
    expected = {rendered_name(i, tts_key(t, engine.key)) for i, t in texts_of(language).items()}
    seed_dir = PROMPTS_DIR / language / SEED_DIR
    assert {p.name for p in seed_dir.iterdir()} == expected
    for name in expected:
        with wave.open(str(seed_dir / name)) as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert (seed_dir / name).stat().st_size < 300_000
    # texts live in prompts.toml now; the old espeak renders and .txt files are gone
    assert not [p for p in (PROMPTS_DIR / language).iterdir() if p.suffix in (".txt", ".wav")]


def test_shipped_texts():
    de = PromptLibrary.load(PROMPTS_DIR, "de")
    assert de.get("withheld").text == (
        "Guten Tag. Leider unterdrücken Sie Ihre Rufnummer. Anrufe mit unterdrückter "
        "Rufnummer nehmen wir nicht entgegen. Bitte rufen Sie mit Rufnummer erneut an. "
        "Auf Wiederhören."
    )
    en = PromptLibrary.load(PROMPTS_DIR, "en")
    assert en.get("hello").text.endswith("Goodbye.")


def test_shipped_tools_and_docs():
    script = PROMPTS_DIR / "make_default_prompts.sh"
    assert script.is_file() and script.stat().st_mode & 0o111
    readme = (PROMPTS_DIR / "README.md").read_text(encoding="utf-8")
    for words in ("prompts.toml", "callbot prompts list", "callbot prompts render", "callbot prompts export",
                  "--seed", "tts/"):
        assert words in readme, words


# ---------------------------------------------------------------- text prompts and TTS


@needs_espeak
def test_edited_text_is_synthesized_once_and_cached(shipped, cache):
    texts = texts_of("de")
    texts["offer"] = "Wir haben da ein Angebot für Sie."
    write_texts(shipped / "de", texts)
    engine = CountingEngine(EspeakNg("de", 150))
    library = PromptLibrary.load(shipped, "de", cache_dir=cache, tts=engine)
    assert engine.calls == ["Wir haben da ein Angebot für Sie."]  # the others come from the seed
    offer = library.get("offer")
    assert offer.kind == "tts" and offer.origin == "synthesized" and offer.text == texts["offer"]
    assert offer.source.parent == cache / "de" and offer.source.is_file()
    assert 1.0 < offer.duration < 5.0 and speech_dbfs(offer.pcm) == pytest.approx(TARGET_DBFS, abs=0.5)
    assert library.get("hello").origin == "seed"

    again = PromptLibrary.load(shipped, "de", cache_dir=cache, tts=engine)
    assert engine.calls == ["Wir haben da ein Angebot für Sie."]  # a cache hit, no new synthesis
    assert again.get("offer").origin == "cache" and again.get("offer").pcm == offer.pcm


def test_edited_text_without_espeak_names_the_prompt_and_the_fix(shipped, no_espeak):
    texts = texts_of("de")
    texts["offer"] = "Ein ganz anderes Angebot."
    write_texts(shipped / "de", texts)
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(shipped, "de")
    (problem,) = problems_of(excinfo)
    assert problem == (f"prompt 'offer': text changed but espeak-ng is not installed — apt-get install "
                       f"espeak-ng, or record {shipped / 'de' / 'offer.wav'}")


def test_new_text_without_espeak(shipped, no_espeak):
    texts = texts_of("de")
    texts["busy"] = "Gerade ist besetzt."
    write_texts(shipped / "de", texts)
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(shipped, "de")
    (problem,) = problems_of(excinfo)
    assert "'busy'" in problem and "has only a text" in problem and "apt-get install espeak-ng" in problem


def test_other_voice_is_synthesized_not_taken_from_the_seed(shipped, cache):
    engine = SpyEngine(key="espeak-ng:de+f3:150")
    library = PromptLibrary.load(shipped, "de", cache_dir=cache, tts=engine)
    assert sorted(engine.calls) == sorted(texts_of("de").values())
    assert {p.origin for p in library} == {"synthesized"}


def test_text_prompt_with_a_spy_engine(tmp_path, cache):
    write_texts(tmp_path / "de", {"withheld": "Bitte mit Nummer anrufen.", "hello": "Hallo."})
    engine = SpyEngine()
    library = PromptLibrary.load(tmp_path, "de", cache_dir=cache, tts=engine)
    hello = library.get("hello")
    assert (hello.kind, hello.text, hello.tts, hello.origin) == ("tts", "Hallo.", "spy voice", "synthesized")
    assert hello.key == tts_key("Hallo.", "spy:1")
    assert hello.source == cache / "de" / rendered_name("hello", hello.key)
    assert hello.duration == pytest.approx(0.8)  # no silence to trim
    assert sorted(engine.calls) == ["Bitte mit Nummer anrufen.", "Hallo."]


def test_tts_failure_is_reported_per_prompt(tmp_path, cache):
    class Broken(SpyEngine):
        def synthesize(self, text):
            raise TtsError("espeak-ng (voice xx) failed: voice does not exist")

    write_texts(tmp_path / "de", {"withheld": "a", "hello": "b"})
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(tmp_path, "de", cache_dir=cache, tts=Broken())
    problems = problems_of(excinfo)
    assert len(problems) == 2
    assert problems[0].startswith("prompt 'hello': text-to-speech failed") and "voice does not exist" in problems[0]


def test_silent_speech_is_a_problem(tmp_path, cache):
    write_texts(tmp_path / "de", {"withheld": "a", "hello": "b"})
    with pytest.raises(PromptError, match="speech for prompt 'hello'.*silent"):
        PromptLibrary.load(tmp_path, "de", cache_dir=cache, tts=SpyEngine(pcm=bytes(16000)))


def test_unavailable_engine_for_a_text_only_dir(tmp_path, cache):
    class Missing(SpyEngine):
        def synthesize(self, text):
            raise TtsUnavailable("piper", "pip install piper-tts")

    write_texts(tmp_path / "de", {"withheld": "a", "hello": "b"})
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(tmp_path, "de", cache_dir=cache, tts=Missing())
    assert all("piper is not installed — pip install piper-tts" in p for p in problems_of(excinfo))


# ---------------------------------------------------------------- recordings


FORMATS = [
    (".wav", 44100, 2, "PCM_24"),
    (".flac", 48000, 1, "PCM_16"),
    (".ogg", 22050, 1, "VORBIS"),
    (".mp3", 44100, 1, "MPEG_LAYER_III"),
]


@pytest.mark.parametrize("suffix, rate, channels, subtype", FORMATS, ids=[f[0][1:] for f in FORMATS])
def test_recording_formats_are_converted_trimmed_and_normalized(tmp_path, cache, suffix, rate, channels, subtype):
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3"}[suffix]
    if subtype not in sf.available_subtypes(fmt):
        pytest.skip(f"libsndfile cannot write {fmt}/{subtype}")
    path = record(tmp_path / "de", "hello", 1.5, suffix=suffix, rate=rate, channels=channels, subtype=subtype,
                  dbfs=-30.0, lead=1.0, trail=1.0)
    record(tmp_path / "de", "withheld", 1.0)
    prompt = PromptLibrary.load(tmp_path, "de", cache_dir=cache).get("hello")
    assert prompt.kind == "recording" and prompt.source == path and prompt.tts is None
    assert len(prompt.pcm) == 2 * round(prompt.duration * SAMPLE_RATE)  # 16-bit mono at 8 kHz
    # 1 s of silence cut from each side, keeping the 50 ms margins (±50 ms for codec delay)
    assert prompt.duration == pytest.approx(1.5 + 2 * TRIM_MARGIN, abs=0.05)
    assert speech_dbfs(prompt.pcm) == pytest.approx(TARGET_DBFS, abs=1.0)
    # it is still the recorded sound: a 440 Hz tone
    spectrum = np.abs(np.fft.rfft(samples(prompt.pcm)))
    assert np.fft.rfftfreq(len(prompt.pcm) // 2, 1 / SAMPLE_RATE)[np.argmax(spectrum)] == pytest.approx(440, abs=5)


def test_quiet_recording_is_brought_to_the_target(root, cache):
    record(root / "de", "hello", 2.0, dbfs=-40.0)
    prompt = PromptLibrary.load(root, "de", cache_dir=cache).get("hello")
    assert level_dbfs(prompt.pcm) == pytest.approx(TARGET_DBFS, abs=0.3)
    assert prompt.duration == pytest.approx(2.0)


def test_peaks_are_limited(root, cache):
    x = speechlike(2.0, dbfs=-35.0)
    x[4000] = 0.99  # one loud click
    sf.write(root / "de" / "hello.wav", x, SAMPLE_RATE, subtype="PCM_16")
    prompt = PromptLibrary.load(root, "de", cache_dir=cache).get("hello")
    peak = np.max(np.abs(samples(prompt.pcm)))
    assert 20 * np.log10(peak) <= -1.0 + 0.01
    assert speech_dbfs(prompt.pcm) < TARGET_DBFS  # the click, not the target, set the gain


def test_tones_without_silence_keep_their_exact_length(short_prompts):
    """The stand-in prompts other tests use: no prompts.toml, recordings only, lengths unchanged."""
    library = PromptLibrary.load(short_prompts, "de", required=list(SHORT_PROMPTS))
    for prompt_id, (seconds, _) in SHORT_PROMPTS.items():
        prompt = library.get(prompt_id)
        assert prompt.duration == seconds and prompt.text is None and prompt.kind == "recording"


def test_recording_wins_over_text(root, cache):
    engine = SpyEngine()
    library = PromptLibrary.load(root, "de", cache_dir=cache, tts=engine)
    hello = library.get("hello")
    assert hello.kind == "recording" and hello.source == root / "de" / "hello.wav"
    assert hello.text == "Guten Tag."  # the text stays as documentation
    assert engine.calls == []


def test_recording_without_text_and_other_files(root, cache):
    record(root / "de", "busy", 0.5, suffix=".flac")
    (root / "de" / "notes.md").write_text("not a prompt")
    (root / "de" / ".hidden.wav").write_bytes(b"junk")
    (root / "de" / "script.toml").write_text("# the owner's script")
    library = PromptLibrary.load(root, "de", cache_dir=cache)
    assert library.ids() == ["busy", "hello", "withheld"]
    assert library.get("busy").text is None and library.get("busy").source.suffix == ".flac"


def test_cache_is_keyed_by_content(root, cache, monkeypatch):
    decoded: list[Path] = []
    real_decode = render_module.decode_file

    def decode(path, target=SAMPLE_RATE):  # each recording is decoded at 8 kHz and at 16 kHz
        if target == SAMPLE_RATE:
            decoded.append(Path(path))
        return real_decode(path, target=target)

    monkeypatch.setattr(render_module, "decode_file", decode)
    first = PromptLibrary.load(root, "de", cache_dir=cache)
    assert sorted(p.name for p in decoded) == ["hello.wav", "withheld.wav"]
    assert first.get("hello").origin == "rendered"
    assert len(list((cache / "de").glob("hello-*[0-9a-f].wav"))) == 1  # the 8 kHz one (and a -16k.wav)

    decoded.clear()
    hello = root / "de" / "hello.wav"
    os.utime(hello, (1_000_000_000, 1_000_000_000))  # touched, same bytes
    second = PromptLibrary.load(root, "de", cache_dir=cache)
    assert decoded == [] and second.get("hello").origin == "cache"
    assert second.get("hello").pcm == first.get("hello").pcm

    data = bytearray(hello.read_bytes())
    data[-1] ^= 0x01  # one byte of the last sample
    hello.write_bytes(bytes(data))
    third = PromptLibrary.load(root, "de", cache_dir=cache)
    assert decoded == [hello] and third.get("hello").origin == "rendered"
    assert third.get("hello").key != first.get("hello").key
    assert len(list((cache / "de").glob("hello-*[0-9a-f].wav"))) == 2


def test_corrupt_cache_file_is_rendered_again(root, cache):
    first = PromptLibrary.load(root, "de", cache_dir=cache).get("hello")
    cached = cache / "de" / rendered_name("hello", first.key)
    cached.write_bytes(b"garbage")
    again = PromptLibrary.load(root, "de", cache_dir=cache).get("hello")
    assert again.origin == "rendered" and again.pcm == first.pcm


def test_default_cache_is_temporary(root):
    prompt = PromptLibrary.load(root, "de").get("hello")
    assert prompt.origin in ("rendered", "cache")
    assert PromptLibrary.load(root, "de").get("hello").origin == "cache"  # same process, same temp cache
    assert not (root / "data").exists()


# ---------------------------------------------------------------- changes while running


def test_changed_and_reload_pick_up_an_edited_text(tmp_path, cache):
    write_texts(tmp_path / "de", {"withheld": "Bitte mit Nummer.", "hello": "Hallo."})
    engine = SpyEngine()
    library = PromptLibrary.load(tmp_path, "de", cache_dir=cache, tts=engine)
    assert not library.changed()
    old_hello = library.get("hello")

    write_texts(tmp_path / "de", {"withheld": "Bitte mit Nummer.", "hello": "Hallo, wer ist da?"})
    assert library.changed()
    engine.calls.clear()
    new = library.reload()
    assert engine.calls == ["Hallo, wer ist da?"]  # the unchanged prompt is reused
    assert new.get("hello").text == "Hallo, wer ist da?" and new.get("hello").pcm != old_hello.pcm
    assert new.get("withheld").origin == "memory"
    assert not new.changed()
    assert library.get("hello") == old_hello  # the old library is untouched


def test_changed_sees_a_new_recording_and_a_removed_one(root, cache):
    library = PromptLibrary.load(root, "de", cache_dir=cache)
    record(root / "de", "busy", 0.7, suffix=".ogg")
    assert library.changed()
    new = library.reload()
    assert "busy" in new and new.get("busy").kind == "recording"
    (root / "de" / "busy.ogg").unlink()
    assert new.changed()
    assert "busy" not in new.reload()


def test_touching_a_file_is_a_change_but_no_re_render(root, cache):
    library = PromptLibrary.load(root, "de", cache_dir=cache)
    os.utime(root / "de" / "hello.wav", (1_000_000_000, 1_000_000_000))
    assert library.changed()
    assert library.reload().get("hello").origin == "memory"


def test_refreshed_keeps_the_last_good_prompts(root, cache, caplog):
    library = PromptLibrary.load(root, "de", cache_dir=cache)
    assert library.refreshed() is library  # unchanged
    (root / "de" / "hello.wav").write_bytes(b"broken")
    with caplog.at_level(logging.ERROR, logger="callbot.prompts.library"):
        assert library.refreshed() is library
        assert library.refreshed() is library  # the same broken state is not retried
    assert len([r for r in caplog.records if "hello.wav" in r.getMessage()]) == 1
    record(root / "de", "hello", 1.2)
    fresh = library.refreshed()
    assert fresh is not library and fresh.get("hello").duration == pytest.approx(1.2)


# ---------------------------------------------------------------- prompts.toml


def test_missing_prompts_toml_means_no_texts(root, cache):
    (root / "de" / TEXTS_FILE).unlink()
    assert PromptLibrary.load(root, "de", cache_dir=cache).get("hello").text is None


def test_toml_syntax_error_has_the_line(root, cache):
    (root / "de" / TEXTS_FILE).write_text('withheld = "a"\nhello = "b"\nbusy = "unterminated\n', encoding="utf-8")
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de", cache_dir=cache)
    (problem,) = problems_of(excinfo)  # not also "missing": the recordings still load
    assert f"{root / 'de' / TEXTS_FILE} line 3" in problem and "invalid TOML" in problem


def test_toml_syntax_error_does_not_also_report_missing_prompts(tmp_path, cache):
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / TEXTS_FILE).write_text("withheld = 'a'\nhello = \n", encoding="utf-8")
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(tmp_path, "de", cache_dir=cache, tts=SpyEngine())
    (problem,) = problems_of(excinfo)
    assert "line 2" in problem


def test_toml_bad_values_each_with_line(root, cache):
    (root / "de" / TEXTS_FILE).write_text(
        '# texts\nwithheld = "ok"\nhello = 3\ngoodbye = ["a"]\n"bad id" = "x"\nempty = "  "\n'
        'dotted.key = "x"\n[section]\nx = "y"\n', encoding="utf-8")
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de", cache_dir=cache, tts=SpyEngine())
    problems = problems_of(excinfo)
    assert len(problems) == 6, problems
    joined = "\n".join(problems)
    for expected in ("line 3: the text of 'hello' must be in double quotes, got the number 3",
                     "line 4: the text of 'goodbye' must be in double quotes, got an array",
                     "line 5: invalid prompt id 'bad id'", "line 6: the text of 'empty' is empty",
                     "line 7: 'dotted' is a table", "line 8: 'section' is a table"):
        assert expected in joined, expected


def test_read_texts_strips_and_keeps_unicode(tmp_path):
    path = write_texts(tmp_path, {"hello": "  Grüß Gott – willkommen.\n"})
    assert read_texts(path) == ({"hello": "Grüß Gott – willkommen."}, [])
    path.write_bytes('hello = "Grüß"'.encode("latin-1"))
    texts, problems = read_texts(path)
    assert texts == {} and "line 1" in problems[0].message and "UTF-8" in problems[0].message


# ---------------------------------------------------------------- other problems


def test_missing_language_dir(root):
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "fr")
    (problem,) = problems_of(excinfo)
    assert str(root / "fr") in problem and "de" in problem


def test_missing_root(tmp_path):
    with pytest.raises(PromptError, match="not found"):
        PromptLibrary.load(tmp_path / "nowhere", "de")


@pytest.mark.parametrize("language", ["", "..", "de/../en"])
def test_invalid_language(root, language):
    with pytest.raises(PromptError, match="invalid"):
        PromptLibrary.load(root, language)


def test_missing_required_prompt(root, cache):
    (root / "de" / "withheld.wav").unlink()
    write_texts(root / "de", {"hello": "Guten Tag."})
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de", cache_dir=cache)
    (problem,) = problems_of(excinfo)
    assert problem.startswith("missing prompt 'withheld'")
    assert str(root / "de" / "withheld.wav") in problem and str(root / "de" / TEXTS_FILE) in problem
    assert 'withheld = "…"' in problem and "record" in problem


def test_custom_required(root, cache):
    assert "withheld" in PromptLibrary.load(root, "de", required=["hello"], cache_dir=cache)
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de", required=["hello", "busy"], cache_dir=cache)
    (problem,) = problems_of(excinfo)
    assert "'busy'" in problem


@pytest.mark.parametrize("content, words", [
    (b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10, "not a readable audio file"),
    (b"", "empty"),
])
def test_unreadable_recording(root, cache, content, words):
    bad = root / "de" / "hello.wav"
    bad.write_bytes(content)
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de", cache_dir=cache)
    (problem,) = problems_of(excinfo)
    assert str(bad) in problem and words in problem and "'hello'" in problem


def test_silent_and_near_silent_recordings(root, cache):
    write_wav(root / "de" / "hello.wav", bytes(2 * 8000))  # digital silence
    noise = np.random.default_rng(2).normal(0, 10, 8000).astype("<i2")  # about -70 dBFS
    write_wav(root / "de" / "withheld.wav", noise.tobytes())
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de", cache_dir=cache)
    problems = problems_of(excinfo)
    assert len(problems) == 2 and all("silent" in p for p in problems)
    assert str(root / "de" / "hello.wav") in problems[0] and "(silence;" in problems[0]


def test_too_short_after_trimming(root, cache):
    path = record(root / "de", "hello", 0.1, lead=1.0, trail=1.0)
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de", cache_dir=cache)
    (problem,) = problems_of(excinfo)
    assert str(path) in problem and "too short" in problem


def test_ambiguous_duplicates(root, cache):
    record(root / "de", "hello", 1.0, suffix=".flac")
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de", cache_dir=cache)
    (problem,) = problems_of(excinfo)
    assert "ambiguous" in problem and "hello.wav" in problem and "hello.flac" in problem


def test_all_problems_reported_together(root, cache):
    de = root / "de"
    (de / "withheld.wav").unlink()
    write_texts(de, {"hello": "Guten Tag.", "later": 5})  # type: ignore[dict-item]
    (de / TEXTS_FILE).write_text('hello = "Guten Tag."\nlater = 5\n', encoding="utf-8")
    write_wav(de / "hello.wav", bytes(16000))  # silent
    (de / "busy.wav").write_bytes(b"definitely not audio")  # corrupt
    record(de, "twice", 1.0)
    record(de, "twice", 1.0, suffix=".mp3" if "MPEG_LAYER_III" in sf.available_subtypes("MP3") else ".flac")
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de", cache_dir=cache)
    problems = problems_of(excinfo)
    assert len(problems) == 5, problems
    joined = "\n".join(problems)
    for words in ("'later' must be in double quotes", "missing prompt 'withheld'", "hello.wav", "busy.wav",
                  "ambiguous prompt 'twice'"):
        assert words in joined, words
    assert str(excinfo.value) == "; ".join(problems)


def test_get_unknown_id(root, cache):
    library = PromptLibrary.load(root, "de", cache_dir=cache)
    with pytest.raises(PromptError, match="nope") as excinfo:
        library.get("nope")
    assert isinstance(excinfo.value, KeyError) and isinstance(excinfo.value, UnknownPromptError)
    assert "hello, withheld" in str(excinfo.value)


def test_library_protocol_and_immutability(root, cache):
    library = PromptLibrary.load(root, "de", cache_dir=cache)
    assert "hello" in library and len(library) == 2 and [p.id for p in library] == ["hello", "withheld"]
    assert library.language_dir == root / "de"
    prompt = library.get("hello")
    assert len(prompt.frames()) == 75  # 1.5 s
    with pytest.raises(AttributeError):
        prompt.pcm = b""  # type: ignore[misc]
    frames = prompt.frames()
    frames.clear()  # callers get their own list
    assert len(prompt.frames()) == 75
    assert "pcm" not in repr(prompt)


def test_from_config_uses_tts_and_cache(shipped, tmp_path):
    from dataclasses import replace

    from callbot.speech.settings import TtsSettings
    from callbot.config.model import default_config

    config = default_config(tmp_path)
    config = replace(config, prompts=replace(config.prompts, dir=shipped, language="en"),
                     tts=TtsSettings(voice="en", speed=150, cache=tmp_path / "c"))
    library = PromptLibrary.from_config(config)
    assert library.language == "en" and library.cache_dir == tmp_path / "c"
    assert library.tts.key == "espeak-ng:en:150" and library.get("hello").origin == "seed"


# ---------------------------------------------------------------- the seed cache


def test_write_seed_writes_keeps_and_removes(shipped, no_espeak):
    seed_dir = shipped / "de" / SEED_DIR
    stale = seed_dir / "old-0123456789ab.wav"
    stale.write_bytes(b"x")
    before = {p.name: p.stat().st_mtime_ns for p in seed_dir.iterdir() if p != stale}
    lines = write_seed(shipped, "de")  # all texts unchanged: no TTS needed
    assert not stale.exists() and any("removed stale" in line for line in lines)
    assert {p.name: p.stat().st_mtime_ns for p in seed_dir.iterdir()} == before


def test_write_seed_after_an_edit(shipped):
    texts = texts_of("de")
    texts["still_there"] = "Hallo? Sind Sie noch dran?"
    write_texts(shipped / "de", texts)
    engine = SpyEngine(key=default_engine("de").key)
    lines = write_seed(shipped, "de", tts=engine)
    assert engine.calls == ["Hallo? Sind Sie noch dran?"]
    new_name = rendered_name("still_there", tts_key(texts["still_there"], engine.key))
    assert (shipped / "de" / SEED_DIR / new_name).is_file()
    assert len(list((shipped / "de" / SEED_DIR).glob("still_there-*.wav"))) == 1  # the old one is gone
    assert any(new_name in line and line.startswith("wrote") for line in lines)
    # and a library without any TTS now speaks the new text from the seed
    library = PromptLibrary.load(shipped, "de", tts=SpyEngine(key=default_engine("de").key, pcm=b""))
    assert library.get("still_there").origin == "seed"


def test_write_seed_without_espeak_changes_nothing(shipped, no_espeak):
    texts = texts_of("de")
    texts["offer"] = "Neu."
    write_texts(shipped / "de", texts)
    before = sorted(p.name for p in (shipped / "de" / SEED_DIR).iterdir())
    with pytest.raises(PromptError, match="'offer'.*espeak-ng is not installed"):
        write_seed(shipped, "de")
    assert sorted(p.name for p in (shipped / "de" / SEED_DIR).iterdir()) == before


def test_python_m_callbot_prompts_seed(shipped, no_espeak, capsys):
    from callbot.prompts.__main__ import main

    assert main(["--seed", str(shipped)]) == 0
    out = capsys.readouterr().out
    assert f"de: {len(texts_of('de'))} unchanged, 0 written/removed" in out
    assert f"en: {len(texts_of('en'))} unchanged, 0 written/removed" in out


# ---------------------------------------------------------------- `callbot prompts`


def write_config(tmp_path: Path, prompts_dir: Path, language: str = "de") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[prompts]\ndir = "{prompts_dir}"\nlanguage = "{language}"\n'
        f'[speech]\ntranscription = "off"\n'
        f'[storage]\ndatabase = "{tmp_path}/calls.db"\nrecordings = "{tmp_path}/rec"\n'
        f'[tts]\ncache = "{tmp_path}/cache"\n', encoding="utf-8")
    return path


def run_cli(*args: str):
    from callbot.cli.main import main

    return CliRunner().invoke(main, ["prompts", *args], catch_exceptions=False)


def test_cli_list(shipped, tmp_path, no_espeak, monkeypatch):
    record(shipped / "de", "hello", 1.5)
    fake = types.ModuleType("callbot.script.loading")

    class FakeScript:
        def prompt_usage(self):
            return {"hello": ["greet"], "ask_identity": ["ask_who", "ask_who_again"]}

    seen = {}

    def load_script(path, prompt_ids):
        seen.update(path=path, prompt_ids=list(prompt_ids))
        return FakeScript()

    fake.load_script = load_script
    monkeypatch.setitem(sys.modules, "callbot.script.loading", fake)
    (shipped / "de" / "script.toml").write_text("# script")
    monkeypatch.setenv("COLUMNS", "160")
    result = run_cli("list", "--config", str(write_config(tmp_path, shipped)))
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:5]]
            for line in result.output.splitlines() if line.count("│") >= 5}
    assert rows["hello"] == ["hello.wav", "1.5 s", "calls.unknown = greet; greet"]  # the policy's use, the step
    assert rows["ask_identity"][0] == "TTS espeak-ng de" and rows["ask_identity"][2] == "ask_who, ask_who_again"
    assert rows["offer"][2] == "—"
    assert seen["path"] == shipped / "de" / "script.toml" and "hello" in seen["prompt_ids"]


def test_cli_list_without_a_script(tmp_path, short_prompts):
    (short_prompts / "de" / "script.toml").unlink(missing_ok=True)
    result = run_cli("list", "--config", str(write_config(tmp_path, short_prompts)))
    assert result.exit_code == 0, result.output
    assert "withheld.wav" in result.output and "—" in result.output


def test_cli_list_says_what_every_prompt_is_used_for(tmp_path, short_prompts, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    result = run_cli("list", "--config", str(write_config(tmp_path, short_prompts)))
    assert result.exit_code == 0, result.output
    used = {line.split("│")[1].strip(): line.split("│")[4].strip()
            for line in result.output.splitlines() if line.count("│") >= 5}
    assert used["withheld"] == "caller ID withheld"
    assert used["blocked"] == "blocked caller"
    assert used["hello"] == "calls.unknown = greet"
    assert used["one_moment"] == "hold phrase while the words are late"
    assert used["ask_identity"] == "ask_identity" and used["goodbye"] == "goodbye_cold_call, goodbye_message"
    assert "—" not in used.values()


def test_cli_render(shipped, tmp_path, no_espeak):
    config = write_config(tmp_path, shipped)
    record(shipped / "de", "hello", 1.5, lead=0.5)
    result = run_cli("render", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "✓ de/hello: 1.6 s, hello.wav (rendered)" in result.output
    assert "✓ de/offer:" in result.output and "(seed)" in result.output
    assert list((tmp_path / "cache" / "de").glob("hello-*.wav"))
    assert "(cache)" in run_cli("render", "--config", str(config)).output


def test_cli_render_reports_problems(shipped, tmp_path, no_espeak):
    (shipped / "de" / "hello.wav").write_bytes(b"not audio")
    texts = texts_of("de")
    texts["offer"] = "Neu."
    write_texts(shipped / "de", texts)
    result = run_cli("render", "--config", str(write_config(tmp_path, shipped)))
    assert result.exit_code == 1
    assert "✗ de/hello:" in result.output and "hello.wav" in result.output
    assert "✗ de/offer: prompt 'offer': text changed but espeak-ng is not installed" in result.output
    assert "✓ de/withheld" in result.output


def test_cli_render_seed(shipped, tmp_path, no_espeak):
    stale = shipped / "en" / SEED_DIR / "gone-0123456789ab.wav"
    stale.write_bytes(b"x")
    result = run_cli("render", "--seed", "--config", str(write_config(tmp_path, shipped)))
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    assert f"seed de: {len(texts_of('de'))} unchanged" in result.output.replace("✓ ", "")


def test_cli_export_is_exactly_what_callers_hear(shipped, tmp_path, no_espeak):
    config = write_config(tmp_path, shipped)
    out = tmp_path / "out" / "withheld.wav"
    out.parent.mkdir()
    result = run_cli("export", "withheld", str(out), "--config", str(config))
    assert result.exit_code == 0, result.output
    expected = PromptLibrary.load(shipped, "de").get("withheld").pcm
    with wave.open(str(out)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert wav.readframes(wav.getnframes()) == expected
    wide = tmp_path / "out" / "withheld-16k.wav"
    result = run_cli("export", "withheld", str(wide), "--rate", "16000", "--config", str(config))
    assert result.exit_code == 0 and "16 kHz" in result.output, result.output
    # the same cache as the CLI's: the process-wide temporary one may hold an espeak-ng 16 kHz render
    # from another test, while here (no TTS) the 16 kHz audio is the 8 kHz seed resampled
    library = PromptLibrary.load(shipped, "de", cache_dir=tmp_path / "cache")
    with wave.open(str(wide)) as wav:
        assert wav.getframerate() == 16000
        same = wav.readframes(wav.getnframes()) == library.get("withheld").pcm_at(16000)
    assert same, "the exported 16 kHz prompt is not what G.722 callers hear"


def test_cli_export_unknown_and_broken(shipped, tmp_path, no_espeak):
    config = write_config(tmp_path, shipped)
    result = run_cli("export", "nope", str(tmp_path / "x.wav"), "--config", str(config))
    assert result.exit_code == 2 and "unknown prompt 'nope'" in result.output
    (shipped / "de" / "hello.wav").write_bytes(b"not audio")
    result = run_cli("export", "hello", str(tmp_path / "x.wav"), "--config", str(config))
    assert result.exit_code == 2 and "hello.wav" in result.output
    assert not (tmp_path / "x.wav").exists()
    result = run_cli("export", "withheld", str(tmp_path / "no" / "dir" / "x.wav"), "--config", str(config))
    assert result.exit_code == 1 and "cannot write" in result.output
