"""The caller lists in the call log: ``list_entries`` writes and reads, suggested blocks.

The matching rules are in :mod:`callbot.lists`; values are normalised and
checked with :mod:`callbot.numbers` on the caller's thread, so a bad value
raises :class:`callbot.numbers.ListEntryError` (a ValueError and a
CallbotError) at once. Entries are never updated in place except to confirm a
suggestion; a removed entry keeps its row (``removed_at``) as history.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from callbot import numbers
from callbot.errors import StoreError
from callbot.records import ListEntry
from callbot.store.base import SYNC_TIMEOUT, StoreBase
from callbot.store.rows import entry_from_row
from callbot.times import format_time, parse_time


#: The entries that take part in matching at ``?`` (now), oldest first.
ACTIVE_SQL = ("SELECT * FROM list_entries WHERE removed_at IS NULL AND confirmed = 1 "
              "AND (expires_at IS NULL OR expires_at > ?) ORDER BY id")


def active_entries(db: Database, now: str) -> list[ListEntry]:
    return [entry_from_row(row) for row in db.query(ACTIVE_SQL, [now])]


def list_generation(db: Database) -> int:
    return int(db.execute("SELECT n FROM list_generation WHERE id = 1").fetchone()[0])


def snapshot(db: Database, now: str, known: int | None) -> tuple[int, list[ListEntry] | None]:
    """(generation, active entries or None when the generation is still ``known``), consistent."""
    db.execute("BEGIN")  # one read transaction: the entries belong to the generation
    try:
        generation = list_generation(db)
        return generation, None if generation == known else active_entries(db, now)
    finally:
        db.execute("COMMIT")


class Lists(StoreBase):
    """Allow and block entries by number, number range or display name."""

    def _list_record(self, list: str, kind: str, value: str, reason: str, source: str,
                     created_by: str | None, expires_at: datetime | str | None, confirmed: bool) -> dict[str, Any]:
        if list not in numbers.LISTS:
            raise numbers.ListEntryError(f"unknown list {list!r}; expected 'allow' or 'block'")
        if kind not in numbers.KINDS:
            raise numbers.ListEntryError(f"unknown kind of list entry {kind!r}; expected one of {', '.join(numbers.KINDS)}")
        if source not in numbers.SOURCES:
            raise numbers.ListEntryError(f"unknown source {source!r}; expected one of {', '.join(numbers.SOURCES)}")
        if not isinstance(reason, str) or not reason.strip():
            raise numbers.ListEntryError("a reason is required: nothing is allowed or blocked without one")
        if isinstance(expires_at, str):
            expires_at = parse_time(expires_at)
        return {
            "list": list,
            "kind": kind,
            "value": numbers.normalise_value(kind, value, self.default_region),
            "reason": " ".join(reason.split()),
            "source": source,
            "created_at": self._now(),
            "created_by": (created_by or "").strip() or None,
            "expires_at": format_time(expires_at) if expires_at is not None else None,
            "confirmed": int(bool(confirmed)),
            "removed_at": None,
        }

    @staticmethod
    def _same_entries(db: Database, kind: str, value: str, now: str) -> list[dict[str, Any]]:
        """Current (not removed, not expired) entries of this kind and value, on either list."""
        rows = db.query(
            "SELECT * FROM list_entries WHERE kind = ? AND removed_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > ?)" + ("" if kind == "name" else " AND value = ?"),
            [kind, now] + ([] if kind == "name" else [value]),
        )
        if kind == "name":
            return [r for r in rows if r["value"].casefold() == value.casefold()]
        return list(rows)

    @classmethod
    def _insert_entry(cls, db: Database, record: dict[str, Any]) -> int:
        same = cls._same_entries(db, record["kind"], record["value"], record["created_at"])
        if record["source"] == "suggested" and same:
            return int(same[0]["id"])  # never let a suggestion replace the owner's own entry
        for row in same:  # the newest decision about a value wins; the old row stays as history
            db.execute("UPDATE list_entries SET removed_at = ? WHERE id = ?", [record["created_at"], row["id"]])
        return int(db["list_entries"].insert(record).last_pk)

    def add_list_entry(
        self,
        list: str,
        kind: str,
        value: str,
        reason: str,
        source: str = "manual",
        created_by: str | None = None,
        expires_at: datetime | str | None = None,
        confirmed: bool = True,
    ) -> Future[int]:
        """Put ``value`` on the allow or block ``list``; the future gives the entry's id.

        ``kind``: 'number' (normalised to E.164 with ``default_region``),
        'prefix' ('030123*' → '+4930123*') or 'name' (pattern, ``*`` = any
        text). ``reason`` is required. A current entry with the same kind and
        value (on either list) is replaced: it is marked removed and kept as
        history. A *suggested* entry never replaces one; it then gives the
        existing entry's id instead.
        """
        record = self._list_record(list, kind, value, reason, source, created_by, expires_at, confirmed)
        return self._submit(f"add_list_entry({list}, {kind}, {record['value']!r})",
                            lambda db: self._insert_entry(db, record))

    def add_list_entries(self, entries: Iterable[dict[str, Any]]) -> Future[list[int]]:
        """Several :meth:`add_list_entry` calls (dicts of its keyword arguments)
        in ONE transaction, e.g. a contacts import. Every entry is checked first."""
        records = [
            self._list_record(e["list"], e["kind"], e["value"], e["reason"], e.get("source", "manual"),
                              e.get("created_by"), e.get("expires_at"), e.get("confirmed", True))
            for e in entries
        ]
        return self._submit(f"add_list_entries({len(records)})",
                            lambda db: [self._insert_entry(db, r) for r in records])

    def remove_list_entry(self, target: int | tuple[str, str]) -> Future[int]:
        """Remove (soft-delete) an entry by id, or every current entry ``(list, value)``
        (the kind follows from the value, see :func:`callbot.numbers.guess_kind`).
        The future gives how many entries were removed (0: nothing current matched)."""
        at = self._now()
        if isinstance(target, int) and not isinstance(target, bool):
            entry_id = target

            def by_id(db: Database) -> int:
                if not db.execute("SELECT 1 FROM list_entries WHERE id = ?", [entry_id]).fetchone():
                    raise StoreError(f"no list entry with id {entry_id}")
                return db.execute("UPDATE list_entries SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
                                  [at, entry_id]).rowcount

            return self._submit(f"remove_list_entry({entry_id})", by_id)
        which, value = target
        if which not in numbers.LISTS:
            raise numbers.ListEntryError(f"unknown list {which!r}; expected 'allow' or 'block'")
        kind = numbers.guess_kind(value)
        value = numbers.normalise_value(kind, value, self.default_region)

        def by_value(db: Database) -> int:
            rows = [r for r in self._same_entries(db, kind, value, at) if r["list"] == which]
            for row in rows:
                db.execute("UPDATE list_entries SET removed_at = ? WHERE id = ?", [at, row["id"]])
            return len(rows)

        return self._submit(f"remove_list_entry({which}, {value!r})", by_value)

    def confirm_list_entry(self, entry_id: int) -> Future[None]:
        """Accept a suggested entry: from now on it matches (and blocks)."""

        def job(db: Database) -> None:
            row = db.execute("SELECT removed_at FROM list_entries WHERE id = ?", [entry_id]).fetchone()
            if row is None:
                raise StoreError(f"no list entry with id {entry_id}")
            if row[0] is not None:
                raise StoreError(f"list entry {entry_id} was removed; add the number again instead")
            db.execute("UPDATE list_entries SET confirmed = 1 WHERE id = ?", [entry_id])

        return self._submit(f"confirm_list_entry({entry_id})", job)

    def list_entries(self, include_removed: bool = False, include_expired: bool = False) -> list[ListEntry]:
        """Entries in the order they were added; unconfirmed suggestions included."""
        where, params = [], []
        if not include_removed:
            where.append("removed_at IS NULL")
        if not include_expired:
            where.append("(expires_at IS NULL OR expires_at > ?)")
            params.append(self._now())
        sql = "SELECT * FROM list_entries" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        with self._reader() as db:
            return [entry_from_row(row) for row in db.query(sql, params)]

    def active_list_entries(self) -> list[ListEntry]:
        """The entries that take part in matching now (confirmed, not removed, not
        expired; :func:`callbot.lists.match` checks the expiry again at call time).
        The running bot matches against :mod:`callbot.store.listindex` instead."""
        with self._reader() as db:
            return active_entries(db, self._now())

    def list_snapshot(self, known: int | None = None) -> tuple[int, list[ListEntry] | None]:
        """The lists' generation (raised on every change, by any process) and, when it
        differs from ``known``, the active entries — both read in one transaction."""
        with self._reader() as db:
            return snapshot(db, self._now(), known)

    def list_entry(self, entry_id: int) -> ListEntry | None:
        with self._reader() as db:
            rows = list(db.query("SELECT * FROM list_entries WHERE id = ?", [entry_id]))
            return entry_from_row(rows[0]) if rows else None

    def list_entries_for_number(self, number: str) -> list[ListEntry]:
        """Every 'number' entry of ``number`` (E.164 or as typed), removed ones included."""
        variants = self._variants(number)
        marks = ",".join("?" * len(variants))
        with self._reader() as db:
            return [
                entry_from_row(row)
                for row in db.query(
                    f"SELECT * FROM list_entries WHERE kind = 'number' AND value IN ({marks}) ORDER BY id", variants
                )
            ]

    def suggest_blocks(self, min_cold_calls: int = 2) -> list[ListEntry]:
        """Suggest blocking numbers classified ``cold_call`` in at least
        ``min_cold_calls`` calls that no current entry covers (number or range,
        either list) and whose suggestion the owner has not declined before.

        Synchronous. Adds them as unconfirmed 'suggested' block entries (they
        block nothing until ``confirm_list_entry``) and returns the new ones;
        running it again adds nothing new.
        """
        if min_cold_calls < 1:
            raise ValueError("min_cold_calls must be at least 1")
        now_dt = self._clock()
        now = format_time(now_dt)

        def job(db: Database) -> list[int]:
            active = [
                entry_from_row(r) for r in db.query(
                    "SELECT * FROM list_entries WHERE removed_at IS NULL AND confirmed = 1 "
                    "AND (expires_at IS NULL OR expires_at > ?) AND kind IN ('number', 'prefix')", [now])
            ]
            candidates = db.execute(
                "SELECT caller_number FROM calls WHERE label = 'cold_call' AND caller_number LIKE '+%' "
                "GROUP BY caller_number HAVING count(*) >= ? ORDER BY min(id)", [min_cold_calls]
            ).fetchall()
            added: list[int] = []
            for (number,) in candidates:
                if any(numbers.covers(e.kind, e.value, number) for e in active):
                    continue
                taken = db.execute(
                    "SELECT 1 FROM list_entries WHERE kind = 'number' AND value = ? AND ("
                    "(removed_at IS NULL AND (expires_at IS NULL OR expires_at > ?)) "
                    "OR (source = 'suggested' AND removed_at IS NOT NULL))", [number, now]
                ).fetchone()
                if taken:
                    continue
                ids = [r[0] for r in db.execute(
                    "SELECT id FROM calls WHERE label = 'cold_call' AND caller_number = ? ORDER BY id", [number])]
                shown = ", ".join(map(str, ids[:10])) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
                added.append(int(db["list_entries"].insert({
                    "list": "block", "kind": "number", "value": number,
                    "reason": f"classified as cold call in calls {shown}", "source": "suggested",
                    "created_at": now, "created_by": None, "expires_at": None, "confirmed": 0, "removed_at": None,
                }).last_pk))
            return added

        ids = self._submit("suggest_blocks", job).result(SYNC_TIMEOUT)
        if not ids:
            return []
        with self._reader() as db:
            marks = ",".join("?" * len(ids))
            return [entry_from_row(r) for r in db.query(f"SELECT * FROM list_entries WHERE id IN ({marks}) "
                                                        "ORDER BY id", ids)]
