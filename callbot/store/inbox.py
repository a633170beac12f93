"""The store's part for the shared inbox: callback items (state, assignee, notes, due) per call.

A mixin of :class:`callbot.store.store.Store`; its tables come from migration
:mod:`callbot.store.schema_inbox`.

Which calls are open items is decided here, when the inbox is read — nothing is written
on the call path. A finished call needs a person when

* a message was taken (``message_taken``), or the caller was classified ``genuine``
  (and not transferred to a person) — the partial index ``idx_calls_inbox``;
* a cold caller left contact details (a row in ``leads``);
* a transfer to a person was tried and did not end the call as ``transferred``
  (a ``handoff``/``transfer`` event);
* or a person made it an item (any change on any call: ``inbox_items.auto = 0``).

Its state is ``open`` until someone changes it (``inbox_items`` is made on the first change);
``done`` items leave the inbox. Each arm of the query walks an index by call id (newest first:
ids are handed out in the order calls start), SQLite merges them and stops at the page.
The count of open items is made of index counts (see :meth:`Inbox.inbox_open_count`).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from callbot.errors import StoreError
from callbot.records import CallRecord
from callbot.store.base import StoreBase
from callbot.store.rows import call_records, chunks
from callbot.store.schema_inbox import NEEDS_PERSON, TRANSFER_EVENT
from callbot.times import format_time, parse_time

STATES = ("open", "in_progress", "done")
MAX_NOTE = 2000
MAX_PER_PAGE = 200
UNSET: Any = object()  # "not given" (None means "none")

_C_NEEDS = NEEDS_PERSON.replace("outcome", "c.outcome").replace("label", "c.label")
_E_TRANSFER = TRANSFER_EVENT.replace("kind", "e.kind").replace("rule", "e.rule")
_NOT_DONE = "NOT EXISTS (SELECT 1 FROM inbox_items i WHERE i.call_id = {id} AND i.state = 'done')"
#: The open items, every arm ordered by call id (SQLite merges them: MERGE (UNION)).
_OPEN_IDS = f"""
    SELECT id FROM calls INDEXED BY idx_calls_inbox WHERE {NEEDS_PERSON} AND {_NOT_DONE.format(id="calls.id")}
    UNION
    SELECT l.call_id FROM leads l WHERE {_NOT_DONE.format(id="l.call_id")}
      AND EXISTS (SELECT 1 FROM calls c WHERE c.id = l.call_id AND c.outcome IS NOT NULL)
    UNION
    SELECT e.call_id FROM events e INDEXED BY idx_events_transfer WHERE {TRANSFER_EVENT.replace("kind", "e.kind").replace("rule", "e.rule")}
      AND {_NOT_DONE.format(id="e.call_id")}
      AND EXISTS (SELECT 1 FROM calls c WHERE c.id = e.call_id AND c.outcome <> 'transferred')
    UNION
    SELECT call_id FROM inbox_items INDEXED BY idx_inbox_items_made WHERE auto = 0 AND state <> 'done'
    ORDER BY 1 DESC
