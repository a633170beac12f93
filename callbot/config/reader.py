"""The value reader: typed getters that collect every problem with its key path.

Each getter of :class:`Reader` returns the checked value, or the default after
recording a problem such as ``sip.port: expected an integer 1-65535, got "abc"``.
``Reader.sections`` splits the file into its sections and reports unknown
sections and keys with a did-you-mean. Secret keys are never echoed: only their
type appears in a problem.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
#: What a getter sees for a key the file does not set.
MISSING = object()


def key_path(*parts: str) -> str:
    """``sip.port``; a key that is not a bare TOML key is quoted."""
    return ".".join(p if _BARE_KEY.match(p) else json.dumps(p, ensure_ascii=False) for p in parts)


def describe(value: Any) -> str:
    """What the user wrote, the way they wrote it (for non-secret values)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return json.dumps(shown, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return repr(value)
    return kind(value)


def kind(value: Any) -> str:
    """Type only, never the value (used for secrets)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return "a date/time"


def _unquote_hint(value: Any) -> str:
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("true", "false"):
            return " — write it without quotes"
        try:
            float(v)
        except ValueError:
            return ""
        return " — write the number without quotes"
    return ""


class Reader:
    """Collects problems while the sections are read; ``known_keys`` is section -> its keys
    (in the order suggestions list them), ``secrets`` the (section, key) pairs never echoed."""

    def __init__(self, known_keys: Mapping[str, Sequence[str]], secrets: Collection[tuple[str, str]] = ()) -> None:
        self.known_keys = {name: list(keys) for name, keys in known_keys.items()}
        self.secrets = set(secrets)
        self.problems: list[str] = []
        self.bad: set[str] = set()  # key paths that already have a problem

    def add(self, problem: str) -> None:
        self.problems.append(problem)
        self.bad.add(problem.split(":", 1)[0])

    # -- structure ---------------------------------------------------------

    def sections(self, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {name: {} for name in self.known_keys}
        for name, value in data.items():
            if name in self.known_keys:
                if isinstance(value, dict):
                    out[name] = value
                    self._unknown_keys(name, value)
                else:
                    self.add(
                        f"{key_path(name)}: expected a section [{name}], got {kind(value)} — "
                        f"write the settings as key = value lines under a [{name}] header"
                    )
                continue
            if not isinstance(value, dict):
                owners = [s for s, keys in self.known_keys.items() if name in keys]
                if owners:
                    self.add(
                        f"{key_path(name)}: key outside any section — move it below the "
                        f"[{owners[0]}] header"
                    )
                    continue
            self.add(f"{key_path(name)}: unknown section — {suggest(name, list(self.known_keys), 'sections')}")
        return out

    def _unknown_keys(self, section: str, table: dict[str, Any]) -> None:
        known = self.known_keys[section]
        for key in table:
            if key not in known:
                self.add(f"{key_path(section, key)}: unknown key — {suggest(key, known, 'keys')}")

    # -- typed getters -----------------------------------------------------
    # Each returns the checked value, or the default after recording a problem.

    def string(
        self,
        table: dict[str, Any],
        section: str,
        key: str,
        default: str,
        *,
        nonempty: bool = False,
        single_line: bool = True,
    ) -> str:
        value = table.get(key, MISSING)
        if value is MISSING:
            return default
        secret = (section, key) in self.secrets
        path = key_path(section, key)
        if not isinstance(value, str):
            got = kind(value) if secret else describe(value)
            hint = "" if secret else " — put the text in double quotes"
            self.add(f"{path}: expected a text string, got {got}{hint}")
            return default
        if nonempty and not value.strip():
            self.add(f"{path}: must not be empty")
            return default
        if single_line and any(c in value for c in "\r\n\x00"):
            self.add(f"{path}: must be a single line without line breaks")
            return default
        return value

    def choice(
        self, table: dict[str, Any], section: str, key: str, default: str, choices: tuple[str, ...]
    ) -> str:
        value = table.get(key, MISSING)
        if value is MISSING:
            return default
        allowed = ", ".join(f'"{c}"' for c in choices)
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        self.add(f"{key_path(section, key)}: expected one of {allowed}, got {describe(value)}")
        return default

    def integer(
        self, table: dict[str, Any], section: str, key: str, default: int, lo: int, hi: int
    ) -> int:
        value = table.get(key, MISSING)
        if value is MISSING:
            return default
        if isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi:
            return value
        self.add(
            f"{key_path(section, key)}: expected an integer {lo}-{hi}, got {describe(value)}"
            f"{_unquote_hint(value)}"
        )
        return default

    def number(
        self,
        table: dict[str, Any],
        section: str,
        key: str,
        default: float,
        *,
        lo: float,
        hi: float | None = None,
        lo_exclusive: bool = False,
        unit: str = "seconds",
    ) -> float:
        value = table.get(key, MISSING)
        if value is MISSING:
            return default
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok:
            ok = (value > lo if lo_exclusive else value >= lo) and (hi is None or value <= hi)
        if ok:
            return float(value)
        if hi is None:
            want = f"greater than {lo:g}" if lo_exclusive else f"at least {lo:g}"
        else:
            want = f"{lo:g}-{hi:g}"
        self.add(
            f"{key_path(section, key)}: expected a number of {unit} {want}, got {describe(value)}"
            f"{_unquote_hint(value)}"
        )
        return default

    def boolean(self, table: dict[str, Any], section: str, key: str, default: bool) -> bool:
        value = table.get(key, MISSING)
        if value is MISSING:
            return default
        if isinstance(value, bool):
            return value
        hint = ""
        if isinstance(value, str):
            hint = " — write true or false without quotes"
        self.add(f"{key_path(section, key)}: expected true or false, got {describe(value)}{hint}")
        return default

    def path(
        self, table: dict[str, Any], section: str, key: str, default: Path, base: Path
    ) -> Path | None:
        """A path resolved against ``base``; ``None`` if the value is unusable."""
        value = table.get(key, MISSING)
        if value is MISSING:
            return base / default
        p = key_path(section, key)
        if not isinstance(value, str):
            self.add(f"{p}: expected a path in double quotes, got {describe(value)}")
            return None
        if not value.strip():
            self.add(f"{p}: must not be empty — give a path, relative to the config file's folder")
            return None
        if "\x00" in value:
            self.add(f"{p}: contains a NUL character — give a plain path")
            return None
        return Path(os.path.normpath(base / Path(value).expanduser()))


def suggest(word: str, candidates: list[str], what: str) -> str:
    lowered = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    if match:
        return f"did you mean '{lowered[match[0]]}'?"
    return f"valid {what} are: " + ", ".join(candidates)


# -- folders a path setting points into ----------------------------------------


def nearest_existing(p: Path) -> Path:
    """``p`` or its closest ancestor that exists."""
    while not p.exists() and p.parent != p:
        p = p.parent
    return p


def check_writable_dir(r: Reader, key: str, directory: Path, what: str = "") -> None:
    """``directory`` must be a writable dir, or creatable under a writable dir."""
    ancestor = nearest_existing(directory)
    label = f" ({what})" if what else ""
    if not ancestor.is_dir():
        r.add(
            f"{key}: {ancestor} is a file, not a directory, so {directory}{label} cannot be "
            f"created — choose another path"
        )
    elif not os.access(ancestor, os.W_OK | os.X_OK):
        target = (
            f"directory {ancestor} is not writable"
            if ancestor == directory
            else f"{directory}{label} cannot be created because {ancestor} is not writable"
        )
        r.add(f"{key}: {target} — fix its permissions or choose another path")
