"""The transcript :mod:`callbot.text.extract` works on: its words, legal forms, what each word can be.

:class:`Transcript` holds the tokens of one transcript with the legal forms
found in it and answers questions about a word (can it be part of a name, of
a company? is everything before it a greeting?); :class:`Candidate` is a name
or company found in it, before the best one is chosen.
"""

from __future__ import annotations

from typing import NamedTuple

from callbot.text.extract_words import (
    ARTICLES, COMPANY_STOP, CONTRACTION, GREETING, HONORIFICS, NAME_STOP, OTHER_LANGUAGE_FACTOR,
)
from callbot.text.legal_forms import legal_at
from callbot.text.tokens import tokenize


class Candidate(NamedTuple):
    first: int         # token index range [first, last]
    last: int
    confidence: float
    value: str


class Transcript:
    """One transcript as tokens; ``language`` is "de", "en" or None (unsure)."""

    def __init__(self, transcript: str, language: str | None) -> None:
        self.toks = tokenize(transcript)
        self.words = [t.word for t in self.toks]
        self.n = len(self.words)
        self.legal = [legal_at(self.words, i) for i in range(self.n)]
        # Token indices covered by a (strong) legal form.
        self.in_legal: set[int] = set()
        for i, lg in enumerate(self.legal):
            if lg and not lg.weak:
                self.in_legal.update(range(i, i + lg.length))
        lang = (language or "").lower().replace("_", "-").split("-")[0]
        self.language = lang if lang in ("de", "en") else None

    # -- what a word can be ----------------------------------------------

    def lang_factor(self, cue_lang: str) -> float:
        if self.language is None or self.language == cue_lang:
            return 1.0
        return OTHER_LANGUAGE_FACTOR

    def matches(self, i: int, seq: tuple[str, ...]) -> bool:
        return self.words[i:i + len(seq)] == list(seq)

    def name_word(self, i: int) -> bool:
        w = self.words[i]
        if w in NAME_STOP or w in HONORIFICS or i in self.in_legal or CONTRACTION.match(w):
            return False
        letters = w.replace("-", "").replace("'", "")
        return len(letters) >= 2 and letters.isalpha()

    def initial(self, i: int) -> bool:
        return 0 <= i < self.n and len(self.words[i]) == 1 and self.words[i].isalpha()

    def company_word(self, i: int) -> bool:
        w = self.words[i]
        if self.initial(i) and (self.initial(i - 1) or self.initial(i + 1)):
            return True  # spelled initials: "a o k", "b m w"
        return (w not in COMPANY_STOP and w not in ARTICLES and w not in ("und", "and")
                and not CONTRACTION.match(w))

    def greeting_prefix(self, i: int) -> bool:
        """Everything before token ``i`` is greeting or filler."""
        return all(w in GREETING for w in self.words[:i])

    def span(self, first: int, last: int) -> tuple[int, int]:
        return (self.toks[first].start, self.toks[last].end)
