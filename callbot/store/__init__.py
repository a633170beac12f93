"""The call log: a SQLite database of calls and their events.

This is the only module in callbot that touches SQLite. The file is plain
tables with foreign keys (no blobs, no JSON columns), so Datasette or the
``sqlite3`` shell can read it as is.

Threading model
---------------
* Writes never run on the caller's thread. Every write method puts a job on a
  queue and returns a :class:`concurrent.futures.Future` at once; ONE writer
  thread, owning its own connection, applies the jobs in order, each in its
  own ``BEGIN IMMEDIATE`` transaction. A failing job sets the future's
  exception (a :class:`StoreError`) and is logged on ``callbot.store``; the
  writer thread carries on with the next job.
* Reads open a short-lived, query-only connection per call, so CLI and web
  readers never share the writer's connection (WAL lets them read while the
  writer writes).
* Timestamps are taken on the caller's thread when a write method is called,
  not when the writer gets round to the job.

Times are ISO-8601 UTC strings with milliseconds: ``2026-11-22T14:35:01.123Z``.

Besides the calls themselves the file holds
* the caller lists (``list_entries``; the matching rules are in
  :mod:`callbot.lists`): :meth:`Store.add_list_entry`,
  :meth:`Store.active_list_entries`, :meth:`Store.suggest_blocks` …;
* a full-text index ``calls_fts`` (transcript, caller turns, person, company,
  shown name; one row per call, rowid = call id) kept in sync by triggers,
  for :meth:`Store.search_calls` and :meth:`Store.caller_timeline`;
* the writes data protection needs (:mod:`callbot.privacy`):
  :meth:`Store.erase_call_content`, :meth:`Store.delete_calls`,
  :meth:`Store.delete_list_entries_for_number`. The writer connection runs
  with ``secure_delete`` on, so erased text is overwritten in the file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from sqlite_utils.db import NotFoundError

from callbot import numbers
from callbot.errors import StoreError
from callbot.outcome import OUTCOMES, Outcome
from callbot.records import (
    SCREENING_FIELDS, CallerFields, CallRecord, EraseCounts, Event, Lead, ListEntry, Turn, TurnFields,
)
from callbot.times import format_time, parse_time, utc_now

log = logging.getLogger("callbot.store")

RESTART_RULE = "restart"
RESTART_REASON = "bot restarted; call was open when it stopped"

# Seconds a connection waits for another connection's write lock.
_BUSY_TIMEOUT = 30.0
# How long finalize_interrupted() waits for the writer.
_SYNC_TIMEOUT = 60.0


# --------------------------------------------------------------------------
# Migrations


def _m0001(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sip_call_id TEXT,
            started_at TEXT NOT NULL,
            answered_at TEXT,
            ended_at TEXT,
            duration REAL,
            outcome TEXT,
            caller_raw TEXT,
            caller_display TEXT,
            caller_number TEXT,
            caller_dialled TEXT,
            caller_country INTEGER,
            caller_region TEXT,
            caller_type TEXT,
            caller_description TEXT,
            caller_valid INTEGER,
            withheld INTEGER NOT NULL DEFAULT 0,
            withheld_evidence TEXT,
            number_source TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            call_id INTEGER NOT NULL REFERENCES calls(id),
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            rule TEXT,
            reason TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_calls_started_at ON calls(started_at)")
    db.execute("CREATE INDEX idx_calls_caller_number ON calls(caller_number)")
    db.execute("CREATE INDEX idx_calls_outcome ON calls(outcome)")
    db.execute("CREATE INDEX idx_events_call_id ON events(call_id)")


def _m0002(db: Database) -> None:
    """What the caller said: per-turn transcripts/recordings, and per-call results."""
    for column in ("person", "company", "transcript", "label", "label_reasons"):
        db.execute(f"ALTER TABLE calls ADD COLUMN {column} TEXT")
    db.execute(
        """
        CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            call_id INTEGER NOT NULL REFERENCES calls(id),
            seq INTEGER NOT NULL,
            speaker TEXT NOT NULL,
            prompt_id TEXT,
            field TEXT,
            text TEXT,
            started_at TEXT NOT NULL,
            duration REAL,
            confidence REAL,
            recording TEXT,
            end_reason TEXT,
            UNIQUE (call_id, seq)
        )
        """
    )
    db.execute("CREATE INDEX idx_turns_call_id ON turns(call_id)")


def _m0003(db: Database) -> None:
    """Leads: contact details a cold caller gave in reply to the counter-offer."""
    db.execute(
        """
        CREATE TABLE leads (
            id INTEGER PRIMARY KEY,
            call_id INTEGER NOT NULL REFERENCES calls(id),
            turn_seq INTEGER NOT NULL,
            field TEXT NOT NULL,
            created_at TEXT NOT NULL,
            text TEXT,
            recording TEXT,
            UNIQUE (call_id, turn_seq)
        )
        """
    )
    db.execute("CREATE INDEX idx_leads_created_at ON leads(created_at)")


def _m0004(db: Database) -> None:
    """Caller lists: allow/block entries by number, number range or display name.

    Entries are never updated in place except to confirm a suggestion; a
    removed entry keeps its row (``removed_at``) so the history stays.
    """
    db.execute(
        """
        CREATE TABLE list_entries (
            id INTEGER PRIMARY KEY,
            list TEXT NOT NULL CHECK (list IN ('allow', 'block')),
            kind TEXT NOT NULL CHECK (kind IN ('number', 'prefix', 'name')),
            value TEXT NOT NULL,
            reason TEXT NOT NULL CHECK (trim(reason) <> ''),
            source TEXT NOT NULL DEFAULT 'manual' CHECK (source IN ('manual', 'imported', 'suggested')),
            created_at TEXT NOT NULL,
            created_by TEXT,
            expires_at TEXT,
            confirmed INTEGER NOT NULL DEFAULT 1,
            removed_at TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_list_entries_list_kind_value ON list_entries(list, kind, value)")
    db.execute("CREATE INDEX idx_list_entries_value ON list_entries(value)")


#: Rebuild the search row of call ``{id}`` (an SQL expression) from the call and its caller turns.
_FTS_REFRESH = """
    DELETE FROM calls_fts WHERE rowid = {id};
    INSERT INTO calls_fts (rowid, transcript, person, company, caller_display, turns)
    SELECT id, transcript, person, company, caller_display, turns FROM (
        SELECT c.id AS id, c.transcript AS transcript, c.person AS person, c.company AS company,
               c.caller_display AS caller_display,
               (SELECT group_concat(t.text, ' ') FROM turns t
                 WHERE t.call_id = c.id AND t.speaker = 'caller' AND t.text IS NOT NULL) AS turns
          FROM calls c WHERE c.id = {id}
    ) WHERE coalesce(transcript, person, company, caller_display, turns) IS NOT NULL;
"""


#: Write the search rows of the calls matching ``{where}`` (alias ``c``); they must have none yet.
_FTS_FILL = """
    INSERT INTO calls_fts (rowid, transcript, person, company, caller_display, turns)
    SELECT id, transcript, person, company, caller_display, turns FROM (
        SELECT c.id AS id, c.transcript AS transcript, c.person AS person, c.company AS company,
               c.caller_display AS caller_display,
               (SELECT group_concat(t.text, ' ') FROM turns t
                 WHERE t.call_id = c.id AND t.speaker = 'caller' AND t.text IS NOT NULL) AS turns
          FROM calls c WHERE {where}
    ) WHERE coalesce(transcript, person, company, caller_display, turns) IS NOT NULL
"""
#: Triggers bulk_insert_calls() suspends inside its transaction (it fills the index itself).
_BULK_DEFERRED_TRIGGERS = ("calls_fts_insert", "turns_fts_insert")


def _m0005(db: Database) -> None:
    """Search for the review page: a full-text index of what was said and who called,
    kept in sync by triggers, and indexes that page calls by started_at per filter."""
    db.execute(
        """
        CREATE VIRTUAL TABLE calls_fts USING fts5(
            transcript, person, company, caller_display, turns,
            tokenize = 'unicode61 remove_diacritics 2'
        )
        """
    )
    db.execute(
        """
        CREATE TRIGGER calls_fts_insert AFTER INSERT ON calls
        WHEN coalesce(NEW.transcript, NEW.person, NEW.company, NEW.caller_display) IS NOT NULL
        BEGIN
            INSERT INTO calls_fts (rowid, transcript, person, company, caller_display)
            VALUES (NEW.id, NEW.transcript, NEW.person, NEW.company, NEW.caller_display);
        END
        """
    )
    db.execute(
        f"""
        CREATE TRIGGER calls_fts_update AFTER UPDATE OF transcript, person, company, caller_display ON calls
        BEGIN {_FTS_REFRESH.format(id="NEW.id")} END
        """
    )
    db.execute(
        "CREATE TRIGGER calls_fts_delete AFTER DELETE ON calls "
        "BEGIN DELETE FROM calls_fts WHERE rowid = OLD.id; END"
    )
    db.execute(
        f"""
        CREATE TRIGGER turns_fts_insert AFTER INSERT ON turns
        WHEN NEW.speaker = 'caller' AND NEW.text IS NOT NULL
        BEGIN {_FTS_REFRESH.format(id="NEW.call_id")} END
        """
    )
    db.execute(
        f"""
        CREATE TRIGGER turns_fts_update AFTER UPDATE OF text, speaker ON turns
        WHEN NEW.speaker = 'caller' OR OLD.speaker = 'caller'
        BEGIN {_FTS_REFRESH.format(id="NEW.call_id")} END
        """
    )
    db.execute(
        f"""
        CREATE TRIGGER turns_fts_delete AFTER DELETE ON turns
        WHEN OLD.speaker = 'caller' AND OLD.text IS NOT NULL
        BEGIN {_FTS_REFRESH.format(id="OLD.call_id")} END
        """
    )
    db.execute(_FTS_FILL.format(where="1"))
    # Each filter of search_calls() pages newest first by an index scan.
    db.execute("CREATE INDEX idx_calls_outcome_started ON calls(outcome, started_at)")
    db.execute("CREATE INDEX idx_calls_label_started ON calls(label, started_at)")
    db.execute("CREATE INDEX idx_calls_number_started ON calls(caller_number, started_at)")
    db.execute("CREATE INDEX idx_calls_dialled_started ON calls(caller_dialled, started_at)")


# Ordered; append only. A name, once released, must never change.
MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("0001_calls_and_events", _m0001),
    ("0002_turns_and_screening", _m0002),
    ("0003_leads", _m0003),
    ("0004_caller_lists", _m0004),
    ("0005_call_search", _m0005),
]
SCHEMA_VERSION = len(MIGRATIONS)

