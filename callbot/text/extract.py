"""Who is calling, and for whom: caller name and company from a transcript.

Pure and rule-based (stdlib only, no I/O).  The input is a transcript as the
offline recognizer (Vosk) prints it: lowercase, no punctuation, numbers as
words, umlauts present, legal forms sometimes spelled out letter by letter
("g m b h", "ge em be ha", "e k").

Two kinds of cue are looked for, German and English, always both (the
``language`` argument only makes cues of the other language slightly less
confident):

* a **name** after "mein name ist", "ich heiße", "hier spricht", "hier ist",
  "ich bin", "am apparat ist", "my name is", "this is", "it's", "i'm" ... or
  before "hier", "here", "speaking", "mein name" ("müller hier"), or a bare
  name right after a greeting and before "von"/"from" ("grüß gott maier von
  der sparkasse").  Honorifics (herr, frau, doktor, mr, dr ...) are dropped
  from the name; names are 1-3 words.
* a **company** after "firma", "im auftrag der", "im namen der", "on behalf
  of" (explicit), or after "von", "vom", "bei", "from", "with", "at" when
  those follow the caller's name or an identity phrase ("ich bin von",
  "ich rufe von ... an", "calling from", "i work at"); or, without any cue,
  the words in front of a legal form ("... der siemens a g").  A legal form
  ends the company and raises the confidence; clause words ("und ich",
  "wegen", "because", the separable particle "an" ...) end it too.

Confidence is a rule-based figure in 0..1: explicit cues score higher than
weak ones, a legal form adds to a company's score.

Where things are: the words and cues in :mod:`callbot.text.extract_words`,
legal forms and company spelling in :mod:`callbot.text.legal_forms`, the
transcript's tokens and word tests in :mod:`callbot.text.transcript`, names in
:mod:`callbot.text.extract_names`, companies in :mod:`callbot.text.extract_companies`.
"""

from __future__ import annotations

from dataclasses import dataclass

from callbot.text.extract_companies import company_candidates, org_phrase
from callbot.text.extract_names import name_candidates
from callbot.text.transcript import Candidate, Transcript


@dataclass(frozen=True)
class Extracted:
    """One extracted value.

    ``value`` is normalized (names title-cased without honorifics, companies
    through :func:`~callbot.text.legal_forms.normalize_company`); ``span`` is the (start, end) character
    range of the matched words in the original transcript; ``confidence`` is
    a rule-based 0..1 score.
    """

    value: str
    span: tuple[int, int]
    confidence: float


@dataclass(frozen=True)
class Identity:
    name: Extracted | None
    company: Extracted | None


def _identity(t: Transcript) -> Identity:
    names = name_candidates(t)
    name_ends = {c.last for c, _ in names}
    companies = company_candidates(t, name_ends, names)
    # Weak-cue names that turned out to be organisations are no names.
    names = [(c, w) for c, w in names if not (w and org_phrase(t, c))]
    company = _best(companies)
    if company is not None:
        names = [(c, w) for c, w in names
                 if c.last < company.first or c.first > company.last]
    name = _best([c for c, _ in names])
    return Identity(
        name=_extracted(t, name),
        company=_extracted(t, company),
    )


def _extracted(t: Transcript, cand: Candidate | None) -> Extracted | None:
    if cand is None or not cand.value:
        return None
    return Extracted(cand.value, t.span(cand.first, cand.last), cand.confidence)


def _best(cands: list[Candidate]) -> Candidate | None:
    if not cands:
        return None
    # Highest confidence; on a tie the earlier, then the longer candidate.
    return max(cands, key=lambda c: (c.confidence, -c.first, c.last))


def extract_identity(transcript: str, language: str = "de") -> Identity:
    """Caller's name and company from a recognizer transcript.

    ``language`` ("de" or "en"; "de-DE" etc. accepted) only weights the cues:
    both German and English cues are always tried, those of the other
    language score slightly lower.  Any other value means "unsure".
    """
    if not transcript or not transcript.strip():
        return Identity(None, None)
    return _identity(Transcript(transcript, language))
