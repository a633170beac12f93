"""Finding the caller's name in a transcript: the name cues of :mod:`callbot.text.extract`.

A name after "mein name ist", "ich bin", "this is" ... (read forward), before
"hier", "speaking", "mein name" (read backward), or bare between a greeting and
"von"/"from". Honorifics are dropped; names are 1-3 words.
"""

from __future__ import annotations

from callbot.text.extract_words import (
    AFTER_BARE_NAME, BARE_NAME_CONF, EXPLICIT, HONORIFICS, MAX_NAME_WORDS, POST_NAME_CUES, PRE_NAME_CUES,
    SKIP_BEFORE_NAME, SURNAME_AFTER_HONORIFIC,
)
from callbot.text.legal_forms import cap
from callbot.text.transcript import Candidate, Transcript


def _forward_name(t: Transcript, i: int) -> tuple[int, int, bool] | None:
    """Name starting at or after token i: (first, last, had_honorific)."""
    honorific = False
    while i < t.n and t.words[i] in SKIP_BEFORE_NAME:
        honorific |= t.words[i] in HONORIFICS
        i += 1
    first = i
    while i < t.n and i - first < MAX_NAME_WORDS and (
            t.name_word(i)
            or (honorific and i == first and t.words[i] in SURNAME_AFTER_HONORIFIC)):
        i += 1
    if i == first:
        return None
    return first, i - 1, honorific


def _backward_name(t: Transcript, end: int) -> tuple[int, int, bool, int] | None:
    """Name ending just before token ``end``: (first, last, honorific,
    index of the first token before name and honorifics)."""
    j = end - 1
    while j >= 0 and end - 1 - j < MAX_NAME_WORDS and t.name_word(j):
        j -= 1
    first = j + 1
    if first == end:
        return None
    honorific = False
    while j >= 0 and t.words[j] in HONORIFICS:
        honorific = True
        j -= 1
    # A colloquial article before the honorific/name: "die frau weber".
    if j >= 0 and t.words[j] in ("der", "die") and honorific:
        j -= 1
    return first, end - 1, honorific, j + 1


def _name_conf(t: Transcript, base: float, first: int, last: int, honorific: bool,
               lang: str) -> float:
    conf = base
    if honorific:
        conf += 0.05
    if last > first:
        conf += 0.05
    return round(min(conf, 0.99) * t.lang_factor(lang), 3)


def name_candidates(t: Transcript) -> list[tuple[Candidate, bool]]:
    """(candidate, is_weak_cue) pairs."""
    out: list[tuple[Candidate, bool]] = []
    for i in range(t.n):
        for seq, base, lang in PRE_NAME_CUES:
            if not t.matches(i, seq):
                continue
            found = _forward_name(t, i + len(seq))
            if found:
                first, last, hon = found
                conf = _name_conf(t, base, first, last, hon, lang)
                out.append((_name_cand(t, first, last, conf), base < EXPLICIT))
        for seq, base, lang, needs_greeting, not_after in POST_NAME_CUES:
            if not t.matches(i, seq):
                continue
            after = i + len(seq)
            if after < t.n and t.words[after] in not_after:
                continue
            found = _backward_name(t, i)
            if not found:
                continue
            first, last, hon, before = found
            if needs_greeting and not (hon or t.greeting_prefix(before)):
                continue
            conf = _name_conf(t, base, first, last, hon, lang)
            out.append((_name_cand(t, first, last, conf), base < EXPLICIT))
        if t.words[i] in AFTER_BARE_NAME:
            found = _backward_name(t, i)
            if found:
                first, last, hon, before = found
                if t.greeting_prefix(before):
                    lang = "en" if t.words[i] in ("from", "with", "at") else "de"
                    conf = _name_conf(t, BARE_NAME_CONF, first, last, hon, lang)
                    out.append((_name_cand(t, first, last, conf), True))
    return out


def _name_cand(t: Transcript, first: int, last: int, conf: float) -> Candidate:
    return Candidate(first, last, conf, normalize_name(t.words[first:last + 1]))


def normalize_name(words: list[str]) -> str:
    return " ".join(cap(w) for w in words)
