"""Where prompt files live, and scanning one language directory.

Layout, per language::

    prompts/<language>/prompts.toml           id = "what the bot says" (every prompt's text)
    prompts/<language>/<id>.wav               a recording (or .flac, .ogg, .mp3; any rate)
    prompts/<language>/tts/<id>-<hash>.wav    shipped pre-rendered speech (the "seed cache")

:func:`scan` finds the recordings and takes a snapshot of the files whose change
matters (for hot reload); :func:`check_language` is the language directory or
a :class:`~callbot.errors.PromptError`.
"""

from __future__ import annotations

import os
from pathlib import Path

from callbot.errors import PromptError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
TEXTS_FILE = "prompts.toml"
SEED_DIR = "tts"


def scan(lang_dir: Path) -> tuple[dict[str, list[Path]], dict[str, tuple[int, int]]]:
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


def snapshot_of(lang_dir: Path) -> dict[str, tuple[int, int]] | None:
    try:
        return scan(lang_dir)[1]
    except OSError:
        return None


def check_language(directory: Path, language: str) -> Path:
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


def missing_message(lang_dir: Path, prompt_id: str) -> str:
    others = "/".join(AUDIO_EXTENSIONS[1:])
    return (f"missing prompt {prompt_id!r}: no recording {lang_dir / prompt_id}.wav (or {others}) "
            f"and no text for it in {lang_dir / TEXTS_FILE} — add a line {prompt_id} = \"…\" there, "
            f"or record one (WAV, FLAC, OGG or MP3, any sample rate)")
