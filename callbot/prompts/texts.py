"""Reading ``prompts.toml`` (``id = "text"`` per prompt), with file and line in every problem.

:func:`read_texts` returns the texts and a list of :class:`Problem` instead of
raising, so every mistake in the file is reported at once.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callbot.prompts.layout import TEXTS_FILE

_ID = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Problem:
    """One problem found while rendering; ``prompt_id`` is None for file-level ones."""

    prompt_id: str | None
    message: str


_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def _describe_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date/time"


def _line_of(lines: list[str], key: str) -> int | None:
    """Line number (1-based) where ``key`` is defined, or None."""
    k = re.escape(key)
    pattern = re.compile(rf"""^\s*(?:\[+\s*)?(?:{k}|"{k}"|'{k}')\s*(?:[=.\]])""")
    for number, line in enumerate(lines, 1):
        if pattern.match(line):
            return number
    return None


def read_texts(path: Path) -> tuple[dict[str, str], list[Problem]]:
    """The prompt texts in a prompts.toml; a missing file means no texts.

    Returns ``(texts, problems)``; problems name the file and line.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, []
    except OSError as exc:
        return {}, [Problem(None, f"cannot read {path}: {exc.strerror or exc}")]
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return {}, [Problem(None, f"{path} line {line}: not valid UTF-8 — save the file as UTF-8 text")]
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _TOML_POS.search(msg)
        where = f"line {m.group(1)}, column {m.group(2)}" if m else "somewhere in the file"
        reason = msg[: m.start()] if m else msg
        reason = reason[:1].lower() + reason[1:]
        return {}, [Problem(None, f"{path} {where}: invalid TOML ({reason}) — each line is "
                                  f'id = "text", with the text in double quotes')]
    lines = source.splitlines()
    texts: dict[str, str] = {}
    problems: list[Problem] = []
    for key, value in data.items():
        number = _line_of(lines, key)
        at = f"{path} line {number}" if number else str(path)
        if isinstance(value, dict):
            problems.append(Problem(key, f"{at}: {key!r} is a table — {TEXTS_FILE} holds only "
                                         f'id = "text" lines (no [sections] or dotted keys)'))
            continue
        if not _ID.match(key):
            problems.append(Problem(key, f"{at}: invalid prompt id {key!r} — use only letters, "
                                         f"digits, _ and -"))
            continue
        if not isinstance(value, str):
            problems.append(Problem(key, f"{at}: the text of {key!r} must be in double quotes, "
                                         f"got {_describe_kind(value)}"))
            continue
        if not value.strip():
            problems.append(Problem(key, f"{at}: the text of {key!r} is empty — write what the bot "
                                         f"says, or delete the line"))
            continue
        texts[key] = value.strip()
    return texts, problems
