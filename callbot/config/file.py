"""Reading the config file: bytes -> UTF-8 text -> TOML tables.

Every failure becomes a :class:`ConfigError` with one problem that says where
(line and column for TOML syntax errors) and how to fix it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from callbot.errors import ConfigError

_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


def read_toml(source: Path) -> dict[str, Any]:
    where = str(source)
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            [f"config file {source} does not exist — check the path, or copy the example "
             f"config.toml from the callbot repository"],
            where,
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            [f"config file {source} is a directory — give the path of the .toml file inside it"],
            where,
        ) from None
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigError(
            [f"config file {source} cannot be read ({reason}) — check its permissions"], where
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [f"line {line}: the file is not valid UTF-8 — save it as UTF-8 text"], where
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _TOML_POS.search(msg)
        if m:
            pos = f"line {m.group(1)}, column {m.group(2)}"
            msg = msg[: m.start()]
        elif _TOML_END.search(msg):
            pos = f"line {max(1, len(text.splitlines()))} (end of file)"
            msg = _TOML_END.sub("", msg)
        else:
            pos = "somewhere in the file"
        reason = msg[:1].lower() + msg[1:] if msg else "syntax error"
        raise ConfigError(
            [f"{pos}: invalid TOML ({reason}) — check quotes, brackets and the "
             f"'key = value' form on that line"],
            where,
        ) from None

