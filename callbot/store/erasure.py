"""The writes data protection needs (:mod:`callbot.privacy`): retention, erasure.

:meth:`Erasure.prunable_calls` and :meth:`Erasure.recordings_of` find what to
prune; :meth:`Erasure.erase_call_content` clears what was said,
:meth:`Erasure.delete_calls` deletes calls whole, and
:meth:`Erasure.delete_list_entries_for_number` really deletes a number's list
entries, history included. Every write keeps foreign keys intact (children
first); every erasing job switches ``secure_delete`` on, so erased text
is overwritten in the file, and :meth:`Erasure.optimize_search` rewrites the
search index so erased words leave no trace in it either.
:meth:`Erasure.truncate_wal` then moves everything into the main file and empties
``<file>-wal``, where the old page versions (with the erased words) would otherwise
stay readable until the next checkpoint.

A number's calls are those with the number as caller (E.164 or as received) and the
withheld calls whose kept evidence (P-Asserted-Identity, ``[calls] keep_withheld_evidence``)
names it. :meth:`Erasure.export_rows` reads every stored column of them losslessly, whatever
bytes they hold (see its docstring).
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from callbot.records import EraseCounts
from callbot.store.base import StoreBase
from callbot.store.connection import connect, reader
from callbot.store.rows import chunks
from callbot.times import format_time

#: Tables with one row per call (``calls``) or per call's child (``call_id``), erased with it.
CALL_TABLES = ("events", "turns", "leads")


def _text(value: bytes) -> str:
    """SQLite TEXT as str, whatever bytes it holds: invalid UTF-8 bytes become lone surrogates
    U+DC80-U+DCFF (Python's ``surrogateescape``), so ``.encode("utf-8", "surrogateescape")``
    gives the stored bytes back."""
    return value.decode("utf-8", "surrogateescape")


def _mentions(evidence: str, variants: Sequence[str]) -> bool:
    """Whether kept withheld evidence names the number (a variant not inside a longer number)."""
    return any(re.search(rf"(?<!\d){re.escape(v)}(?!\d)", evidence) for v in variants if v.strip("+"))


class Erasure(StoreBase):
    """Finding and erasing old or one caller's content."""

    @contextlib.contextmanager
    def _any_bytes_reader(self) -> Iterator[Database]:
        """A reader whose TEXT values never fail to decode (see :func:`_text`)."""
        with reader(self._path) as db:
            db.conn.text_factory = _text
            yield db

    def call_ids_for_number(self, number: str) -> list[int]:
        """Ids of every call of ``number``, ascending: caller number E.164 or as received, or
        named in a withheld call's kept evidence (P-Asserted-Identity)."""
        clause, params = self._number_clause(number)
        variants = self._variants(number)
        likes = " OR ".join("withheld_evidence LIKE ?" for _ in variants)
        with self._any_bytes_reader() as db:
            ids = {r[0] for r in db.execute(f"SELECT id FROM calls WHERE {clause}", params)}
            for call_id, evidence in db.execute(f"SELECT id, withheld_evidence FROM calls WHERE {likes}",
                                                [f"%{v}%" for v in variants]):
                if _mentions(evidence, variants):
                    ids.add(call_id)
        return sorted(ids)

    def list_entry_rows(self, number: str) -> list[dict[str, Any]]:
        """Every column of every 'number' list entry of ``number`` (removed ones too), read like
        :meth:`export_rows`: whatever bytes they hold."""
        variants = self._variants(number)
        marks = ",".join("?" * len(variants))
        with self._any_bytes_reader() as db:
            return list(_dicts(db.execute(
                f"SELECT * FROM list_entries WHERE kind = 'number' AND value IN ({marks}) ORDER BY id", variants)))

    def call_start_times(self, call_ids: Sequence[int]) -> dict[int, str]:
        """``{call id: started_at}`` of those of these calls that have a row."""
        found: dict[int, str] = {}
        with self._any_bytes_reader() as db:
            for chunk in chunks([int(i) for i in call_ids]):
                marks = ",".join("?" * len(chunk))
                found.update(db.execute(f"SELECT id, started_at FROM calls WHERE id IN ({marks})", chunk))
        return found

    def export_rows(self, call_ids: Sequence[int]) -> list[dict[str, Any]]:
        """Every stored column of these calls (ascending by start), each with its ``events``,
        ``turns`` and ``leads`` (every column, in order). Lossless whatever the file holds:
        TEXT that is not valid UTF-8 comes back with each invalid byte as a lone surrogate
        U+DC80-U+DCFF (``surrogateescape``), a BLOB as ``bytes``."""
        ids = [int(i) for i in call_ids]
        calls: dict[int, dict[str, Any]] = {}
        with self._any_bytes_reader() as db:
            for chunk in chunks(ids):
                marks = ",".join("?" * len(chunk))
                for row in _dicts(db.execute(f"SELECT * FROM calls WHERE id IN ({marks})", chunk)):
                    calls[row["id"]] = {**row, **{table: [] for table in CALL_TABLES}}
                for table in CALL_TABLES:
                    order = "seq" if table == "turns" else "id"
                    for row in _dicts(db.execute(f"SELECT * FROM {table} WHERE call_id IN ({marks}) "
                                                 f"ORDER BY call_id, {order}", chunk)):
                        calls[row["call_id"]][table].append(row)
        return sorted(calls.values(), key=lambda c: (str(c["started_at"]), c["id"]))

    def prunable_calls(self, before: datetime, *, after_id: int = 0, limit: int = 500,
                       content_only: bool = True) -> list[int]:
        """Ids (ascending, above ``after_id``) of calls started before ``before``;
        with ``content_only`` just those that still have a transcript, turn text,
        recording or lead text."""
        sql = "SELECT id FROM calls WHERE started_at < ? AND id > ?"
        if content_only:
            sql += (
                " AND (transcript IS NOT NULL OR withheld_evidence IS NOT NULL"
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
        turns.text/recording, leads.text/recording, calls.transcript and the kept withheld
        evidence become NULL. The call rows, events (the decision trail), person and company stay.
        Counts: calls = transcripts cleared, turns/leads = rows cleared."""
        ids = [int(i) for i in call_ids]

        def job(db: Database) -> EraseCounts:
            db.execute("PRAGMA secure_delete = ON")
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
                db.execute(f"UPDATE calls SET withheld_evidence = NULL WHERE id IN ({marks}) "
                           f"AND withheld_evidence IS NOT NULL", chunk)
                counts += EraseCounts(calls=calls, turns=turns, leads=leads)
            return counts

        return self._submit(f"erase_call_content({len(ids)} calls)", job)

    def delete_calls(self, call_ids: Sequence[int]) -> Future[EraseCounts]:
        """Delete these calls with their events, turns, leads and search rows, in one
        transaction, overwriting what they held (``secure_delete``)."""
        ids = [int(i) for i in call_ids]

        def job(db: Database) -> EraseCounts:
            db.execute("PRAGMA secure_delete = ON")
            counts = EraseCounts()
            for chunk in chunks(ids):
                marks = ",".join("?" * len(chunk))
                events = db.execute(f"DELETE FROM events WHERE call_id IN ({marks})", chunk).rowcount
                turns = db.execute(f"DELETE FROM turns WHERE call_id IN ({marks})", chunk).rowcount
                leads = db.execute(f"DELETE FROM leads WHERE call_id IN ({marks})", chunk).rowcount
                calls = db.execute(f"DELETE FROM calls WHERE id IN ({marks})", chunk).rowcount
                db.execute(f"DELETE FROM calls_fts WHERE rowid IN ({marks})", chunk)  # the triggers did; be sure
                counts += EraseCounts(calls=calls, events=events, turns=turns, leads=leads)
            return counts

        return self._submit(f"delete_calls({len(ids)} calls)", job)

    def optimize_search(self) -> Future[None]:
        """Rewrite the search index, so words of erased calls leave no trace in it."""
        def job(db: Database) -> None:
            db.execute("PRAGMA secure_delete = ON")
            db.execute("INSERT INTO calls_fts (calls_fts) VALUES ('optimize')")

        return self._submit("optimize_search", job)

    def truncate_wal(self, attempts: int = 10, pause: float = 0.2, timeout: float = 60.0) -> bool:
        """After an erasure: wait for the queued writes, then copy the write-ahead log into the
        file and empty it (``PRAGMA wal_checkpoint(TRUNCATE)``), so old page versions holding
        erased words do not stay readable in ``<file>-wal``. A reader or writer of another
        process (the bot, the web page) can hold the checkpoint up: it is retried ``attempts``
        times, ``pause`` seconds apart (about 5 s in all). True when the -wal file is empty (or gone)."""
        self._writer.flush(timeout)
        wal = Path(f"{self._path}-wal")
        for attempt in range(attempts):
            if attempt:
                time.sleep(pause)
            try:
                db = connect(self._path)
            except sqlite3.Error:
                continue
            try:
                db.execute("PRAGMA busy_timeout = 300")
                busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error:
                busy = 1
            finally:
                db.close()
            try:
                empty = os.stat(wal).st_size == 0
            except FileNotFoundError:
                empty = True
            if not busy and empty:
                return True
        return False

    def delete_list_entries_for_number(self, number: str) -> Future[int]:
        """Erase (really delete, history included) every 'number' entry of ``number``."""
        variants = self._variants(number)
        marks = ",".join("?" * len(variants))
        return self._submit(
            "delete_list_entries_for_number",
            lambda db: db.execute(f"DELETE FROM list_entries WHERE kind = 'number' AND value IN ({marks})",
                                  variants).rowcount,
        )


def _dicts(cursor: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    for row in cursor:
        yield dict(zip(names, row))
