"""What screening found out: the caller's transcripts turned into findings.

The conversation itself is the owner's script (:mod:`callbot.script`).
:func:`summarize` turns what the caller said, by field, into the caller's
name, company and a cold-call label with its reasons. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from callbot.text.classify import Classification, classify_call
from callbot.text.extract import Extracted, extract_identity


@dataclass(frozen=True)
class Findings:
    person: Extracted | None
    company: Extracted | None
    classification: Classification
    transcript: str  # "field: text" lines, in the order heard

    @property
    def label(self) -> str:
        return self.classification.label


def summarize(texts: dict[str, str], language: str = "de") -> Findings:
    """Findings from the caller's transcripts by field (identity, purpose ...)."""
    spoken = {field: text.strip() for field, text in texts.items() if text and text.strip()}
    identity_text = spoken.get("identity") or spoken.get("identity_again", "")
    everything = " ".join(spoken.values())
    identity = extract_identity(identity_text, language) if identity_text else None
    fallback = extract_identity(everything, language) if everything else None
    person = (identity and identity.name) or (fallback and fallback.name)
    company = (identity and identity.company) or (fallback and fallback.company)
    classification = classify_call(everything, language)
    transcript = "\n".join(f"{field}: {text}" for field, text in spoken.items())
    return Findings(person, company, classification, transcript)
