"""Opening the call log file: connections, ``BEGIN IMMEDIATE`` transactions, read connections.

* :func:`open_file` checks the folder, switches the file to WAL (retrying
  while another process holds the lock) and runs ``prepare`` — the
  migrations — on a connection it closes again.
* :func:`connect` opens one connection with a busy timeout and foreign keys on.
* :func:`immediate` wraps a block in a ``BEGIN IMMEDIATE`` transaction.
* :func:`reader` gives a short-lived, query-only connection for one read.
* :func:`transient` tells a failure worth retrying (locked, busy, disk I/O, disk
  full, read-only, cannot open) from one that will fail again (a constraint, a
  bug in the SQL): the writer retries the first kind and skips the second.

SQLite errors are translated into :class:`callbot.errors.StoreError` here and
in the writer thread; nothing outside :mod:`callbot.store` sees ``sqlite3``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlite_utils import Database

from callbot.errors import StoreError

#: Seconds a connection waits for another connection's write lock.
BUSY_TIMEOUT = 30.0
#: … the writer thread's connection: short, so a locked file sends the writer back to its own
#: retry loop (which spills to the journal and notices close()) instead of blocking in SQLite.
WRITER_BUSY_TIMEOUT = 1.0

#: Primary SQLite result codes of failures that pass (a lock, a full or failing disk).
_TRANSIENT_CODES = {
    5,   # SQLITE_BUSY
    6,   # SQLITE_LOCKED
    7,   # SQLITE_NOMEM
    8,   # SQLITE_READONLY (e.g. a file system remounted read-only)
    10,  # SQLITE_IOERR (disk I/O error; EFBIG and short writes land here)
    13,  # SQLITE_FULL
    14,  # SQLITE_CANTOPEN
    15,  # SQLITE_PROTOCOL
}


def connect(path: Path, *, check_same_thread: bool = True) -> Database:
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT, check_same_thread=check_same_thread)
    try:
        db = Database(conn, execute_plugins=False)
        db.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return db


@contextlib.contextmanager
def immediate(db: Database) -> Iterator[Database]:
    """A ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        _rollback(db)
        raise
    else:
        try:
            db.commit()
        except BaseException:
            _rollback(db)
            raise


def _rollback(db: Database) -> None:
    """Roll back, keeping the original error (a rollback on a full disk may fail too)."""
    try:
        db.rollback()
    except sqlite3.Error:
        pass


def describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def transient(exc: BaseException) -> bool:
    """Whether retrying ``exc`` later can succeed (see the module docstring)."""
    if not isinstance(exc, sqlite3.Error):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _TRANSIENT_CODES
    message = describe(exc).lower()  # errors raised without a code (e.g. by the driver itself)
    return any(word in message for word in ("locked", "busy", "disk i/o", "disk is full", "readonly"))


class _Locked(Exception):
    """Another connection holds the lock this step needs (retry)."""


def open_file(path: Path, prepare: Callable[[Database], None]) -> None:
    """Make sure ``path`` is a call log in WAL mode and run ``prepare`` (the
    migrations) on it; raises :class:`StoreError` with what is wrong."""
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
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            _open_once(path, prepare)
            return
        except _Locked as exc:
            if time.monotonic() >= deadline:
                raise StoreError(f"cannot open the call log {path}: {exc}") from exc
            time.sleep(0.05)


def _open_once(path: Path, prepare: Callable[[Database], None]) -> None:
    try:
        db = connect(path)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the call log {path}: {describe(exc)}") from exc
    try:
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchall()
            db.enable_wal()
            prepare(db)
        except sqlite3.DatabaseError as exc:
            message = describe(exc)
            if "not a database" in message or "malformed" in message:
                raise StoreError(
                    f"{path} is not a callbot call log (SQLite says: {message})"
                ) from exc
            if "locked" in message or "busy" in message:
                raise _Locked(message) from exc
            raise StoreError(f"cannot open the call log {path}: {message}") from exc
    finally:
        db.close()


def _lenient_text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def connect_writer(path: Path) -> Database:
    """The writer thread's connection (opened on the starting thread, so failures surface there)."""
    try:
        db = connect(path, check_same_thread=False)
        db.execute(f"PRAGMA busy_timeout = {int(WRITER_BUSY_TIMEOUT * 1000)}")
        db.execute("PRAGMA synchronous = NORMAL")  # safe with WAL
        # Deleted transcripts and numbers are overwritten in the file, not just unlinked.
        db.execute("PRAGMA secure_delete = ON")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the call log {path}: {describe(exc)}") from exc
    return db


@contextlib.contextmanager
def reader(path: Path) -> Iterator[Database]:
    """A short-lived, query-only connection: readers never share the writer's
    connection (WAL lets them read while the writer writes)."""
    try:
        db = connect(path)
        db.execute("PRAGMA query_only = ON")
        # Text another program stored as invalid UTF-8 is shown with U+FFFD, never a crash of
        # the CLI or the web page (export reads the bytes losslessly, see erasure.py).
        db.conn.text_factory = _lenient_text
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the call log {path}: {describe(exc)}") from exc
    try:
        yield db
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the call log {path}: {describe(exc)}") from exc
    finally:
        db.close()
