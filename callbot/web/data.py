"""What the web pages read from and write to the call log (:class:`callbot.store.store.Store`).

Thin on purpose: the store does the searching, number normalisation and list
rules (see :mod:`callbot.lists`); this module only adapts results for the
pages (newest first, current entries vs. history) and waits for writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from callbot import lists
from callbot.records import CallRecord, ListEntry
from callbot.store.store import Store
from callbot.web import words

BLOCK_LIST = "block"
ALLOW_LIST = "allow"
NUMBER_KIND = "number"
WRITE_TIMEOUT = 10.0


# --------------------------------------------------------------------------
# Calls


def search(
    store: Store,
    *,
    text: str | None = None,
    outcome: str | None = None,
    number: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    label: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[CallRecord], int]:
    """One page of calls, newest first, and how many match in all (-1: more than the store counts)."""
    return store.search_calls(text=text, outcome=outcome, number=number, since=since, until=until,
                              label=label, page=page, per_page=per_page)


@dataclass(frozen=True)
class CallSummary:
    """What the call list shows of a call beyond its row: the caller's purpose in one line and
    their first recording (path relative to the recordings folder, and its length)."""

    purpose: str = ""
    recording: str | None = None
    recording_length: float | None = None


def summaries(store: Store, records: list[CallRecord]) -> dict[int, CallSummary]:
    """:class:`CallSummary` of each call of one page: the turns of all of them in one read
    (``Store.turns_of``) where the store has it, else one read per call (slower: ~1 ms each)."""
    bulk = getattr(store, "turns_of", None)
    by_call = bulk([r.id for r in records]) if bulk is not None else {r.id: store.turns(r.id) for r in records}
    out = {}
    for record in records:
        turns = by_call.get(record.id, [])
        first = words.first_recording(turns)
        out[record.id] = CallSummary(words.purpose(turns, record.transcript),
                                     *(first if first else (None, None)))
    return out


def timeline(store: Store, number: str) -> list[CallRecord]:
    """Every call of ``number``, newest first."""
    return sorted(store.caller_timeline(number), key=lambda r: (r.started_at, r.id), reverse=True)


# --------------------------------------------------------------------------
# Caller lists


@dataclass(frozen=True)
class NumberLists:
    """What the caller lists say about one number."""

    current: list[ListEntry]  # this number's own entries now in force (or waiting for confirmation)
    history: list[ListEntry]  # removed or expired ones, newest first
    decisive: lists.ListMatch | None  # the entry that decides its calls (may be a prefix or name)

    @property
    def blocked(self) -> bool:
        return self.decisive is not None and self.decisive.list == BLOCK_LIST


def number_lists(store: Store, number: str, display: str | None = None) -> NumberLists:
    now = datetime.now(timezone.utc)
    own = store.list_entries_for_number(number)
    current = [e for e in own if e.removed_at is None and not e.is_expired(now)]
    history = sorted((e for e in own if e not in current), key=lambda e: e.id, reverse=True)
    decisive = lists.match(store.active_list_entries(), number, display, now)
    return NumberLists(current, history, decisive)


def put_on_list(store: Store, list_name: str, value: str, reason: str, created_by: str,
                kind: str | None = None) -> int:
    """Block or allow ``value`` (a number unless ``kind`` says otherwise); replaces the
    value's entry on the other list. Raises ListEntryError / StoreError."""
    kind = kind or NUMBER_KIND
    future = store.add_list_entry(list_name, kind, value, reason, source="manual", created_by=created_by)
    return int(future.result(WRITE_TIMEOUT))


def take_off_list(store: Store, list_name: str, number: str) -> int:
    """Remove ``number`` from ``list_name``; how many entries went (0: it was not on it)."""
    return int(store.remove_list_entry((list_name, number)).result(WRITE_TIMEOUT))


def remove_entry(store: Store, entry_id: int) -> int:
    return int(store.remove_list_entry(entry_id).result(WRITE_TIMEOUT))


def confirm_entry(store: Store, entry_id: int) -> None:
    store.confirm_list_entry(entry_id).result(WRITE_TIMEOUT)


def current_entries(store: Store) -> list[ListEntry]:
    """Every entry in force or waiting for confirmation: pending suggestions first."""
    return sorted(store.list_entries(), key=lambda e: (not e.pending, e.list, e.kind, e.value))
