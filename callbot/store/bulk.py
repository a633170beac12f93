"""Many finished calls in one transaction: :meth:`Bulk.bulk_insert_calls`, for benchmarks and imports.

The bot itself writes calls one by one (:mod:`callbot.store.calls`).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from callbot.errors import StoreError
from callbot.store.base import StoreBase
from callbot.store.migrations import FTS_FILL
from callbot.store.rows import chunks
from callbot.times import format_time

#: Triggers bulk_insert_calls() suspends inside its transaction (it fills the index itself).
_BULK_DEFERRED_TRIGGERS = ("calls_fts_insert", "turns_fts_insert")

#: Columns bulk_insert_calls() accepts for a call (besides the child lists).
_CALL_COLUMNS = (
    "id", "sip_call_id", "started_at", "answered_at", "ended_at", "duration", "outcome", "caller_raw",
    "caller_display", "caller_number", "caller_dialled", "caller_country", "caller_region", "caller_type",
    "caller_description", "caller_valid", "withheld", "withheld_evidence", "number_source",
    "person", "company", "transcript", "label", "label_reasons",
)
_TURN_COLUMNS = ("seq", "speaker", "prompt_id", "field", "text", "started_at", "duration", "confidence",
                 "recording", "end_reason")
_EVENT_COLUMNS = ("at", "kind", "rule", "reason")
_LEAD_COLUMNS = ("turn_seq", "field", "created_at", "text", "recording")


class Bulk(StoreBase):
    """Imports of finished calls, bypassing the per-row search-index triggers."""

    def bulk_insert_calls(self, rows: Iterable[dict[str, Any]]) -> Future[int]:
        """Insert many finished calls in ONE transaction (for benchmarks and imports
        only — the bot uses start_call/finish_call). Each row has calls columns
        (``started_at`` required; times as datetime or ISO strings) and may carry
        ``events``, ``turns`` and ``leads``: lists of dicts with those tables'
        columns (no call_id). ``rows`` may be a generator: it is consumed on the
        writer thread. The search index is kept in sync by the same triggers.
        The future gives the number of calls inserted; on any bad row nothing is.
        Calls without an ``id`` get the next ones of :mod:`callbot.store.callids`
        (so an import is refused while a bot inserts calls into the same file)."""
        columns = _CALL_COLUMNS
        call_sql = f"INSERT INTO calls ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        child_sql = {
            table: f"INSERT INTO {table} (call_id, {', '.join(cols)}) VALUES (?, {', '.join('?' * len(cols))})"
            for table, cols in (("events", _EVENT_COLUMNS), ("turns", _TURN_COLUMNS), ("leads", _LEAD_COLUMNS))
        }
        child_columns = {"events": _EVENT_COLUMNS, "turns": _TURN_COLUMNS, "leads": _LEAD_COLUMNS}

        ids = self._ids()  # the bot's counter: imported calls never take an id a call was given

        def value(v: Any) -> Any:
            return format_time(v) if isinstance(v, datetime) else v

        def job(db: Database) -> int:
            conn = db.conn
            # Fast path: the per-row search-index triggers are dropped inside this
            # transaction and the index rows written once at the end, then the
            # triggers are re-created from their own SQL (a failure rolls all back).
            triggers = conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN (?, ?)",
                _BULK_DEFERRED_TRIGGERS).fetchall()
            for name, _ in triggers:
                conn.execute(f"DROP TRIGGER {name}")
            inserted: list[int] = []
            count = 0
            for row in rows:
                unknown = set(row) - set(columns) - set(child_columns)
                if unknown:
                    raise StoreError(f"bulk_insert_calls: unknown columns {sorted(unknown)} in row {count + 1}")
                if not row.get("started_at"):
                    raise StoreError(f"bulk_insert_calls: row {count + 1} has no started_at")
                record = [value(row.get(c)) for c in columns]
                if row.get("id") is None:
                    record[0] = ids.next()
                else:
                    ids.at_least(int(row["id"]))
                record[columns.index("caller_valid")] = int(bool(row.get("caller_valid")))
                record[columns.index("withheld")] = int(bool(row.get("withheld")))
                call_id = conn.execute(call_sql, record).lastrowid
                inserted.append(call_id)
                for table, cols in child_columns.items():
                    children = row.get(table) or ()
                    if children:
                        conn.executemany(child_sql[table], [[call_id] + [value(c.get(k)) for k in cols]
                                                            for c in children])
                count += 1
            if triggers:
                for chunk in chunks(inserted):
                    conn.execute(FTS_FILL.format(where=f"c.id IN ({','.join('?' * len(chunk))})"), chunk)
                for _, sql in triggers:
                    conn.execute(sql)
            return count

        return self._submit("bulk_insert_calls", job)
