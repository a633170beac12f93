"""The values the call log stores and hands back (plain frozen dataclasses, a leaf).

Written by :mod:`callbot.store` (the call log), read by the CLI, the web page and the domain
modules; they carry no SQLite types.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callbot.times import parse_time




@dataclass(frozen=True)
class CallerFields:
    """What the SIP side knows about the caller at INVITE time."""

    raw: str
    display: str | None
    number: str | None
    dialled: str | None
    country: int | None
    region: str | None
    type: str | None
    description: str | None
    valid: bool
    withheld: bool
    number_source: str | None
    evidence: str | None = None


@dataclass(frozen=True)
class Event:
    id: int
    call_id: int
    at: str
    kind: str
    rule: str | None
    reason: str | None


@dataclass(frozen=True)
class TurnFields:
    """One turn of a call: the bot speaking a prompt, or the caller answering."""

    seq: int
    speaker: str                 # 'bot' | 'caller'
    started_at: datetime
    duration: float
    prompt_id: str | None = None  # bot turns: which prompt
    field: str | None = None      # caller turns: what was asked (identity, purpose ...)
    text: str | None = None       # bot: the prompt text; caller: the transcript
    confidence: float | None = None
    recording: str | None = None  # path of the WAV, relative to the recordings directory
    end_reason: str | None = None  # caller turns: speech_stopped / no_speech / max_length / hangup


@dataclass(frozen=True)
class TurnRow:
    """A stored turn as read back from the call log (a TurnFields with its row ids)."""

    id: int
    call_id: int
    seq: int
    speaker: str
    prompt_id: str | None
    field: str | None
    text: str | None
    started_at: str
    duration: float | None
    confidence: float | None
    recording: str | None
    end_reason: str | None


@dataclass(frozen=True)
class Lead:
    """What a cold caller said when asked for contact details, with who they are."""

    id: int
    call_id: int
    created_at: str
    field: str
    text: str | None
    recording: str | None
    person: str | None
    company: str | None
    number: str | None      # E.164 when known, else as received

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ListEntry:
    """One entry of the allow or block list (see :mod:`callbot.lists`)."""

    id: int
    list: str               # 'allow' | 'block'
    kind: str               # 'number' (E.164) | 'prefix' ('+4930123*') | 'name' (pattern, * = any text)
    value: str
    reason: str
    source: str             # 'manual' | 'imported' | 'suggested'
    created_at: str
    created_by: str | None
    expires_at: str | None  # None = never
    confirmed: bool         # suggested entries start unconfirmed and never match until accepted
    removed_at: str | None  # soft delete: the row stays as history

    def is_active(self, now: datetime) -> bool:
        """Takes part in matching at ``now``: confirmed, not removed, not expired."""
        if self.removed_at is not None or not self.confirmed:
            return False
        return self.expires_at is None or parse_time(self.expires_at) > now

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and parse_time(self.expires_at) <= now

    @property
    def pending(self) -> bool:
        """A suggestion waiting for the owner (``callbot block --accept ID``)."""
        return not self.confirmed and self.removed_at is None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EraseCounts:
    """What a privacy write touched: rows deleted, or rows whose text/recording was cleared."""

    calls: int = 0
    events: int = 0
    turns: int = 0
    leads: int = 0

    def __add__(self, other: EraseCounts) -> EraseCounts:
        return EraseCounts(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))


#: Per-call results of screening that update_call() may set.
SCREENING_FIELDS = ("person", "company", "transcript", "label", "label_reasons")


@dataclass(frozen=True)
class CallRecord:
    id: int
    sip_call_id: str | None
    started_at: str
    answered_at: str | None
    ended_at: str | None
    duration: float | None
    outcome: str | None
    caller_raw: str | None
    caller_display: str | None
    caller_number: str | None
    caller_dialled: str | None
    caller_country: int | None
    caller_region: str | None
    caller_type: str | None
    caller_description: str | None
    caller_valid: bool
    withheld: bool
    number_source: str | None
    reasons: tuple[str, ...]  # "rule: reason" of the call's decision events, in order
    withheld_evidence: str | None = None
    person: str | None = None
    company: str | None = None
    transcript: str | None = None
    label: str | None = None
    label_reasons: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["reasons"] = list(self.reasons)
        return data