_MIGRATIONS_DDL = "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)"


#: search_calls() counts matches up to this many; beyond it the total is -1 ("10 000+").
SEARCH_COUNT_CAP = 10_000
#: Largest page search_calls() returns.
SEARCH_MAX_PER_PAGE = 500

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


def _entry_from_row(row: dict[str, Any]) -> ListEntry:
    return ListEntry(
        id=row["id"], list=row["list"], kind=row["kind"], value=row["value"], reason=row["reason"],
        source=row["source"], created_at=row["created_at"], created_by=row["created_by"],
        expires_at=row["expires_at"], confirmed=bool(row["confirmed"]), removed_at=row["removed_at"],
    )



def _reason_text(rule: str | None, reason: str | None) -> str:
    if rule and reason:
        return f"{rule}: {reason}"
    return rule or reason or ""


def _record_from_row(row: dict[str, Any], reasons: Sequence[str]) -> CallRecord:
    return CallRecord(
        id=row["id"],
        sip_call_id=row["sip_call_id"],
        started_at=row["started_at"],
        answered_at=row["answered_at"],
        ended_at=row["ended_at"],
        duration=row["duration"],
        outcome=row["outcome"],
        caller_raw=row["caller_raw"],
        caller_display=row["caller_display"],
        caller_number=row["caller_number"],
        caller_dialled=row["caller_dialled"],
        caller_country=row["caller_country"],
        caller_region=row["caller_region"],
        caller_type=row["caller_type"],
        caller_description=row["caller_description"],
        caller_valid=bool(row["caller_valid"]),
        withheld=bool(row["withheld"]),
        number_source=row["number_source"],
        reasons=tuple(reasons),
        withheld_evidence=row["withheld_evidence"],
        **{name: row.get(name) for name in SCREENING_FIELDS},
    )


