"""The prompt library: the prompts of one language, rendered and validated (:class:`PromptLibrary`).

:meth:`PromptLibrary.load` renders everything up front — at 8 kHz (G.711 calls)
and 16 kHz (G.722 calls), see :meth:`~callbot.prompts.render.Prompt.pcm_at` —
and reports every problem at once in a single :class:`~callbot.errors.PromptError`, so a broken
prompt shows up when callbot starts, not in the middle of a call.
:meth:`PromptLibrary.render` gives the :class:`RenderReport` instead (the
prompts that work and every problem). :meth:`PromptLibrary.changed` /
:meth:`PromptLibrary.reload` pick up edited prompt files while the bot runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callbot.errors import PromptError
from callbot.prompts.layout import TEXTS_FILE, check_language, missing_message, scan, snapshot_of
from callbot.prompts.render import Prompt, Renderer
from callbot.prompts.texts import Problem, read_texts
from callbot.speech.tts import TtsEngine, TtsError, default_engine

log = logging.getLogger(__name__)

DEFAULT_REQUIRED = ("withheld", "hello")


class UnknownPromptError(PromptError, KeyError):
    """:meth:`PromptLibrary.get` was asked for an id that was not loaded."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return "; ".join(self.problems)


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
        self._snapshot = dict(snapshot) if snapshot is not None else snapshot_of(self.language_dir)
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
        lang_dir = check_language(directory, language)
        engine = tts if tts is not None else default_engine(language)
        try:
            audio, snapshot = scan(lang_dir)
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
                problems.append(Problem(prompt_id, missing_message(lang_dir, prompt_id)))

        renderer = Renderer(lang_dir, language, cache_dir, engine, _memo or {})
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
        return snapshot_of(self.language_dir) != self._snapshot

    def reload(self) -> PromptLibrary:
        """A new library from the current files (unchanged prompts are reused at both rates, not re-rendered).

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
        current = snapshot_of(self.language_dir)
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
