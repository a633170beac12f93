"""Wording helpers for the script's messages: "did you mean …", "a, b or c", quoting."""

from __future__ import annotations

import difflib
from collections.abc import Collection


def quote(name: object) -> str:
    return repr(name) if isinstance(name, str) else str(name)


def did_you_mean(word: str, options: Collection[str]) -> str:
    close = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""


def one_of(values: Collection[str]) -> str:
    values = list(values)
    return ", ".join(values[:-1]) + " or " + values[-1] if len(values) > 1 else "".join(values)
