"""Classify what a caller said: cold call or genuine call, and yes/no answers.

Pure text functions (no I/O, standard library only). The input is a
transcript as the offline recogniser (Vosk) prints it: lower case, no
punctuation, numbers spelt out as words, umlauts present. Text with
capitals, punctuation or curly apostrophes is normalised first, so typed
test input works too.

Cold-call screening
-------------------
``classify_call`` looks for the phrases in
:data:`~callbot.text.classify_phrases.CALL_PHRASES`. Every row
is ``(canonical phrase, weight, regular expression)``; a positive weight is
cold-call evidence, a negative weight is evidence of a genuine call (a
customer, supplier, patient, applicant ...), a weight of 0 only *masks* the
words it matches (e.g. "im auftrag von" so that "auftrag" does not count as
an order).

Matching:

* All rows are tried; overlapping matches are resolved by keeping the
  **longest** match first (ties: the row listed first). That is how
  "ihr angebot vom ..." (genuine, the office's own offer) beats the bare
  "angebot" (cold), and "private krankenversicherung" beats
  "krankenversicherung".
* Each canonical phrase counts **once**, however often it is said
  (repetition is not independent evidence).

Label rule (``score`` = sum of the weights of the distinct phrases found):

* ``cold_call`` when ``score >= COLD_CALL_THRESHOLD`` and there is at least
  one positive signal;
* ``genuine`` when ``score <= -GENUINE_THRESHOLD``, or when there are only
  negative signals;
* ``unclear`` otherwise: nothing recognised (including an empty
  transcript), or evidence both ways that roughly cancels out.

Yes/no answers
--------------
``yes_no`` finds yes-, no- and don't-know cues
(:data:`~callbot.text.classify_phrases.YES_NO_PHRASES`,
longest match first, as above). If a turn word ("aber", "eigentlich",
"sondern", "but", "actually") is followed by a cue, only the cues from the
last such turn on count ("ja also eigentlich nicht" → no). Then: any
don't-know cue → ``unknown``; yes and no both present → ``unknown``
(contradictory, e.g. "ja nein"); only yes → ``yes``; only no → ``no``;
nothing → ``unknown``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from callbot.text.classify_phrases import CALL_PHRASES, TURN_WORDS, YES_NO_PHRASES

#: Score at or above which a call with cold-call evidence is a cold call.
COLD_CALL_THRESHOLD = 1.0
#: Score at or below minus this is a genuine call (also: only negative signals).
GENUINE_THRESHOLD = 1.0


@dataclass(frozen=True)
class Signal:
    """One piece of evidence found in a transcript."""

    phrase: str   # canonical phrase, e.g. "Angebot", "Geschäftsführung sprechen"
    matched: str  # the words matched in the transcript
    weight: float  # positive = cold-call evidence, negative = genuine evidence


@dataclass(frozen=True)
class Classification:
    """Result of :func:`classify_call`; ``score`` is the sum of all weights."""

    label: str  # "cold_call" | "genuine" | "unclear"
    score: float
    reasons: tuple[Signal, ...]          # evidence for a cold call (weight > 0)
    counter_reasons: tuple[Signal, ...]  # evidence against (weight < 0)

    def explain(self) -> str:
        """One line: ``"<label>: <cold-call evidence>; against: <genuine evidence>"``.

        For example ``"cold_call: Angebot, Sonderkonditionen; against: —"`` or
        ``"genuine: —; against: Rechnung"``; "—" stands for no evidence.
        """
        def names(signals: tuple[Signal, ...]) -> str:
            return ", ".join(s.phrase for s in signals) or "—"
        return f"{self.label}: {names(self.reasons)}; against: {names(self.counter_reasons)}"


_CALL_RULES: dict[str, tuple[tuple[str, float, re.Pattern[str]], ...]] = {
    lang: tuple((phrase, weight, re.compile(pattern)) for phrase, weight, pattern in rows)
    for lang, rows in CALL_PHRASES.items()
}
_YES_NO_RULES: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    lang: tuple((polarity, re.compile(pattern)) for polarity, pattern in rows)
    for lang, rows in YES_NO_PHRASES.items()
}

_UNK_TOKEN = re.compile(r"\[unk\]|<unk>")
_NOT_WORD = re.compile(r"[^\w\s']+")


def normalise(text: str) -> str:
    """Lower-case, drop punctuation (keeping apostrophes) and Vosk's ``[unk]``, squeeze spaces."""
    text = (text or "").lower().replace("’", "'").replace("‘", "'").replace("`", "'")
    text = _UNK_TOKEN.sub(" ", text)
    text = _NOT_WORD.sub(" ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)  # quotes, not apostrophes inside words
    return " ".join(text.split())


def _language(language: str) -> str:
    lang = (language or "").strip().lower().replace("_", "-").split("-")[0]
    if lang not in CALL_PHRASES:
        raise ValueError(f"unsupported language {language!r}; use one of {', '.join(sorted(CALL_PHRASES))}")
    return lang


def _longest_matches(text: str, patterns) -> list[tuple[int, int, int]]:
    """Non-overlapping ``(start, end, rule index)`` matches, longest first, in text order."""
    candidates = []
    for index, pattern in enumerate(patterns):
        for m in pattern.finditer(text):
            if m.end() > m.start():
                candidates.append((m.start(), m.end(), index))
    candidates.sort(key=lambda c: (c[0] - c[1], c[2], c[0]))
    taken: list[tuple[int, int, int]] = []
    for start, end, index in candidates:
        if all(end <= s or start >= e for s, e, _ in taken):
            taken.append((start, end, index))
    taken.sort()
    return taken


def classify_call(transcript: str, language: str = "de") -> Classification:
    """Label what a caller said as ``cold_call``, ``genuine`` or ``unclear`` (see the module doc)."""
    rules = _CALL_RULES[_language(language)]
    text = normalise(transcript)
    seen: set[str] = set()
    reasons: list[Signal] = []
    counter: list[Signal] = []
    for start, end, index in _longest_matches(text, [pattern for _, _, pattern in rules]):
        phrase, weight, _ = rules[index]
        if weight == 0 or phrase in seen:
            continue
        seen.add(phrase)
        (reasons if weight > 0 else counter).append(Signal(phrase, text[start:end], weight))
    score = round(sum(s.weight for s in reasons) + sum(s.weight for s in counter), 6)
    if reasons and score >= COLD_CALL_THRESHOLD:
        label = "cold_call"
    elif counter and (score <= -GENUINE_THRESHOLD or not reasons):
        label = "genuine"
    else:
        label = "unclear"
    return Classification(label, score, tuple(reasons), tuple(counter))


def yes_no(answer: str, language: str = "de") -> str:
    """``"yes"``, ``"no"`` or ``"unknown"`` for a spoken answer to a yes/no question."""
    lang = _language(language)
    rules = _YES_NO_RULES[lang]
    text = normalise(answer)
    if not text:
        return "unknown"
    cues = [(start, rules[index][0]) for start, _, index in _longest_matches(text, [p for _, p in rules])
            if rules[index][0]]
    if not cues:
        return "unknown"
    # The answer may turn after "aber"/"eigentlich"/"but"/...: the last turn
    # word that has a cue before it and a cue from it on wins.
    turn_words = TURN_WORDS[lang]
    offset = 0
    for word in text.split(" "):
        if word in turn_words and any(s < offset for s, _ in cues) and any(s >= offset for s, _ in cues):
            cues = [(s, p) for s, p in cues if s >= offset]
        offset += len(word) + 1
    polarities = {p for _, p in cues}
    if "unknown" in polarities or polarities == {"yes", "no"}:
        return "unknown"
    return polarities.pop()
