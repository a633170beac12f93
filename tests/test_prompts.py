"""Tests for callbot.prompts: the shipped prompts and the loader's checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from callbot.audio import FRAME_BYTES, SAMPLE_RATE, level_dbfs, write_wav
from callbot.errors import PromptError
from callbot.prompts import Prompt, PromptLibrary, UnknownPromptError

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


def speechlike(seconds: float, rate: int = SAMPLE_RATE, channels: int = 1) -> np.ndarray:
    """A loud-enough tone burst standing in for speech (float, -1..1)."""
    t = np.arange(int(rate * seconds)) / rate
    x = 0.3 * np.sin(2 * np.pi * 440 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def make_prompt(directory: Path, prompt_id: str, seconds: float = 1.0, text: str | None = None,
                suffix: str = ".wav", rate: int = SAMPLE_RATE, channels: int = 1) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{prompt_id}{suffix}"
    sf.write(path, speechlike(seconds, rate, channels), rate)
    if text is not None:
        (directory / f"{prompt_id}.txt").write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def root(tmp_path) -> Path:
    """A prompts root with a complete, valid German set."""
    make_prompt(tmp_path / "de", "withheld", 1.0, "Rufnummer unterdrückt.")
    make_prompt(tmp_path / "de", "hello", 1.5, "Guten Tag.")
    return tmp_path


def problems_of(excinfo) -> list[str]:
    return excinfo.value.problems


# ---------------------------------------------------------------- shipped prompts


@pytest.mark.parametrize("language", ["de", "en"])
def test_shipped_prompts_load(language):
    library = PromptLibrary.load(PROMPTS_DIR, language)
    assert library.language == language
    assert library.directory == PROMPTS_DIR
    assert {"withheld", "hello"} <= set(library.ids())
    for prompt_id in ("withheld", "hello"):
        prompt = library.get(prompt_id)
        assert isinstance(prompt, Prompt)
        assert prompt.id == prompt_id and prompt.language == language
        assert 3.0 <= prompt.duration <= 20.0
        assert prompt.text and len(prompt.text) > 20
        assert len(prompt.pcm) % 2 == 0
        assert level_dbfs(prompt.pcm) > -40  # audible speech, not near-silence
        frames = prompt.frames()
        assert frames and all(len(frame) == FRAME_BYTES for frame in frames)
        assert b"".join(frames)[: len(prompt.pcm)] == prompt.pcm
        assert prompt.source.parent == PROMPTS_DIR / language
        assert prompt.source.stat().st_size < 500_000


def test_shipped_texts():
    de = PromptLibrary.load(PROMPTS_DIR, "de")
    assert de.get("withheld").text == (
        "Guten Tag. Leider unterdrücken Sie Ihre Rufnummer. Anrufe mit unterdrückter "
        "Rufnummer nehmen wir nicht entgegen. Bitte rufen Sie mit Rufnummer erneut an. "
        "Auf Wiederhören."
    )
    assert de.get("hello").text.startswith("Guten Tag, Sie sprechen mit dem Telefonassistenten.")
    en = PromptLibrary.load(PROMPTS_DIR, "en")
    assert "withheld" in en.get("withheld").text
    assert en.get("hello").text.endswith("Goodbye.")


def test_shipped_recordings_have_text_and_script():
    for language in ("de", "en"):
        for prompt_id in ("withheld", "hello"):
            assert (PROMPTS_DIR / language / f"{prompt_id}.txt").is_file()
            assert (PROMPTS_DIR / language / f"{prompt_id}.wav").is_file()
    script = PROMPTS_DIR / "make_default_prompts.sh"
    assert script.is_file() and script.stat().st_mode & 0o111
    assert (PROMPTS_DIR / "README.md").is_file()


# ---------------------------------------------------------------- loading


def test_load_valid_library(root):
    library = PromptLibrary.load(root, "de")
    assert library.ids() == ["hello", "withheld"]
    assert library.language_dir == root / "de"
    hello = library.get("hello")
    assert hello.text == "Guten Tag."
    assert hello.source == root / "de" / "hello.wav"
    assert hello.duration == pytest.approx(1.5)
    assert len(hello.frames()) == 75
    assert "hello" in library and len(library) == 2
    assert [p.id for p in library] == ["hello", "withheld"]


def test_text_is_optional(root):
    (root / "de" / "hello.txt").unlink()
    assert PromptLibrary.load(root, "de").get("hello").text is None


def test_extra_prompts_and_other_files(root):
    make_prompt(root / "de", "busy", 0.5, suffix=".flac")
    (root / "de" / "notes.md").write_text("not a prompt")
    (root / "de" / ".hidden.wav").write_bytes(b"junk")
    library = PromptLibrary.load(root, "de")
    assert library.ids() == ["busy", "hello", "withheld"]
    assert library.get("busy").source.suffix == ".flac"


def test_custom_required(root):
    library = PromptLibrary.load(root, "de", required=["hello"])
    assert "withheld" in library.ids()
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de", required=["hello", "busy"])
    assert len(problems_of(excinfo)) == 1
    assert "busy.wav" in problems_of(excinfo)[0]


def test_44k1_stereo_loads_as_8k_mono(root):
    make_prompt(root / "de", "hello", 2.5, rate=44100, channels=2)
    prompt = PromptLibrary.load(root, "de").get("hello")
    assert prompt.duration == pytest.approx(2.5, abs=0.001)
    assert len(prompt.pcm) == 2 * 8000 * 2.5  # 16-bit mono at 8 kHz
    mono = np.frombuffer(prompt.pcm, dtype="<i2").astype(float) / 32768
    expected = speechlike(2.5)
    middle = slice(1000, len(mono) - 1000)
    assert np.max(np.abs(mono[middle] - expected[middle])) < 0.01


def test_get_unknown_id(root):
    library = PromptLibrary.load(root, "de")
    with pytest.raises(PromptError, match="nope") as excinfo:
        library.get("nope")
    assert isinstance(excinfo.value, KeyError)
    assert isinstance(excinfo.value, UnknownPromptError)
    assert "hello, withheld" in str(excinfo.value)


# ---------------------------------------------------------------- problems


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


def test_missing_required_prompt(root):
    (root / "de" / "withheld.wav").unlink()
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de")
    (problem,) = problems_of(excinfo)
    assert str(root / "de" / "withheld.wav") in problem
    assert "make_default_prompts.sh" in problem and "record" in problem
    assert "withheld.txt" in problem  # the text it would be generated from


def test_missing_required_prompt_without_text(root):
    (root / "de" / "withheld.wav").unlink()
    (root / "de" / "withheld.txt").unlink()
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de")
    (problem,) = problems_of(excinfo)
    assert "withheld.wav" in problem and "make_default_prompts.sh" in problem


def test_corrupt_audio(root):
    bad = root / "de" / "hello.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de")
    (problem,) = problems_of(excinfo)
    assert str(bad) in problem


def test_silent_audio(root):
    path = root / "de" / "hello.wav"
    write_wav(path, bytes(2 * 8000))  # one second of digital silence
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de")
    (problem,) = problems_of(excinfo)
    assert str(path) in problem and "silent" in problem


def test_near_silent_audio(root):
    path = root / "de" / "hello.wav"
    noise = np.random.default_rng(2).normal(0, 10, 8000).astype("<i2")  # about -70 dBFS
    write_wav(path, noise.tobytes())
    with pytest.raises(PromptError, match="silent"):
        PromptLibrary.load(root, "de")


def test_too_short_audio(root):
    path = make_prompt(root / "de", "hello", 0.1)
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de")
    (problem,) = problems_of(excinfo)
    assert str(path) in problem and "short" in problem


def test_empty_wav(root):
    path = root / "de" / "hello.wav"
    write_wav(path, b"")
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de")
    (problem,) = problems_of(excinfo)
    assert str(path) in problem


def test_ambiguous_duplicates(root):
    make_prompt(root / "de", "hello", 1.0, suffix=".flac")
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de")
    (problem,) = problems_of(excinfo)
    assert "ambiguous" in problem
    assert "hello.wav" in problem and "hello.flac" in problem


def test_bad_text_encoding(root):
    (root / "de" / "hello.txt").write_bytes("Grüß Gott".encode("latin-1"))
    with pytest.raises(PromptError, match=r"hello\.txt.*UTF-8"):
        PromptLibrary.load(root, "de")


def test_all_problems_reported_together(root):
    de = root / "de"
    (de / "withheld.wav").unlink()  # missing
    write_wav(de / "hello.wav", bytes(16000))  # silent
    (de / "busy.wav").write_bytes(b"definitely not audio")  # corrupt
    make_prompt(de, "later", 1.0)
    make_prompt(de, "later", 1.0, suffix=".flac")  # ambiguous
    with pytest.raises(PromptError) as excinfo:
        PromptLibrary.load(root, "de")
    problems = problems_of(excinfo)
    assert len(problems) == 4
    joined = "\n".join(problems)
    for name in ("withheld.wav", "hello.wav", "busy.wav", "later.wav", "later.flac"):
        assert name in joined
    assert str(excinfo.value) == "; ".join(problems)


def test_prompt_is_immutable(root):
    prompt = PromptLibrary.load(root, "de").get("hello")
    with pytest.raises(AttributeError):
        prompt.pcm = b""  # type: ignore[misc]
    frames = prompt.frames()
    frames.clear()  # callers get their own list
    assert len(prompt.frames()) == 75
    assert "pcm" not in repr(prompt)
