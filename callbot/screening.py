"""Screening an unknown caller: the fixed question sequence and what it found.

Until the owner's script engine exists the conversation is a fixed sequence:
greet and ask who is calling → listen → ask what it is about → listen →
goodbye. :func:`summarize` turns the caller's transcripts into findings
(name, company, cold-call label with reasons). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from callbot.classify import Classification, classify_call
from callbot.extract import Extracted, extract_identity

#: (kind, argument): say a prompt id, or listen and store the turn under a field name.
SCREENING_STEPS: tuple[tuple[str, str], ...] = (
    ("say", "ask_identity"),
    ("listen", "identity"),
    ("say", "ask_purpose"),
    ("listen", "purpose"),
    ("say", "goodbye"),
)
SCREENING_PROMPTS = tuple(arg for kind, arg in SCREENING_STEPS if kind == "say")


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
    identity_text = spoken.get("identity", "")
    everything = " ".join(spoken.values())
    identity = extract_identity(identity_text, language) if identity_text else None
    fallback = extract_identity(everything, language) if everything else None
    person = (identity and identity.name) or (fallback and fallback.name)
    company = (identity and identity.company) or (fallback and fallback.company)
    classification = classify_call(everything, language)
    transcript = "\n".join(f"{field}: {text}" for field, text in spoken.items())
    return Findings(person, company, classification, transcript)
