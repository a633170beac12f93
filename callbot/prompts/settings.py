"""The prompt library's settings: the ``[prompts]`` section (folder and language).

Defined here with the component, filled by ``callbot.config``. Imports nothing of callbot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The prompt languages callbot ships (one folder each under the prompt dir).
LANGUAGES = ("de", "en")
DEFAULT_PROMPTS = Path("prompts")


@dataclass(frozen=True)
class PromptSettings:
    dir: Path
    language: str = "de"
