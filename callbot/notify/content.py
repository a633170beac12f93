"""What a notification says about a call, in German or English: :class:`CallSummary` (read from
the call log) and the texts the mail and the webhook share. Every text is written in English
and goes through :func:`callbot.i18n.gettext`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from callbot.i18n import gettext
from callbot.notify.rules import zone
from callbot.notify.settings import NotifySettings
from callbot.records import CallRecord, TurnRow
from callbot.store.store import Store
from callbot.times import parse_time

#: Each outcome for people (msgids).
OUTCOME_TEXTS = {
    "withheld_rejected": "Number withheld: turned away",
    "cancelled": "Caller gave up before the bot answered",
    "answered": "Greeted",
    "caller_hung_up": "Caller hung up",
    "error": "The bot failed during the call",
    "interrupted": "Interrupted (the bot stopped)",
    "timeout": "Timed out",
    "cold_call_countered": "Cold call: counter-offer made (lead)",
    "message_taken": "Message taken",
    "no_response": "Caller stayed silent",
    "blocked": "Blocked caller turned away",
    "handed_off": "Left ringing for a person",
    "transferred": "Transferred to a person",
    "rejected": "Refused (handed on)",
    "refused": "Could not be taken",
    "stopped": "Ended because the bot stopped",
}
#: What the caller was asked (turn field) for people (msgids).
FIELD_TEXTS = {"identity": "Who is calling", "purpose": "Concern", "contact": "Contact details",
               "website": "Website"}


def clean(text: str | None, limit: int | None = None) -> str:
    """Caller-supplied text made safe for a mail header or a line: no control or bidi characters."""
    if not text:
        return ""
    out = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)
    out = " ".join(out.split())
    return out if limit is None or len(out) <= limit else out[: limit - 1] + "…"


@dataclass(frozen=True)
class Said:
    field: str          # what was asked
    text: str           # what the caller said ("" = not understood / not transcribed)
    recording: str | None


@dataclass(frozen=True)
class CallSummary:
    record: CallRecord
    said: tuple[Said, ...]
    leads: tuple[str, ...]

    @classmethod
    def read(cls, store: Store, call_id: int) -> CallSummary | None:
        record = store.call(call_id)
        if record is None:
            return None
        turns: list[TurnRow] = [t for t in store.turns(call_id) if t.speaker == "caller"]
        said = tuple(Said(t.field or "", clean(t.text), t.recording) for t in turns)
        leads = tuple(clean(lead.text) for lead in store.call_leads(call_id) if lead.text)
        return cls(record, said, leads)

    def caller(self, language: str) -> str:
        """``+49301234567 (Max Muster, Muster GmbH)``; the shown name when there is no number."""
        r = self.record
        if r.withheld:
            return gettext("withheld number", language)
        number = clean(r.caller_number or r.caller_dialled, 40)
        who = ", ".join(x for x in (clean(r.person, 60), clean(r.company, 60)) if x)
        who = who or clean(r.caller_display, 60)
        if number and who:
            return f"{number} ({who})"
        return number or who or gettext("unknown caller", language)

    def outcome(self, language: str) -> str:
        value = self.record.outcome or ""
        return gettext(OUTCOME_TEXTS[value], language) if value in OUTCOME_TEXTS else value

    def subject(self, language: str) -> str:
        return clean(gettext("Call from {caller}: {outcome}", language).format(
            caller=self.caller(language), outcome=self.outcome(language)), 200)

    def ended_local(self, settings: NotifySettings) -> datetime | None:
        stamp = self.record.ended_at or self.record.started_at
        return parse_time(stamp).astimezone(zone(settings)) if stamp else None

    def link(self, settings: NotifySettings) -> str:
        return f"{settings.page_url.rstrip('/')}/calls/{self.record.id}" if settings.page_url else ""

    def lines(self, settings: NotifySettings, language: str) -> list[str]:
        """The text body: who, when, what was decided and why, what the caller said, the link."""
        r = self.record
        g = lambda text: gettext(text, language)  # noqa: E731
        region = ", ".join(x for x in (clean(r.caller_description), clean(r.caller_region)) if x)
        number = clean(r.caller_number or r.caller_dialled) or g("withheld number" if r.withheld else "none")
        ended = self.ended_local(settings)
        out = [self.subject(language), ""]
        out.append(f"{g('Number')}: {number}" + (f" ({region})" if region else ""))
        out.append(f"{g('Name')}: {clean(r.person) or clean(r.caller_display) or '—'}")
        out.append(f"{g('Company')}: {clean(r.company) or '—'}")
        if ended is not None:
            out.append(f"{g('Time')}: {ended:%d.%m.%Y %H:%M:%S}")
        out.append(f"{g('Outcome')}: {self.outcome(language)}")
        for reason in r.reasons:
            out.append(f"{g('Decision')}: {clean(reason)}")
        if r.label:
            out.append(f"{g('Verdict')}: {clean(r.label)}" + (f" — {clean(r.label_reasons)}" if r.label_reasons else ""))
        if self.said:
            out += ["", g("What the caller said:")]
            for s in self.said:
                asked = g(FIELD_TEXTS[s.field]) if s.field in FIELD_TEXTS else s.field
                out.append(f"- {asked}: " + (f"„{s.text}“" if s.text else g("(not understood)")))
        if self.leads:
            out += ["", g("Contact details (lead):")] + [f"- {lead}" for lead in self.leads]
        link = self.link(settings)
        if link:
            out += ["", f"{g('The call in the call log')}: {link}"]
        return out

    def to_json(self, settings: NotifySettings, language: str) -> dict:
        """The webhook's ``call`` object (plain JSON)."""
        r = self.record
        return {
            "id": r.id, "started_at": r.started_at, "ended_at": r.ended_at, "outcome": r.outcome,
            "outcome_text": self.outcome(language), "withheld": r.withheld,
            "number": r.caller_number, "as_received": r.caller_dialled, "region": r.caller_region,
            "place": r.caller_description, "name_shown": r.caller_display, "person": r.person,
            "company": r.company, "decision": list(r.reasons), "label": r.label,
            "label_reasons": r.label_reasons,
            "said": [{"field": s.field, "text": s.text} for s in self.said],
            "leads": list(self.leads), "url": self.link(settings) or None,
        }
