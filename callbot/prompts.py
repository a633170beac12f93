"""Announcement prompts: recordings (plus their text) per language.

Layout::

    prompts/<language>/<id>.wav    the recording (or .flac, .ogg, .mp3; any rate)
    prompts/<language>/<id>.txt    what it says (UTF-8, optional)

:meth:`PromptLibrary.load` checks everything up front and reports every
problem at once in a single :class:`~callbot.errors.PromptError`, so a broken
prompt shows up when callbot starts, not in the middle of a call.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from callbot.audio import FRAME_BYTES, decode_file, duration_seconds, level_dbfs, split_frames
from callbot.errors import AudioError, PromptError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
TEXT_EXTENSION = ".txt"
DEFAULT_REQUIRED = ("withheld", "hello")
MIN_DURATION = 0.2  # seconds; shorter recordings are treated as empty
MIN_LEVEL_DBFS = -60.0  # quieter recordings are treated as silence
MAKE_SCRIPT = "prompts/make_default_prompts.sh"


@dataclass(frozen=True)
class Prompt:
    """One recording in callbot's internal format (16-bit mono 8 kHz PCM)."""

    id: str
    language: str
    pcm: bytes = field(repr=False)
    text: str | None
    source: Path  # the audio file it was loaded from

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return duration_seconds(self.pcm)

    @cached_property
    def _frames(self) -> tuple[bytes, ...]:
        return tuple(split_frames(self.pcm, FRAME_BYTES))

    def frames(self) -> list[bytes]:
        """The recording as 20 ms frames (320 bytes; the last one zero-padded)."""
        return list(self._frames)


class UnknownPromptError(PromptError, KeyError):
    """:meth:`PromptLibrary.get` was asked for an id that was not loaded."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return "; ".join(self.problems)


class PromptLibrary:
    """The prompts of one language, loaded and validated."""

    def __init__(self, directory: Path, language: str, prompts: Mapping[str, Prompt]):
        self.directory = Path(directory)  # the prompts root, holding <language>/
        self.language = language
        self._prompts = dict(prompts)

    @property
    def language_dir(self) -> Path:
        return self.directory / self.language

    @classmethod
    def load(
        cls,
        directory: Path,
        language: str,
        required: Iterable[str] = DEFAULT_REQUIRED,
    ) -> PromptLibrary:
        """Load ``directory/<language>/*``; raise one PromptError listing all problems."""
        directory = Path(directory)
        required = list(dict.fromkeys(required))
        if not language or language in (".", "..") or "/" in language or "\\" in language:
            raise PromptError([f"invalid prompt language {language!r}"])
        lang_dir = directory / language
        if not lang_dir.is_dir():
            available = []
            if directory.is_dir():
                available = sorted(p.name for p in directory.iterdir() if p.is_dir())
            hint = f" (available: {', '.join(available)})" if available else ""
            raise PromptError(
                [f"prompt directory for language {language!r} not found: {lang_dir}{hint}"]
            )

        problems: list[str] = []
        audio: dict[str, list[Path]] = {}
        texts: dict[str, Path] = {}
        for path in sorted(lang_dir.iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue
            suffix = path.suffix.lower()
            if suffix in AUDIO_EXTENSIONS:
                audio.setdefault(path.stem, []).append(path)
            elif suffix == TEXT_EXTENSION:
                texts[path.stem] = path

        for prompt_id in required:
            if prompt_id not in audio:
                problems.append(_missing_message(lang_dir, prompt_id, texts.get(prompt_id)))

        prompts: dict[str, Prompt] = {}
        for prompt_id, paths in sorted(audio.items()):
            if len(paths) > 1:
                names = ", ".join(str(p) for p in paths)
                problems.append(
                    f"ambiguous prompt {prompt_id!r}: several recordings ({names}); "
                    "keep only one of them"
                )
                continue
            source = paths[0]
            try:
                pcm = decode_file(source)
            except AudioError as exc:
                problems.append(f"prompt {prompt_id!r}: {exc}")
                continue
            duration = duration_seconds(pcm)
            if duration < MIN_DURATION:
                problems.append(
                    f"recording {source} is empty or too short "
                    f"({duration:.2f} s, need at least {MIN_DURATION} s)"
                )
                continue
            level = level_dbfs(pcm)
            if level < MIN_LEVEL_DBFS:
                shown = "silence" if level == float("-inf") else f"{level:.1f} dBFS"
                problems.append(
                    f"recording {source} is silent ({shown}, need at least "
                    f"{MIN_LEVEL_DBFS:.0f} dBFS)"
                )
                continue
            text = None
            text_path = texts.get(prompt_id)
            if text_path is not None:
                try:
                    text = text_path.read_text(encoding="utf-8").strip() or None
                except UnicodeDecodeError as exc:
                    problems.append(
                        f"prompt text {text_path} is not valid UTF-8 "
                        f"({exc.reason} at byte {exc.start})"
                    )
                    continue
                except OSError as exc:
                    problems.append(f"cannot read prompt text {text_path}: {exc.strerror or exc}")
                    continue
            prompts[prompt_id] = Prompt(prompt_id, language, pcm, text, source)

        if problems:
            raise PromptError(problems)
        return cls(directory, language, prompts)

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


def _missing_message(lang_dir: Path, prompt_id: str, text: Path | None) -> str:
    others = "/".join(ext.lstrip(".") for ext in AUDIO_EXTENSIONS[1:])
    how = (
        f"record one (WAV or {others}, any sample rate) or run {MAKE_SCRIPT} "
        f"to generate it from {text}"
        if text is not None
        else f"record one (WAV or {others}, any sample rate), or write its text to "
        f"{lang_dir / (prompt_id + TEXT_EXTENSION)} and run {MAKE_SCRIPT}"
    )
    return f"missing prompt {prompt_id!r}: expected {lang_dir / (prompt_id + '.wav')}; {how}"
