"""What a call was, in words for the office (pure: no I/O, no web types).

* :func:`verdict` — the call's verdict in a few words: ``"Werbeanruf: Angebot, Stromtarif"``,
  ``"Rufnummer unterdrückt"``, ``"Gesperrt: Strom-Drücker"`` instead of ``unclear: unclear: —``.
* :func:`purpose` — what the caller said they want, in one line (from the turns or the transcript).
* :func:`outcome_words`, :func:`field_words`, … — the stored codes (``message_taken``,
  ``contact_details``) in the page's language.

The texts are msgids of :mod:`callbot.i18n` (marked with ``N_`` for extraction).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from callbot.i18n import N_, gettext

OUTCOMES = {
    None: N_("in progress"),
    "answered": N_("answered"),
    "blocked": N_("blocked"),
    "caller_hung_up": N_("caller hung up"),
    "cancelled": N_("cancelled"),
    "cold_call_countered": N_("cold call, counter-offer made"),
    "error": N_("error"),
    "handed_off": N_("put through"),
    "interrupted": N_("interrupted"),
    "message_taken": N_("message left"),
    "no_response": N_("no answer"),
    "refused": N_("refused"),
    "rejected": N_("rejected"),
    "stopped": N_("bot stopped"),
    "timeout": N_("timed out"),
    "transferred": N_("transferred"),
    "withheld_rejected": N_("number withheld, rejected"),
}
LABELS = {"cold_call": N_("Cold call"), "genuine": N_("Genuine call"), "unclear": N_("Unclear")}
FIELDS = {
    "identity": N_("name and company"),
    "identity_again": N_("name and company (asked again)"),
    "purpose": N_("what it is about"),
    "purpose_again": N_("what it is about (asked again)"),
    "website_answer": N_("do they have a website?"),
    "contact_details": N_("contact details"),
}
END_REASONS = {
    "speech_stopped": N_("stopped speaking"),
    "no_speech": N_("said nothing"),
    "max_length": N_("cut off at the longest answer"),
    "hangup": N_("hung up"),
}
LISTS = {"block": N_("blocked"), "allow": N_("allowed")}
SOURCES = {"manual": N_("by hand"), "imported": N_("imported"), "suggested": N_("suggested by the bot")}
WITHHELD = N_("Number withheld")
BLOCKED = N_("Blocked")
ALLOWED = N_("Allowed")
NOT_SCREENED = N_("Not screened")
MAX_PHRASES = 3
PURPOSE_MAX = 140
#: The caller's turns that say what the call is about, best first.
PURPOSE_FIELDS = ("purpose", "purpose_again")


def _word(table: dict, code: str | None, language: str | None) -> str:
    if code in table:
        return gettext(table[code], language)
    return (code or "").replace("_", " ")


def outcome_words(code: str | None, language: str | None = None) -> str:
    return _word(OUTCOMES, code, language)


def label_words(code: str | None, language: str | None = None) -> str:
    return _word(LABELS, code, language) if code else ""


def field_words(code: str | None, language: str | None = None) -> str:
    return _word(FIELDS, code, language)


def end_reason_words(code: str | None, language: str | None = None) -> str:
    return _word(END_REASONS, code, language)


def list_words(code: str | None, language: str | None = None) -> str:
    return _word(LISTS, code, language)


def source_words(code: str | None, language: str | None = None) -> str:
    return _word(SOURCES, code, language)


def label_phrases(label: str | None, label_reasons: str | None) -> list[str]:
    """The phrases behind a label. ``label_reasons`` as the classifier writes it,
    ``"<label>: <cold-call evidence>; against: <genuine evidence>"``, gives the cold-call evidence
    of a cold call and the evidence against one of a genuine call ("—" = none). Any other text is
    taken as it is (without a leading ``"<label>:"``)."""
    text = (label_reasons or "").strip()
    if not text or not label or label == "unclear":  # an unclear call has no evidence worth naming
        return []
    head, found, against = text.partition("; against: ")
    prefix = f"{label}: "
    if found and head.startswith(prefix):
        if label == "cold_call":
            phrases = head[len(prefix):]
        elif label == "genuine":
            phrases = against
        else:
            return []
        return [p.strip() for p in phrases.split(",") if p.strip() and p.strip() != "—"]
    if text.startswith(prefix):
        text = text[len(prefix):].strip()
    return [text] if text and text != "—" else []


def _rule(reasons: Sequence[str]) -> tuple[str, str]:
    """The deciding rule and its reason from the call's first ``"rule: reason"``."""
    if not reasons:
        return "", ""
    rule, _, reason = reasons[0].partition(":")
    return rule.strip(), reason.split(" → ")[0].strip()


def verdict(*, label: str | None, label_reasons: str | None, reasons: Sequence[str] = (),
            withheld: bool = False, language: str | None = None) -> str:
    """The call's verdict in words, e.g. German ``"Werbeanruf: Angebot, Stromtarif"``,
    ``"Anliegen: Rechnung"``, ``"Rufnummer unterdrückt"``, ``"Gesperrt: Strom-Drücker"``."""
    rule, why = _rule(reasons)
    if withheld or rule == "withheld":
        return gettext(WITHHELD, language)
    if label:
        phrases = label_phrases(label, label_reasons)
        if len(phrases) > MAX_PHRASES:
            phrases = phrases[:MAX_PHRASES] + ["…"]
        text = label_words(label, language) + (f": {', '.join(phrases)}" if phrases else "")
        return f"{gettext(BLOCKED, language)}, {text}" if rule == "blocked" else text
    if rule == "blocked":
        return gettext(BLOCKED, language) + (f": {why}" if why else "")
    if rule == "allowed":
        return gettext(ALLOWED, language) + (f": {why}" if why else "")
    return gettext(NOT_SCREENED, language) if rule == "unknown" else "—"


def verdict_of(record, language: str | None = None) -> str:
    """:func:`verdict` of a :class:`callbot.records.CallRecord`."""
    return verdict(label=record.label, label_reasons=record.label_reasons, reasons=record.reasons,
                   withheld=record.withheld, language=language)


def one_line(text: str | None, limit: int = PURPOSE_MAX) -> str:
    """``text`` on one line, cut to ``limit`` characters with "…"."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def purpose(turns: Iterable, transcript: str | None = None) -> str:
    """What the caller said the call is about, in one line: their answer to "what is it about"
    (a caller turn of a PURPOSE_FIELDS field), else that line of the transcript
    (``"purpose: …"``), else the first thing they said; "" when they said nothing."""
    said = [t for t in turns if t.speaker == "caller" and (t.text or "").strip()]
    for field in PURPOSE_FIELDS:
        for turn in said:
            if turn.field == field:
                return one_line(turn.text)
    lines = [line.strip() for line in (transcript or "").splitlines() if line.strip()]
    for field in PURPOSE_FIELDS:
        for line in lines:
            if line.startswith(f"{field}:"):
                return one_line(line[len(field) + 1:])
    if said:
        return one_line(said[0].text)
    if lines:
        first = lines[0]
        name, colon, rest = first.partition(": ")
        return one_line(rest if colon and name.isidentifier() else first)
    return ""


def first_recording(turns: Iterable) -> tuple[str, float | None] | None:
    """The first caller recording of a call and its length, or None."""
    for turn in turns:
        if turn.speaker == "caller" and turn.recording:
            return turn.recording, turn.duration
    return None
