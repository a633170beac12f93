"""Caller lists: who is allowed through, who is blocked, and why — the matching rules.

Pure logic, no SQLite (the entries live in the call log, see
:meth:`callbot.store.lists.Lists.add_list_entry`):

* :func:`match`: which entry, if any, applies to a caller,
* :func:`describe`: an entry in one line, for the CLI, the web pages and the call log.

What the owner types is normalised in :mod:`callbot.numbers` (``030 123456`` →
``+4930123456``, ``030123*`` → ``+4930123*``, name patterns); contacts exports
are read and an import planned in :mod:`callbot.contacts`.

Kinds of entries
----------------
``number``  an exact E.164 number, ``+4930123456``.
``prefix``  a number range, stored with its trailing star: ``+4930123*``.
``name``    a case-insensitive pattern on the caller's display name; ``*``
            stands for any text (``*Energie*``); without a star the whole
            name must match.

Precedence (:func:`match`)
--------------------------
Only *active* entries take part: not removed, not expired, and confirmed
(suggested entries never block until the owner accepts them).

1. The most specific entry wins: an exact number beats any prefix, a longer
   prefix beats a shorter one, and any number or prefix beats a name
   pattern (display names are chosen by the caller, numbers much less so).
2. At the same specificity, ``allow`` beats ``block``.
3. Between entries that are still equal the newest one is reported.

So an owner can block a whole range and still allow one number in it, or
allow a company's range and block one annoying extension of it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from callbot.records import ListEntry
from callbot.times import parse_time


@dataclass(frozen=True)
class ListMatch:
    """The entry that decides a caller's treatment, and why (for the call log)."""

    entry: ListEntry
    reason: str

    @property
    def list(self) -> str:
        return self.entry.list


@functools.lru_cache(maxsize=1024)
def _name_regex(pattern: str) -> re.Pattern[str]:
    parts = (re.escape(part) for part in " ".join(pattern.casefold().split()).split("*"))
    return re.compile(".*".join(parts), re.DOTALL)


def name_matches(pattern: str, display: str | None) -> bool:
    """Case-insensitive match of a name pattern (``*`` = any text) on a whole display name."""
    if not display or not display.strip():
        return False
    return _name_regex(pattern).fullmatch(" ".join(display.casefold().split())) is not None


def _active(entry: ListEntry, now: datetime) -> bool:
    if entry.removed_at is not None or not entry.confirmed:
        return False
    return entry.expires_at is None or parse_time(entry.expires_at) > now


def match(
    entries: Iterable[ListEntry], e164: str | None, display: str | None, now: datetime | None = None
) -> ListMatch | None:
    """The entry that applies to a caller with number ``e164`` and display name
    ``display`` at ``now`` (default: the current time), or None. See the
    module docstring for the precedence."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    number = (e164 or "").strip() or None
    best: ListEntry | None = None
    best_key: tuple[int, int, int, int] | None = None
    for entry in entries:
        if entry.kind == "number":
            hit, specificity = number is not None and entry.value == number, (3, 0)
        elif entry.kind == "prefix":
            prefix = entry.value.rstrip("*")
            hit, specificity = number is not None and number.startswith(prefix), (2, len(prefix))
        elif entry.kind == "name":
            hit, specificity = name_matches(entry.value, display), (1, 0)
        else:
            continue
        if not hit or not _active(entry, now):
            continue
        key = (*specificity, 1 if entry.list == "allow" else 0, entry.id)
        if best_key is None or key > best_key:
            best, best_key = entry, key
    if best is None:
        return None
    return ListMatch(best, describe(best))


def _local_until(iso: str) -> str:
    moment = parse_time(iso).astimezone()
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M")


def describe(entry: ListEntry) -> str:
    """``block: prefix +4930123* — 'Energie-Drückerkolonne' (manual, by anna, until 2027-01-01)``."""
    what = f'name "{entry.value}"' if entry.kind == "name" else f"{entry.kind} {entry.value}"
    details = [entry.source]
    if entry.created_by:
        details.append(f"by {entry.created_by}")
    if entry.expires_at:
        details.append(f"until {_local_until(entry.expires_at)}")
    if not entry.confirmed:
        details.append("not confirmed")
    return f"{entry.list}: {what} — '{entry.reason}' ({', '.join(details)})"


def entries_for_value(entries: Sequence[ListEntry], kind: str, value: str) -> list[ListEntry]:
    """Entries with this kind and (normalised) value; names compare case-insensitively."""
    if kind == "name":
        key = value.casefold()
        return [e for e in entries if e.kind == "name" and e.value.casefold() == key]
    return [e for e in entries if e.kind == kind and e.value == value]
