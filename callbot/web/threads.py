"""The inbox's threads: all calls of one number as one ticket (standard library and the store only,
so ``callbot inbox`` uses it without the web stack).

A thread is keyed by the caller's number (E.164, else as received); a withheld or unreadable
caller's call is a thread of its own. Changing a thread's state or assignee changes every open
item of it (a colleague who calls the number back deals with all its calls); a note and a due
time belong to the call they were written on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callbot.errors import CallbotError
from callbot.records import CallRecord
from callbot.store.inbox import UNSET, InboxChange, InboxItem
from callbot.store.store import Store

WRITE_TIMEOUT = 10.0


class NoSuchCall(CallbotError, LookupError):
    """The call id names no call."""


@dataclass(frozen=True)
class Thread:
    key: str | None            # the number, None for a call of its own
    focus: InboxItem            # the call the thread was opened with
    items: list[InboxItem]      # every call of the number, newest first
    history: list[InboxChange]  # every inbox change of those calls, oldest first

    @property
    def open_items(self) -> list[InboxItem]:
        return [i for i in self.items if i.in_inbox]


def thread_key(call: CallRecord) -> str | None:
    if call.withheld:
        return None
    return call.caller_number or call.caller_dialled or None


def thread_calls(store: Store, call: CallRecord) -> list[CallRecord]:
    key = thread_key(call)
    if key is None:
        return [call]
    try:
        calls = store.caller_timeline(key)
    except ValueError:  # not a number the look-up understands
        return [call]
    return sorted(calls, key=lambda c: (c.started_at, c.id), reverse=True) or [call]


def thread(store: Store, call_id: int) -> Thread:
    focus = store.inbox_items([call_id]).get(call_id)
    if focus is None:
        raise NoSuchCall(f"there is no call {call_id}")
    calls = thread_calls(store, focus.call)
    items = store.inbox_items([c.id for c in calls])
    ordered = [items[c.id] for c in calls if c.id in items]
    return Thread(thread_key(focus.call), focus, ordered, store.inbox_history([c.id for c in calls]))


def change_thread(store: Store, call_id: int, who: str, *, state: str = UNSET, assignee: Any = UNSET,
                  due_at: datetime | str | None = UNSET, note: str | None = None) -> int:
    """Change the thread of call ``call_id``: ``state`` and ``assignee`` on every open item of
    the thread and on the call itself, ``due_at`` and ``note`` on the call. How many changes
    were recorded (each with ``who`` and when)."""
    t = thread(store, call_id)
    futures = [store.change_inbox_item(call_id, who, state=state, assignee=assignee, due_at=due_at, note=note)]
    if state is not UNSET or assignee is not UNSET:
        futures += [store.change_inbox_item(i.call.id, who, state=state, assignee=assignee)
                    for i in t.open_items if i.call.id != call_id]
    return sum(int(f.result(WRITE_TIMEOUT)) for f in futures)