"""
_MINE_IDS = ("SELECT call_id FROM inbox_items WHERE assignee = ? AND state IN ('open', 'in_progress') "
             "ORDER BY call_id DESC")


@dataclass(frozen=True)
class InboxItem:
    """A call as the inbox sees it: its state (``open`` unless someone changed it) and who has it."""

    call: CallRecord
    state: str = "open"
    assignee: str | None = None
    due_at: str | None = None
    updated_at: str | None = None
    updated_by: str | None = None
    needs_person: bool = False  # an open item by its outcome, a lead or a failed transfer
    purpose: str | None = None  # the caller's purpose in their own words (or the transcript)
    recording: str | None = None  # that answer's recording

    @property
    def in_inbox(self) -> bool:
        return self.state != "done" and (self.needs_person or self.updated_at is not None)


@dataclass(frozen=True)
class InboxChange:
    id: int
    call_id: int
    at: str
    who: str
    field: str  # state / assignee / due / note
    old: str | None
    new: str | None


def needs_person(db: Database, call_id: int) -> bool:
    """Whether call ``call_id`` is an open item by its own data (outcome, label, lead, transfer)."""
    return db.execute(
        f"SELECT EXISTS (SELECT 1 FROM calls WHERE id = :id AND {NEEDS_PERSON}) "
        "OR EXISTS (SELECT 1 FROM leads l JOIN calls c ON c.id = l.call_id WHERE l.call_id = :id "
        "AND c.outcome IS NOT NULL) "
        f"OR EXISTS (SELECT 1 FROM events e JOIN calls c ON c.id = e.call_id WHERE e.call_id = :id "
        f"AND {_E_TRANSFER} AND c.outcome <> 'transferred')",
        {"id": call_id}).fetchone()[0] == 1


def _due(value: datetime | str | None) -> str | None:
    if value is None or value == "":
        return None
    return format_time(parse_time(value) if isinstance(value, str) else value)


class Inbox(StoreBase):
    """Reads and writes of the shared inbox: callback items (state, assignee, notes, due) per call."""

    # -- reads -------------------------------------------------------------------

    def inbox_page(self, *, assignee: str | None = None, page: int = 1,
                   per_page: int = 50) -> list[InboxItem]:
        """One page of open items (``open`` / ``in_progress``), newest call first; ``assignee``:
        only that person's."""
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"page must be at least 1, per_page 1-{MAX_PER_PAGE}")
        sql, params = (_MINE_IDS, [assignee]) if assignee is not None else (_OPEN_IDS, [])
        with self._reader() as db:
            ids = [r[0] for r in db.execute(f"{sql} LIMIT ? OFFSET ?",
                                            params + [per_page, (page - 1) * per_page])]
            return self._items(db, ids)

    def inbox_open_count(self, assignee: str | None = None) -> int:
        """How many items are open or in progress (everyone's, or ``assignee``'s).

        Everyone's is counted from indexes: the calls that need a person, minus the items
        closed (``done``) that needed one, plus the items people made. An item's "needed one"
        (``inbox_items.auto``) is taken when it last changed."""
        with self._reader() as db:
            if assignee is not None:
                return db.execute("SELECT count(*) FROM inbox_items WHERE assignee = ? "
                                  "AND state IN ('open', 'in_progress')", [assignee]).fetchone()[0]
            by_row = db.execute(f"SELECT count(*) FROM calls INDEXED BY idx_calls_inbox WHERE {NEEDS_PERSON}").fetchone()[0]
            leads = db.execute(
                f"SELECT count(*) FROM (SELECT DISTINCT l.call_id FROM leads l JOIN calls c ON c.id = l.call_id "
                f"WHERE c.outcome IS NOT NULL AND NOT coalesce({_C_NEEDS}, 0))"
            ).fetchone()[0]
            transfers = db.execute(
                f"SELECT count(*) FROM (SELECT DISTINCT e.call_id FROM events e JOIN calls c ON c.id = e.call_id "
                f"WHERE e.kind = 'handoff' AND e.rule = 'transfer' AND c.outcome <> 'transferred' "
                f"AND NOT coalesce({_C_NEEDS}, 0) "
                f"AND NOT EXISTS (SELECT 1 FROM leads l WHERE l.call_id = e.call_id))").fetchone()[0]
            done = db.execute("SELECT count(*) FROM inbox_items WHERE state = 'done' AND auto = 1").fetchone()[0]
            made = db.execute("SELECT count(*) FROM inbox_items WHERE state <> 'done' AND auto = 0").fetchone()[0]
            return max(0, by_row + leads + transfers - done) + made

    def inbox_items(self, call_ids: Sequence[int]) -> dict[int, InboxItem]:
        """The inbox's view of these calls (any calls, open items or not), by call id."""
        with self._reader() as db:
            return {item.call.id: item for item in self._items(db, list(call_ids))}

    def inbox_history(self, call_ids: Sequence[int]) -> list[InboxChange]:
        """Every inbox change of these calls, oldest first."""
        out: list[InboxChange] = []
        with self._reader() as db:
            for chunk in chunks(list(call_ids)):
                marks = ",".join("?" * len(chunk))
                out += [InboxChange(r["id"], r["call_id"], r["at"], r["who"], r["field"], r["old"], r["new"])
                        for r in db.query(f"SELECT * FROM inbox_history WHERE call_id IN ({marks})", chunk)]
        return sorted(out, key=lambda c: c.id)

    def _items(self, db: Database, ids: list[int]) -> list[InboxItem]:
        if not ids:
            return []
        rows: dict[int, dict] = {}
        state: dict[int, dict] = {}
        turns: dict[int, list[dict]] = {}
        needs: dict[int, bool] = {}
        for chunk in chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows.update((r["id"], r) for r in db.query(f"SELECT * FROM calls WHERE id IN ({marks})", chunk))
            state.update((r["call_id"], r) for r in db.query(
                f"SELECT * FROM inbox_items WHERE call_id IN ({marks})", chunk))
            for t in db.query(f"SELECT call_id, field, text, recording FROM turns WHERE speaker = 'caller' "
                              f"AND call_id IN ({marks}) ORDER BY call_id, seq", chunk):
                turns.setdefault(t["call_id"], []).append(t)
        records = {r.id: r for r in call_records(db, [rows[i] for i in ids if i in rows])}
        for call_id in records:
            needs[call_id] = needs_person(db, call_id)
        items = []
        for call_id in ids:
            record = records.get(call_id)
            if record is None:
                continue
            purpose, recording = _purpose(turns.get(call_id, []), record)
            s = state.get(call_id) or {}
            items.append(InboxItem(call=record, state=s.get("state", "open"), assignee=s.get("assignee"),
                                   due_at=s.get("due_at"), updated_at=s.get("updated_at"),
                                   updated_by=s.get("updated_by"), needs_person=needs[call_id],
                                   purpose=purpose, recording=recording))
        return items

    # -- writes ------------------------------------------------------------------

    def change_inbox_item(self, call_id: int, who: str, *, state: str = UNSET, assignee: str | None = UNSET,
                          due_at: datetime | str | None = UNSET, note: str | None = None) -> Future[int]:
        """Change the item of call ``call_id`` (made on the first change): its state, assignee
        (None: nobody), due time (None: none) and/or add a note; every change goes into the
        history with ``who`` and when. The future gives how many changes were recorded (0:
        nothing was different); it fails with StoreError for a call that does not exist."""
        if state is not UNSET and state not in STATES:
            raise ValueError(f"unknown state {state!r}; expected one of {', '.join(STATES)}")
        if due_at is not UNSET:
            due_at = _due(due_at)
        if assignee is not UNSET and assignee is not None:
            assignee = assignee.strip() or None
        note = " ".join(note.split()) if isinstance(note, str) else None
        if note and len(note) > MAX_NOTE:
            raise ValueError(f"the note is too long (at most {MAX_NOTE} characters)")
        if not who:
            raise ValueError("who made the change?")
        at = self._now()
        wanted = {"state": state, "assignee": assignee, "due_at": due_at}

        def job(db: Database) -> int:
            if db.execute("SELECT 1 FROM calls WHERE id = ?", [call_id]).fetchone() is None:
                raise StoreError(f"there is no call {call_id}")
            row = db.execute("SELECT state, assignee, due_at FROM inbox_items WHERE call_id = ?",
                             [call_id]).fetchone()
            old = dict(zip(("state", "assignee", "due_at"), row)) if row else \
                {"state": "open", "assignee": None, "due_at": None}
            new = dict(old)
            history = []
            for column, value in wanted.items():
                if value is not UNSET and value != old[column]:
                    history.append(("due" if column == "due_at" else column, old[column], value))
                    new[column] = value
            if note:
                history.append(("note", None, note))
            if not history:
                return 0
            auto = int(needs_person(db, call_id))
            db.execute("INSERT INTO inbox_items (call_id, state, assignee, due_at, auto, created_at, updated_at, "
                       "updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (call_id) DO UPDATE SET "
                       "state = excluded.state, assignee = excluded.assignee, due_at = excluded.due_at, "
                       "auto = excluded.auto, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                       [call_id, new["state"], new["assignee"], new["due_at"], auto, at, at, who])
            db.conn.executemany("INSERT INTO inbox_history (call_id, at, who, field, old, new) VALUES (?, ?, ?, ?, ?, ?)",
                           [(call_id, at, who, field, o, n) for field, o, n in history])
            return len(history)

        return self._submit(f"change_inbox_item({call_id})", job)


def _purpose(turns: list[dict], record: CallRecord) -> tuple[str | None, str | None]:
    """The caller's purpose in one line (their answer to "what is it about?", else the first
    answer with words, else the transcript) and the recording of that answer."""
    chosen = next((t for t in turns if (t["field"] or "").startswith("purpose") and t["text"]), None) \
        or next((t for t in turns if t["text"]), None)
    recording = (chosen or {}).get("recording") or next((t["recording"] for t in turns if t["recording"]), None)
    text = chosen["text"] if chosen else (record.transcript or None)
    if text:
        text = " ".join(text.split())
    return text, recording