# --------------------------------------------------------------------------
# Connections


def _connect(path: Path, *, check_same_thread: bool = True) -> Database:
    conn = sqlite3.connect(str(path), timeout=_BUSY_TIMEOUT, check_same_thread=check_same_thread)
    try:
        db = Database(conn, execute_plugins=False)
        db.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return db


@contextlib.contextmanager
def _immediate(db: Database) -> Iterator[Database]:
    """A ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    else:
        try:
            db.commit()
        except BaseException:
            db.rollback()
            raise


class _Locked(Exception):
    """Another connection holds the lock this step needs (retry)."""


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class _Stop:
    """Queue sentinel: the writer thread finishes after this item."""


_STOP = _Stop()


# --------------------------------------------------------------------------
# The store


class Store:
    """The call log. See the module docstring for the threading model."""

    def __init__(self, path: str | Path, clock: Callable[[], datetime] | None = None,
                 default_region: str = "DE"):
        self._path = Path(path)
        self._clock = clock or utc_now
        #: Country of numbers written without a country code (list entries, number look-ups).
        self.default_region = default_region
        self._queue: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._open_and_migrate()

    # -- opening -----------------------------------------------------------

    def _open_and_migrate(self) -> None:
        path = self._path
        if path.is_dir():
            raise StoreError(f"call log {path} is a directory, not a database file")
        parent = path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the directory {parent} for the call log: {exc.strerror or exc}"
            ) from exc
        if not os.access(parent, os.W_OK | os.X_OK):
            raise StoreError(
                f"the directory {parent} is not writable; the call log {path.name} "
                "and its -wal/-shm files must be created there"
            )
        # Switching to WAL needs an exclusive lock, and SQLite answers "database
        # is locked" at once (without waiting) when two connections would
        # deadlock; several processes opening a new file at the same moment hit
        # that. Retry for a bounded time.
        deadline = time.monotonic() + _BUSY_TIMEOUT
        while True:
            try:
                self._open_once(path)
                return
            except _Locked as exc:
                if time.monotonic() >= deadline:
                    raise StoreError(f"cannot open the call log {path}: {exc}") from exc
                time.sleep(0.05)

    def _open_once(self, path: Path) -> None:
        try:
            db = _connect(path)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the call log {path}: {_describe(exc)}") from exc
        try:
            try:
                db.execute("SELECT count(*) FROM sqlite_master").fetchall()
                db.enable_wal()
                self._migrate(db)
            except sqlite3.DatabaseError as exc:
                message = _describe(exc)
                if "not a database" in message or "malformed" in message:
                    raise StoreError(
                        f"{path} is not a callbot call log (SQLite says: {message})"
                    ) from exc
                if "locked" in message or "busy" in message:
                    raise _Locked(message) from exc
                raise StoreError(f"cannot open the call log {path}: {message}") from exc
        finally:
            db.close()

    def _migrate(self, db: Database) -> None:
        def applied() -> set[str]:
            if not db["_migrations"].exists():
                return set()
            return {row["name"] for row in db.query("SELECT name FROM _migrations")}

        # Cheap check first, so readers (CLI, web) never take the write lock
        # when the schema is already current.
        if all(name in applied() for name, _ in MIGRATIONS):
            return
        for name, migrate in MIGRATIONS:
            # Re-check under the write lock: another process may have applied
            # it between our check and getting the lock.
            with _immediate(db):
                db.execute(_MIGRATIONS_DDL)
                if name in applied():
                    continue
                log.info("applying migration %s to %s", name, self._path)
                try:
                    migrate(db)
                except sqlite3.Error as exc:
                    raise StoreError(
                        f"migration {name} failed on {self._path}: {_describe(exc)}"
                    ) from exc
                db["_migrations"].insert({"name": name, "applied_at": self._now()})
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- lifecycle ---------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    def start(self) -> None:
        """Start the writer thread (idempotent). Writes start it on demand too."""
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._closed:
            raise StoreError("the call log has been closed")
        if self._thread is not None:
            return
        try:
            # Opened here so failures surface in start(); used only by the writer.
            db = _connect(self._path, check_same_thread=False)
            db.execute("PRAGMA synchronous = NORMAL")  # safe with WAL
            # Deleted transcripts and numbers are overwritten in the file, not just unlinked.
            db.execute("PRAGMA secure_delete = ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the call log {self._path}: {_describe(exc)}") from exc
        self._thread = threading.Thread(
            target=self._writer, args=(db,), name="callbot-store-writer", daemon=True
        )
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Apply every queued write, then stop the writer thread."""
        with self._lock:
            if self._closed:
                thread = self._thread
            else:
                self._closed = True
                thread = self._thread
                if thread is not None:
                    self._queue.put(_STOP)
        if thread is None:
            return
        thread.join(timeout)
        if thread.is_alive():
            raise StoreError(
                f"the call log writer did not finish within {timeout:g}s; "
                f"{self._queue.qsize()} writes still queued"
            )

    def __enter__(self) -> Store:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writer --------------------------------------------------------------

    def _writer(self, db: Database) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                label, job, future = item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    with _immediate(db):
                        result = job(db)
                except StoreError as exc:
                    log.error("call log write %s failed: %s", label, exc)
                    future.set_exception(exc)
                except sqlite3.Error as exc:
                    log.error("call log write %s failed: %s", label, _describe(exc))
                    error = StoreError(f"call log write {label} failed: {_describe(exc)}")
                    error.__cause__ = exc
                    future.set_exception(error)
                except Exception as exc:  # a bug; keep the writer alive regardless
                    log.exception("call log write %s failed unexpectedly", label)
                    future.set_exception(exc)
                else:
                    future.set_result(result)
        finally:
            db.close()

    def _submit(self, label: str, job: Callable[[Database], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                log.error("call log write %s after close(); dropped", label)
                future.set_exception(StoreError(f"call log write {label} after the log was closed"))
                return future
            self._start_locked()
            self._queue.put((label, job, future))
        return future

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every write queued so far has been applied."""
        with self._lock:
            if self._thread is None or self._closed:
                thread = self._thread
                barrier = None
            else:
                barrier = Future()
                self._queue.put(("flush", lambda db: None, barrier))
        if barrier is None:
            if thread is not None:
                thread.join(timeout)
            return
        barrier.result(timeout)

    def _now(self) -> str:
        return format_time(self._clock())

    # -- writes ----------------------------------------------------------------

    def start_call(self, caller: CallerFields, sip_call_id: str | None) -> Future[int]:
        """Insert a call with ``started_at`` now and no outcome; the future gives its id."""
        record = {
            "sip_call_id": sip_call_id,
            "started_at": self._now(),
            "caller_raw": caller.raw,
            "caller_display": caller.display,
            "caller_number": caller.number,
            "caller_dialled": caller.dialled,
            "caller_country": caller.country,
            "caller_region": caller.region,
            "caller_type": caller.type,
            "caller_description": caller.description,
            "caller_valid": int(bool(caller.valid)),
            "withheld": int(bool(caller.withheld)),
            "withheld_evidence": caller.evidence,
            "number_source": caller.number_source,
        }

        def job(db: Database) -> int:
            return int(db["calls"].insert(record).last_pk)

        return self._submit("start_call", job)

    def mark_answered(self, call_id: int) -> Future[None]:
        at = self._now()

        def job(db: Database) -> None:
            row = _get_call(db, call_id)
            if row["answered_at"] is None:
                db["calls"].update(call_id, {"answered_at": at})

        return self._submit(f"mark_answered({call_id})", job)

    def add_event(
        self, call_id: int, kind: str, rule: str | None = None, reason: str | None = None
    ) -> Future[None]:
        if not kind:
            raise ValueError("event kind must be a non-empty string")
        record = {"call_id": call_id, "at": self._now(), "kind": kind, "rule": rule, "reason": reason}

        def job(db: Database) -> None:
            db["events"].insert(record)

        return self._submit(f"add_event({call_id}, {kind!r})", job)

    def add_turn(self, call_id: int, turn: TurnFields) -> Future[None]:
        if turn.speaker not in ("bot", "caller"):
            raise ValueError(f"turn speaker must be 'bot' or 'caller', got {turn.speaker!r}")
        record = {
            "call_id": call_id,
            "seq": turn.seq,
            "speaker": turn.speaker,
            "prompt_id": turn.prompt_id,
            "field": turn.field,
            "text": turn.text,
            "started_at": format_time(turn.started_at),
            "duration": round(turn.duration, 3),
            "confidence": turn.confidence,
            "recording": turn.recording,
            "end_reason": turn.end_reason,
        }

        def job(db: Database) -> None:
            db["turns"].insert(record)

        return self._submit(f"add_turn({call_id}, {turn.seq})", job)

    def add_lead(self, call_id: int, turn_seq: int, field: str, text: str | None,
                 recording: str | None) -> Future[None]:
        record = {"call_id": call_id, "turn_seq": turn_seq, "field": field, "created_at": self._now(),
                  "text": text, "recording": recording}

        def job(db: Database) -> None:
            db["leads"].insert(record)

        return self._submit(f"add_lead({call_id}, {turn_seq})", job)

    def update_call(self, call_id: int, **fields: str | None) -> Future[None]:
        """Set screening results (person, company, transcript, label, label_reasons)."""
        unknown = set(fields) - set(SCREENING_FIELDS)
        if unknown:
            raise ValueError(f"update_call: unknown fields {sorted(unknown)}; allowed {SCREENING_FIELDS}")

        def job(db: Database) -> None:
            _get_call(db, call_id)
            db["calls"].update(call_id, fields)

        return self._submit(f"update_call({call_id})", job)

    def finish_call(self, call_id: int, outcome: str) -> Future[None]:
        """Set ended_at, duration and outcome. A call already finished keeps its first outcome."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown call outcome {outcome!r}; expected one of {sorted(OUTCOMES)}")
        ended = self._clock()
        ended_at = format_time(ended)

        def job(db: Database) -> None:
            row = _get_call(db, call_id)
            if row["outcome"] is not None:
                log.debug("call %s already finished as %s; keeping it", call_id, row["outcome"])
                return
            duration = (parse_time(ended_at) - parse_time(row["started_at"])).total_seconds()
            db["calls"].update(
                call_id,
                {"ended_at": ended_at, "duration": round(max(duration, 0.0), 3), "outcome": outcome},
            )

        return self._submit(f"finish_call({call_id}, {outcome!r})", job)

    def finalize_interrupted(self) -> int:
        """Mark every open call 'interrupted' (the bot stopped while it was open).

        Synchronous; returns how many calls were closed. Call it once at bot
        start, before taking calls: it closes *every* open call in the file.
        ``duration`` stays NULL, since when the call really ended is unknown.
        """
        at = self._now()

        def job(db: Database) -> int:
            ids = [row["id"] for row in db.query("SELECT id FROM calls WHERE outcome IS NULL")]
            for call_id in ids:
                db["calls"].update(call_id, {"outcome": Outcome.INTERRUPTED.value, "ended_at": at})
                db["events"].insert(
                    {
                        "call_id": call_id,
                        "at": at,
                        "kind": "hangup",
                        "rule": RESTART_RULE,
                        "reason": RESTART_REASON,
                    }
                )
            return len(ids)

        count = self._submit("finalize_interrupted", job).result(_SYNC_TIMEOUT)
        if count:
            log.warning("marked %d call(s) left open by a previous run as interrupted", count)
        return count

    # -- reads -----------------------------------------------------------------

    @contextlib.contextmanager
    def _reader(self) -> Iterator[Database]:
        try:
            db = _connect(self._path)
            db.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the call log {self._path}: {_describe(exc)}") from exc
        try:
            yield db
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the call log {self._path}: {_describe(exc)}") from exc
        finally:
            db.close()

    def _records(self, db: Database, rows: list[dict[str, Any]]) -> list[CallRecord]:
        reasons: dict[int, list[str]] = {row["id"]: [] for row in rows}
        ids = list(reasons)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for ev in db.query(
                f"SELECT call_id, rule, reason FROM events WHERE kind = 'decision' "
                f"AND call_id IN ({marks}) ORDER BY id",
                chunk,
            ):
                reasons[ev["call_id"]].append(_reason_text(ev["rule"], ev["reason"]))
        return [_record_from_row(row, reasons[row["id"]]) for row in rows]

    def calls(
        self,
        *,
        since: datetime | None = None,
        outcome: str | None = None,
        number: str | None = None,
        limit: int = 50,
    ) -> list[CallRecord]:
        """Calls, newest first. ``number`` matches caller_number or caller_dialled
        (exactly or as a substring)."""
        if outcome is not None and outcome not in OUTCOMES:
            raise ValueError(f"unknown call outcome {outcome!r}; expected one of {sorted(OUTCOMES)}")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        where: list[str] = []
        params: list[Any] = []
        if since is not None:
            where.append("started_at >= ?")
            params.append(format_time(since))
        if outcome is not None:
            where.append("calls.outcome = ?")
            params.append(outcome)
        if number:
            where.append("(instr(caller_number, ?) > 0 OR instr(caller_dialled, ?) > 0)")
            params.extend([number, number])
        sql = "SELECT * FROM calls"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, id DESC LIMIT ?"
        params.append(int(limit))
        with self._reader() as db:
            return self._records(db, list(db.query(sql, params)))

    def call(self, call_id: int) -> CallRecord | None:
        with self._reader() as db:
            rows = list(db.query("SELECT * FROM calls WHERE id = ?", [call_id]))
            return self._records(db, rows)[0] if rows else None

    def events(self, call_id: int) -> list[Event]:
        with self._reader() as db:
            return [
                Event(**row)
                for row in db.query(
                    "SELECT id, call_id, at, kind, rule, reason FROM events "
                    "WHERE call_id = ? ORDER BY id",
                    [call_id],
                )
            ]

    def turns(self, call_id: int) -> list[Turn]:
        with self._reader() as db:
            return [
                Turn(**row)
                for row in db.query(
                    "SELECT id, call_id, seq, speaker, prompt_id, field, text, started_at, duration, "
                    "confidence, recording, end_reason FROM turns WHERE call_id = ? ORDER BY seq",
                    [call_id],
                )
            ]

    def leads(self, *, since: datetime | None = None, limit: int = 100) -> list[Lead]:
        """Leads, newest first, with the caller's person/company/number from the call."""
        sql = (
            "SELECT leads.id, leads.call_id, leads.created_at, leads.field, leads.text, leads.recording, "
            "calls.person, calls.company, coalesce(calls.caller_number, calls.caller_dialled) AS number "
            "FROM leads JOIN calls ON calls.id = leads.call_id"
        )
        params: list[Any] = []
        if since is not None:
            sql += " WHERE leads.created_at >= ?"
            params.append(format_time(since))
        sql += " ORDER BY leads.created_at DESC, leads.id DESC LIMIT ?"
        params.append(int(limit))
        with self._reader() as db:
            return [Lead(**row) for row in db.query(sql, params)]

    def open_calls(self) -> list[CallRecord]:
        """Calls with no outcome yet, oldest first."""
        with self._reader() as db:
            rows = list(
                db.query("SELECT * FROM calls WHERE outcome IS NULL ORDER BY started_at, id")
            )
            return self._records(db, rows)

    def applied_migrations(self) -> list[str]:
        """Names of the applied migrations, in the order they were applied."""
        with self._reader() as db:
            return [
                row["name"]
                for row in db.query("SELECT name FROM _migrations ORDER BY applied_at, rowid")
            ]

    # -- caller lists --------------------------------------------------------------
    # Values are normalised on the caller's thread (callbot.lists); a bad value
    # raises ListEntryError (a ValueError and a CallbotError) at once.

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
            return [_entry_from_row(row) for row in db.query(sql, params)]

    def active_list_entries(self) -> list[ListEntry]:
        """The entries that take part in matching now (confirmed, not removed, not
        expired): what the bot hands to :func:`callbot.numbers.match` for each call."""
        with self._reader() as db:
            return [
                _entry_from_row(row)
                for row in db.query(
                    "SELECT * FROM list_entries WHERE removed_at IS NULL AND confirmed = 1 "
                    "AND (expires_at IS NULL OR expires_at > ?) ORDER BY id",
                    [self._now()],
                )
            ]

    def list_entry(self, entry_id: int) -> ListEntry | None:
        with self._reader() as db:
            rows = list(db.query("SELECT * FROM list_entries WHERE id = ?", [entry_id]))
            return _entry_from_row(rows[0]) if rows else None

    def list_entries_for_number(self, number: str) -> list[ListEntry]:
        """Every 'number' entry of ``number`` (E.164 or as typed), removed ones included."""
        variants = self._variants(number)
        marks = ",".join("?" * len(variants))
        with self._reader() as db:
            return [
                _entry_from_row(row)
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
                _entry_from_row(r) for r in db.query(
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

        ids = self._submit("suggest_blocks", job).result(_SYNC_TIMEOUT)
        if not ids:
            return []
        with self._reader() as db:
            marks = ",".join("?" * len(ids))
            return [_entry_from_row(r) for r in db.query(f"SELECT * FROM list_entries WHERE id IN ({marks}) "
                                                         "ORDER BY id", ids)]

    def delete_list_entries_for_number(self, number: str) -> Future[int]:
        """Erase (really delete, history included) every 'number' entry of ``number``."""
        variants = self._variants(number)
        marks = ",".join("?" * len(variants))
        return self._submit(
            "delete_list_entries_for_number",
            lambda db: db.execute(f"DELETE FROM list_entries WHERE kind = 'number' AND value IN ({marks})",
                                  variants).rowcount,
        )

    # -- data protection -----------------------------------------------------------
    # Used by callbot.privacy. Every write keeps foreign keys intact (children first).

    def _variants(self, number: str) -> list[str]:
        variants = list(numbers.number_variants(number, self.default_region))
        if not variants:
            raise ValueError("give a phone number")
        return variants

    def _number_clause(self, number: str) -> tuple[str, list[str]]:
        """Calls of ``number``: its E.164 form in caller_number, or as received in caller_dialled."""
        variants = self._variants(number)
        marks = ",".join("?" * len(variants))
        return f"(caller_number IN ({marks}) OR caller_dialled IN ({marks}))", variants + variants

    def caller_timeline(self, number: str) -> list[CallRecord]:
        """Every call of ``number`` (E.164 or as received), oldest first."""
        clause, params = self._number_clause(number)
        with self._reader() as db:
            rows = list(db.query(f"SELECT * FROM calls WHERE {clause} ORDER BY started_at, id", params))
            return self._records(db, rows)

    def call_ids_for_number(self, number: str) -> list[int]:
        clause, params = self._number_clause(number)
        with self._reader() as db:
            return [r[0] for r in db.execute(f"SELECT id FROM calls WHERE {clause} ORDER BY id", params)]

    def call_leads(self, call_id: int) -> list[Lead]:
        """The leads of one call, in turn order."""
        with self._reader() as db:
            return [
                Lead(**row)
                for row in db.query(
                    "SELECT leads.id, leads.call_id, leads.created_at, leads.field, leads.text, leads.recording, "
                    "calls.person, calls.company, coalesce(calls.caller_number, calls.caller_dialled) AS number "
                    "FROM leads JOIN calls ON calls.id = leads.call_id WHERE leads.call_id = ? "
                    "ORDER BY leads.turn_seq",
                    [call_id],
                )
            ]

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
            for chunk in _chunks(list(call_ids)):
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
            for chunk in _chunks(ids):
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
            for chunk in _chunks(ids):
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

    # -- search (the review page) ----------------------------------------------------

    def search_calls(
        self,
        *,
        text: str | None = None,
        outcome: str | None = None,
        number: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        label: str | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> tuple[list[CallRecord], int]:
        """One page of calls, newest first, and how many match in all.

        ``text``: words (each also as a prefix: 'Energ' finds 'Energie', case
        and accents ignored; all words must occur) in the transcript, the
        caller's turns, person, company or display name. ``number``: a full
        number (any form) matches exactly, E.164 or as received; anything
        shorter is a prefix ('+4930', '030 12'). ``since`` inclusive, ``until``
        exclusive. ``label``: cold_call / genuine / unclear.

        Order: newest first by started_at; a ``text`` search (unless with a
        full number) is ordered by call id instead — the order calls started
        in, as the bot logs them — so the index walk can stop at the page.

        The total is exact up to :data:`SEARCH_COUNT_CAP` (10 000); beyond that
        it is ``-1``: show "10 000+". Paging is LIMIT/OFFSET over an index
        (started_at per filter, or the text index), never a sort of all matches
        — except for a number prefix, which sorts that number range's calls.
        """
        if outcome is not None and outcome not in OUTCOMES:
            raise ValueError(f"unknown call outcome {outcome!r}; expected one of {sorted(OUTCOMES)}")
        if page < 1:
            raise ValueError("page must be at least 1")
        if not 1 <= per_page <= SEARCH_MAX_PER_PAGE:
            raise ValueError(f"per_page must be 1-{SEARCH_MAX_PER_PAGE}")
        where: list[str] = []
        params: list[Any] = []
        fts_query: str | None = None
        if text is not None and text.strip():
            words = re.findall(r"\w+", text)
            if not words:
                return [], 0
            fts_query = " ".join(f'"{w}"*' for w in words)
        if outcome is not None:
            where.append("calls.outcome = ?")
            params.append(outcome)
        if label is not None:
            where.append("calls.label = ?")
            params.append(label)
        if since is not None:
            where.append("calls.started_at >= ?")
            params.append(format_time(parse_time(since) if isinstance(since, str) else since))
        if until is not None:
            where.append("calls.started_at < ?")
            params.append(format_time(parse_time(until) if isinstance(until, str) else until))
        exact: list[str] = []
        if number is not None and number.strip():
            exact, prefixes = numbers.number_search_terms(number, self.default_region)
            if exact:
                marks = ",".join("?" * len(exact))
                where.append(f"(calls.caller_number IN ({marks}) OR calls.caller_dialled IN ({marks}))")
                params.extend(exact + exact)
            else:
                ranges = []
                for prefix in prefixes:
                    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
                    ranges.append("(calls.caller_number >= ? AND calls.caller_number < ?)")
                    ranges.append("(calls.caller_dialled >= ? AND calls.caller_dialled < ?)")
                    params.extend([prefix, end, prefix, end])
                where.append("(" + " OR ".join(ranges) + ")")
        if fts_query is not None and not exact:
            # Words (plus cheap filters, a number prefix included): walk the index's matches
            # newest id first and stop at the page, instead of sorting every match by started_at.
            source = "calls_fts CROSS JOIN calls ON calls.id = calls_fts.rowid"  # CROSS: the index drives
            where.insert(0, "calls_fts MATCH ?")
            params.insert(0, fts_query)
            order = "calls_fts.rowid DESC"
        else:
            # A full number narrows to few calls: find them by its index, then keep those among
            # the text matches (collected once; the unary + keeps calls.id from driving).
            source = "calls"
            if fts_query is not None:
                where.append("+calls.id IN (SELECT rowid FROM calls_fts WHERE calls_fts MATCH ?)")
                params.append(fts_query)
            order = "calls.started_at DESC, calls.id DESC"
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        with self._reader() as db:
            rows = list(db.query(
                f"SELECT calls.* FROM {source}{clause} ORDER BY {order} LIMIT ? OFFSET ?",
                params + [per_page, (page - 1) * per_page],
            ))
            if len(rows) < per_page and (rows or page == 1):
                total = (page - 1) * per_page + len(rows)
            else:
                total = db.execute(f"SELECT count(*) FROM (SELECT 1 FROM {source}{clause} LIMIT ?)",
                                   params + [SEARCH_COUNT_CAP + 1]).fetchone()[0]
                if total > SEARCH_COUNT_CAP:
                    total = -1
            return self._records(db, rows), total

    def bulk_insert_calls(self, rows: Iterable[dict[str, Any]]) -> Future[int]:
        """Insert many finished calls in ONE transaction (for benchmarks and imports
        only — the bot uses start_call/finish_call). Each row has calls columns
        (``started_at`` required; times as datetime or ISO strings) and may carry
        ``events``, ``turns`` and ``leads``: lists of dicts with those tables'
        columns (no call_id). ``rows`` may be a generator: it is consumed on the
        writer thread. The search index is kept in sync by the same triggers.
        The future gives the number of calls inserted; on any bad row nothing is."""
        columns = _CALL_COLUMNS
        call_sql = f"INSERT INTO calls ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        child_sql = {
            table: f"INSERT INTO {table} (call_id, {', '.join(cols)}) VALUES (?, {', '.join('?' * len(cols))})"
            for table, cols in (("events", _EVENT_COLUMNS), ("turns", _TURN_COLUMNS), ("leads", _LEAD_COLUMNS))
        }
        child_columns = {"events": _EVENT_COLUMNS, "turns": _TURN_COLUMNS, "leads": _LEAD_COLUMNS}

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
                for chunk in _chunks(inserted):
                    conn.execute(_FTS_FILL.format(where=f"c.id IN ({','.join('?' * len(chunk))})"), chunk)
                for _, sql in triggers:
                    conn.execute(sql)
            return count

        return self._submit("bulk_insert_calls", job)


def _get_call(db: Database, call_id: int) -> dict[str, Any]:
    try:
        return db["calls"].get(call_id)
    except NotFoundError:
        raise StoreError(f"no call with id {call_id} in the call log") from None


def _chunks(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    """Slices small enough for one ``IN (...)`` (SQLite limits the number of parameters)."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
