"""A transcript cut into words: each word lower-cased, punctuation stripped, with its offsets."""

from __future__ import annotations

import re
from typing import NamedTuple


class Tok(NamedTuple):
    word: str   # lowercase, surrounding punctuation stripped
    start: int  # character offsets into the transcript
    end: int


_STRIP = ".,;:!?\"()[]{}«»„“”‚‘"


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    for m in re.finditer(r"\S+", text):
        raw = m.group()
        lead = len(raw) - len(raw.lstrip(_STRIP))
        core = raw.strip(_STRIP)
        if not core:
            continue
        word = core.lower().replace("’", "'").replace("`", "'")
        start = m.start() + lead
        toks.append(Tok(word, start, start + len(core)))
    return toks


def word_set(text: str) -> frozenset[str]:
    """The words of ``text`` (split on white space) as a set, for the word lists."""
    return frozenset(text.split())
