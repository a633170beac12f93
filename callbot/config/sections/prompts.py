"""The ``[prompts]`` section -> :class:`callbot.prompts.settings.PromptSettings`; the
folder of the chosen language must exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callbot.config.reader import Reader
from callbot.prompts.settings import DEFAULT_PROMPTS, LANGUAGES, PromptSettings


def load_prompts(r: Reader, t: dict[str, Any], base: Path) -> PromptSettings:
    directory = r.path(t, "prompts", "dir", DEFAULT_PROMPTS, base)
    language = r.choice(t, "prompts", "language", PromptSettings.language, LANGUAGES)
    lang_ok = "prompts.language" not in r.bad
    if directory is not None:
        if not directory.exists():
            r.add(
                f"prompts.dir: directory {directory} does not exist — create it or point "
                f"prompts.dir at the bundled prompts/"
            )
        elif not directory.is_dir():
            r.add(
                f"prompts.dir: {directory} is a file, not a directory — point prompts.dir at "
                f"the bundled prompts/"
            )
        elif lang_ok and not (directory / language).is_dir():
            present = sorted(l for l in LANGUAGES if (directory / l).is_dir())
            alt = f" or choose one that exists ({', '.join(present)})" if present else ""
            r.add(
                f"prompts.language: directory {directory / language} does not exist — "
                f"add the {language!r} prompts there{alt}"
            )
    return PromptSettings(
        dir=directory if directory is not None else base / DEFAULT_PROMPTS, language=language
    )

