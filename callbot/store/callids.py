"""Call ids handed out by the bot's process itself: a call has its id the moment its INVITE arrives.

:meth:`callbot.store.calls.Calls.start_call` takes the next id from a
:class:`CallIds` counter (thread-safe, no database round trip) and queues the
insert with that explicit id, so nothing on the INVITE path waits for SQLite.

The assumption this rests on: ONE process inserts calls into a call log file —
the bot (``callbot run`` / ``callbot demo``), or an import through
``bulk_insert_calls``, which takes its ids from the same counter. The CLI and
the web page never insert calls; they read them, erase them and write list
entries. It is enforced, not hoped for: the first process to insert calls
takes an exclusive lock (``fcntl.lockf``) on ``<file>.calls-lock`` next to the
database and keeps it until its last Store of that file closes (or it dies);
a second process — a second bot on the same database — is refused with a
:class:`StoreError` naming the holder's pid. Inside one process every Store of
the same file shares one counter, so two Stores cannot hand out one id twice.

The counter starts above the highest id the file has ever given a call:
``max(calls.id)``, the AUTOINCREMENT sequence (ids of deleted calls are never
reused), and the call ids that rows of ``events``, ``turns``, ``leads`` and
the search index ``calls_fts`` refer to.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable
from pathlib import Path

from sqlite_utils import Database

from callbot.errors import StoreError

#: Where a call id can be found: (table, expression). Tables an older schema lacks are skipped.
_CALL_ID_SOURCES = (
    ("calls", "max(id)"),
    ("sqlite_sequence", "max(CASE WHEN name = 'calls' THEN seq END)"),
    ("events", "max(call_id)"),
    ("turns", "max(call_id)"),
    ("leads", "max(call_id)"),
    ("calls_fts", "max(rowid)"),
)

_registry_lock = threading.Lock()
_registry: dict[str, CallIds] = {}


def highest_call_id(db: Database) -> int:
    """The highest id the file has ever given a call (each term is an index look-up)."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    terms = [f"coalesce((SELECT {expr} FROM {table}), 0)" for table, expr in _CALL_ID_SOURCES if table in tables]
    return int(db.execute(f"SELECT max({', '.join(terms)}, 0)").fetchone()[0] or 0)


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".calls-lock")


class CallIds:
    """The next call ids of one file, for this process (see the module docstring)."""

    def __init__(self, key: str, fd: int, highest: int):
        self._key = key
        self._fd = fd
        self._last = highest
        self._lock = threading.Lock()
        self._users = 0

    def next(self) -> int:
        with self._lock:
            self._last += 1
            return self._last

    def at_least(self, used: int) -> None:
        """``used`` was taken by other means (an import with explicit ids): never hand it out."""
        with self._lock:
            self._last = max(self._last, used)


def claim(path: Path, highest: Callable[[], int]) -> CallIds:
    """The counter of ``path`` for this process; the first claim takes the lock and
    reads ``highest()``. Raises StoreError when another process inserts calls."""
    key = str(path.resolve())
    with _registry_lock:
        ids = _registry.get(key)
        if ids is None:
            fd = _lock(path)
            try:
                start = highest()
            except BaseException:
                os.close(fd)
                raise
            ids = _registry[key] = CallIds(key, fd, start)
        ids._users += 1
        return ids


def release(ids: CallIds) -> None:
    """One Store is done with the counter; the last one gives the lock back."""
    with _registry_lock:
        ids._users -= 1
        if ids._users > 0 or _registry.get(ids._key) is not ids:
            return
        del _registry[ids._key]
        os.close(ids._fd)  # releases the lock


def _lock(path: Path) -> int:
    target = lock_path(path)
    try:
        fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot create {target}: {exc.strerror or exc}") from exc
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StoreError(
            f"another process (pid {holder}) is already taking calls with the call log {path}; "
            "run one bot per database (stop the other one, or give this one its own storage.database)"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
