"""Reading the owner's script: where it lives, reading and parsing ``script.toml``.

Every problem is raised at once as a :class:`~callbot.errors.ScriptError`
(the checks are in :mod:`callbot.script.checks`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection
from pathlib import Path

from callbot.errors import ScriptError
from callbot.outcome import OUTCOMES
from callbot.script.checks import Checker
from callbot.script.model import Script

#: The owner's script, per language: ``<prompts dir>/<language>/SCRIPT_FILE``.
SCRIPT_FILE = "script.toml"


def script_path(prompts_dir: Path, language: str) -> Path:
    """Where the owner's script for ``language`` lives."""
    return Path(prompts_dir) / language / SCRIPT_FILE


def load_owner_script(prompts_dir: Path, language: str, prompt_ids: Collection[str]) -> Script:
    """The owner's validated script (raises ScriptError listing every problem)."""
    return load_script(script_path(prompts_dir, language), prompt_ids)


def load_script(path: Path, prompt_ids: Collection[str], outcomes: Collection[str] = OUTCOMES) -> Script:
    """Read and check ``path``; raises :class:`ScriptError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptError([f"cannot read the script: {exc}"], str(path)) from None
    script = parse_script(text, prompt_ids, outcomes, source=str(path))
    return Script(script.start, script.steps, path)


def parse_script(text: str, prompt_ids: Collection[str], outcomes: Collection[str] = OUTCOMES,
                 source: str = "script.toml") -> Script:
    """Parse and check a script; raises :class:`ScriptError` listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScriptError([f"invalid TOML: {exc}"], source) from None
    checker = Checker(set(prompt_ids), set(outcomes))
    script = checker.check(data)
    if checker.problems:
        raise ScriptError(checker.problems, source)
    return script
