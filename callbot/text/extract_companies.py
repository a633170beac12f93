"""Finding the caller's company in a transcript: the company cues of :mod:`callbot.text.extract`.

A company after "firma", "im auftrag", "on behalf of" (explicit), after
"von"/"bei"/"from"/"at" when those follow the caller's name or an identity
phrase, in front of a legal form without any cue, or a "name" that is really
an organisation ("hier ist die telekom").
"""

from __future__ import annotations

from callbot.text.extract_words import (
    COMPANY_HINT_SUFFIXES, COMPANY_NOT_FIRST, FALLBACK_CONF, FILLERS, FOR_CONTEXT, HINT_CONF, ID_CONTEXT,
    LEGAL_BONUS, MAX_COMPANY_WORDS, SKIP_BEFORE_COMPANY, STRONG_COMPANY_CUES, WEAK_COMPANY_CUES,
)
from callbot.text.legal_forms import normalize_words
from callbot.text.transcript import Candidate, Transcript


def _walk_company(t: Transcript, i: int) -> tuple[int, int, bool] | None:
    """Company starting at token i: (first, last, has_legal_form)."""
    while i < t.n and t.words[i] in SKIP_BEFORE_COMPANY:
        i += 1
    if i >= t.n or t.words[i] in COMPANY_NOT_FIRST:
        return None
    first = i
    if t.legal[i] is None and not t.company_word(i):
        return None
    content = 0
    last = None
    while i < t.n:
        lg = t.legal[i]
        if lg is not None and content > 0:
            last = i + lg.length - 1
            return first, last, not lg.weak
        w = t.words[i]
        if w in ("und", "and", "&", "+", "of"):
            nxt = i + 1
            if (content > 0 and nxt < t.n and t.words[nxt] not in COMPANY_NOT_FIRST
                    and (t.legal[nxt] is not None or t.company_word(nxt))):
                i += 1
                continue
            break
        if not t.company_word(i) or content >= MAX_COMPANY_WORDS:
            break
        content += 1
        last = i
        i += 1
    if last is None:
        return None
    return first, last, False


def _company_cand(t: Transcript, first: int, last: int, has_legal: bool, base: float,
                  lang: str) -> Candidate:
    conf = base + (LEGAL_BONUS if has_legal else 0.0)
    conf = round(min(conf, 0.99) * t.lang_factor(lang), 3)
    value = normalize_words(t.words[first:last + 1])
    return Candidate(first, last, conf, value)


def _prev_context(t: Transcript, i: int) -> int:
    """Index of the token before ``i``, skipping fillers (-1 at start)."""
    j = i - 1
    while j >= 0 and t.words[j] in FILLERS:
        j -= 1
    return j


def company_candidates(t: Transcript, name_ends: set[int],
                       name_cands: list[tuple[Candidate, bool]]) -> list[Candidate]:
    """Every company candidate; ``name_ends``: where name candidates end (a "von" after a
    name introduces the caller's organisation); ``name_cands``: (candidate, is_weak_cue)."""
    out: list[Candidate] = []
    for i in range(t.n):
        for seq, base, lang in STRONG_COMPANY_CUES:
            if t.matches(i, seq):
                found = _walk_company(t, i + len(seq))
                if found:
                    out.append(_company_cand(t, *found, base, lang))
        cue = WEAK_COMPANY_CUES.get(t.words[i])
        if cue is None:
            continue
        base, lang = cue
        found = _walk_company(t, i + 1)
        if not found:
            continue
        j = _prev_context(t, i)
        prev = t.words[j] if j >= 0 else None
        if t.words[i] in ("für", "for"):
            ok = prev in FOR_CONTEXT
        else:
            ok = (j < 0 or j in name_ends or prev in ID_CONTEXT
                  or t.greeting_prefix(j + 1))
        if ok:
            out.append(_company_cand(t, *found, base, lang))
        elif found[2]:
            # Not an identity context, but a legal form says "company".
            out.append(_company_cand(t, *found, FALLBACK_CONF - 0.05, lang))

    # Legal form without a cue: the words in front of it.
    for i, lg in enumerate(t.legal):
        if lg is None or lg.weak:
            continue
        j = i - 1
        content = 0
        while j >= 0 and content < MAX_COMPANY_WORDS:
            w = t.words[j]
            if w in ("und", "and", "&", "+", "of") and content > 0 and j > 0 \
                    and t.company_word(j - 1):
                j -= 1
                continue
            if not t.company_word(j) or j in t.in_legal:
                break
            content += 1
            j -= 1
        if content:
            first = j + 1
            while t.words[first] in ("und", "and", "&", "+", "of"):
                first += 1
            out.append(_company_cand(t, first, i + lg.length - 1, True,
                                     FALLBACK_CONF, t.language or "de"))

    # A "name" that is really an organisation: "hier ist die telekom",
    # "this is amazon customer service".
    for cand, weak in name_cands:
        found = org_phrase(t, cand) if weak else None
        if found:
            out.append(_company_cand(t, *found, HINT_CONF, t.language or "de"))
    return out


def org_phrase(t: Transcript, cand: Candidate) -> tuple[int, int, bool] | None:
    """The company phrase starting at a name candidate, if it contains an
    organisation word ("telekom", "...versicherung", "service" ...)."""
    found = _walk_company(t, cand.first)
    if found is None:
        return None
    first, last, _ = found
    if any(w.endswith(COMPANY_HINT_SUFFIXES) for w in t.words[first:last + 1]):
        return found
    return None
