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
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from sqlite_utils.db import NotFoundError

from .errors import StoreError

log = logging.getLogger("callbot.store")

# --------------------------------------------------------------------------
# Outcomes

WITHHELD_REJECTED = "withheld_rejected"
CANCELLED = "cancelled"
ANSWERED = "answered"
CALLER_HUNG_UP = "caller_hung_up"
ERROR = "error"
INTERRUPTED = "interrupted"
TIMEOUT = "timeout"
COLD_CALL_COUNTERED = "cold_call_countered"  # the owner's counter-offer was played
MESSAGE_TAKEN = "message_taken"              # a genuine caller left a message
NO_RESPONSE = "no_response"                  # the caller stayed silent

OUTCOMES: frozenset[str] = frozenset(
    {WITHHELD_REJECTED, CANCELLED, ANSWERED, CALLER_HUNG_UP, ERROR, INTERRUPTED, TIMEOUT,
     COLD_CALL_COUNTERED, MESSAGE_TAKEN, NO_RESPONSE}
)

RESTART_RULE = "restart"
RESTART_REASON = "bot restarted; call was open when it stopped"

# Seconds a connection waits for another connection's write lock.
_BUSY_TIMEOUT = 30.0
# How long finalize_interrupted() waits for the writer.
_SYNC_TIMEOUT = 60.0


# --------------------------------------------------------------------------
# Time helpers


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def format_time(moment: datetime) -> str:
    """``2026-11-22T14:35:01.123Z``. A naive datetime is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    """Inverse of :func:`format_time` (accepts any ISO-8601 form with an offset or Z)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


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


# Ordered; append only. A name, once released, must never change.
MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("0001_calls_and_events", _m0001),
    ("0002_turns_and_screening", _m0002),
    ("0003_leads", _m0003),
]
SCHEMA_VERSION = len(MIGRATIONS)

_MIGRATIONS_DDL = "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)"


# --------------------------------------------------------------------------
# Records


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
class Turn:
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

    def __init__(self, path: str | Path, clock: Callable[[], datetime] | None = None):
        self._path = Path(path)
        self._clock = clock or _utc_now
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
                db["calls"].update(call_id, {"outcome": INTERRUPTED, "ended_at": at})
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
            where.append("outcome = ?")
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


def _get_call(db: Database, call_id: int) -> dict[str, Any]:
    try:
        return db["calls"].get(call_id)
    except NotFoundError:
        raise StoreError(f"no call with id {call_id} in the call log") from None
