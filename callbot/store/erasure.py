"""The writes data protection needs (:mod:`callbot.privacy`): retention, erasure.

:meth:`Erasure.prunable_calls` and :meth:`Erasure.recordings_of` find what to
prune; :meth:`Erasure.erase_call_content` clears what was said,
:meth:`Erasure.delete_calls` deletes calls whole, and
:meth:`Erasure.delete_list_entries_for_number` really deletes a number's list
entries, history included. Every write keeps foreign keys intact (children
first); the writer connection runs with ``secure_delete`` on, so erased text
is overwritten in the file, and :meth:`Erasure.optimize_search` rewrites the
search index so erased words leave no trace in it either.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from datetime import datetime

from sqlite_utils import Database

from callbot.records import EraseCounts
from callbot.store.base import StoreBase
from callbot.store.rows import chunks
from callbot.times import format_time


class Erasure(StoreBase):
    """Finding and erasing old or one caller's content."""

    def call_ids_for_number(self, number: str) -> list[int]:
        """Ids of every call of ``number`` (E.164 or as received), ascending."""
        clause, params = self._number_clause(number)
        with self._reader() as db:
            return [r[0] for r in db.execute(f"SELECT id FROM calls WHERE {clause} ORDER BY id", params)]

    def prunable_calls(self, before: datetime, *, after_id: int = 0, limit: int = 500,
                       content_only: bool = True) -> list[int]:
        """Ids (ascending, above ``after_id``) of calls started before ``before``;
        with ``content_only`` just those that still have a transcript, turn text,
        recording or lead text."""
        sql = "SELECT id FROM calls WHERE started_at < ? AND id > ?"
        if content_only:
            sql += (
                " AND (transcript IS NOT NULL"
                " OR EXISTS (SELECT 1 FROM turns t WHERE t.call_id = calls.id"
                "            AND (t.text IS NOT NULL OR t.recording IS NOT NULL))"
                " OR EXISTS (SELECT 1 FROM leads l WHERE l.call_id = calls.id"
                "            AND (l.text IS NOT NULL OR l.recording IS NOT NULL)))"
            )
        sql += " ORDER BY id LIMIT ?"
        with self._reader() as db:
            return [r[0] for r in db.execute(sql, [format_time(before), after_id, int(limit)])]

    def recordings_of(self, call_ids: Sequence[int]) -> list[tuple[int, str]]:
        """``(call id, recording path)`` of these calls' turns and leads, each path once;
        paths are relative to the recordings directory."""
        found: dict[str, int] = {}
        with self._reader() as db:
            for chunk in chunks(list(call_ids)):
                marks = ",".join("?" * len(chunk))
                for table in ("turns", "leads"):
                    for call_id, path in db.execute(
                        f"SELECT call_id, recording FROM {table} WHERE call_id IN ({marks}) "
                        f"AND recording IS NOT NULL ORDER BY call_id, id", chunk
                    ):
                        found.setdefault(path, call_id)
        return [(call_id, path) for path, call_id in found.items()]

    def erase_call_content(self, call_ids: Sequence[int]) -> Future[EraseCounts]:
        """Clear what was said and recorded in these calls, in one transaction:
        turns.text/recording, leads.text/recording and calls.transcript become NULL.
        The call rows, events (the decision trail), person and company stay.
        Counts: calls = transcripts cleared, turns/leads = rows cleared."""
        ids = [int(i) for i in call_ids]

        def job(db: Database) -> EraseCounts:
            counts = EraseCounts()
            for chunk in chunks(ids):
                marks = ",".join("?" * len(chunk))
                turns = db.execute(
                    f"UPDATE turns SET text = NULL, recording = NULL WHERE call_id IN ({marks}) "
                    f"AND (text IS NOT NULL OR recording IS NOT NULL)", chunk).rowcount
                leads = db.execute(
                    f"UPDATE leads SET text = NULL, recording = NULL WHERE call_id IN ({marks}) "
                    f"AND (text IS NOT NULL OR recording IS NOT NULL)", chunk).rowcount
                calls = db.execute(
                    f"UPDATE calls SET transcript = NULL WHERE id IN ({marks}) AND transcript IS NOT NULL",
                    chunk).rowcount
                counts += EraseCounts(calls=calls, turns=turns, leads=leads)
            return counts

        return self._submit(f"erase_call_content({len(ids)} calls)", job)

    def delete_calls(self, call_ids: Sequence[int]) -> Future[EraseCounts]:
        """Delete these calls with their events, turns and leads, in one transaction."""
        ids = [int(i) for i in call_ids]

        def job(db: Database) -> EraseCounts:
            counts = EraseCounts()
            for chunk in chunks(ids):
                marks = ",".join("?" * len(chunk))
                events = db.execute(f"DELETE FROM events WHERE call_id IN ({marks})", chunk).rowcount
                turns = db.execute(f"DELETE FROM turns WHERE call_id IN ({marks})", chunk).rowcount
                leads = db.execute(f"DELETE FROM leads WHERE call_id IN ({marks})", chunk).rowcount
                calls = db.execute(f"DELETE FROM calls WHERE id IN ({marks})", chunk).rowcount
                counts += EraseCounts(calls=calls, events=events, turns=turns, leads=leads)
            return counts

        return self._submit(f"delete_calls({len(ids)} calls)", job)

    def optimize_search(self) -> Future[None]:
        """Rewrite the search index, so words of erased calls leave no trace in it."""
        return self._submit("optimize_search",
                            lambda db: db.execute("INSERT INTO calls_fts (calls_fts) VALUES ('optimize')"))

    def delete_list_entries_for_number(self, number: str) -> Future[int]:
        """Erase (really delete, history included) every 'number' entry of ``number``."""
        variants = self._variants(number)
        marks = ",".join("?" * len(variants))
        return self._submit(
            "delete_list_entries_for_number",
            lambda db: db.execute(f"DELETE FROM list_entries WHERE kind = 'number' AND value IN ({marks})",
                                  variants).rowcount,
        )
