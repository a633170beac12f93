"""The web page's logins, server-side: which session ids are live (``web-sessions.db``).

The session cookie is signed, so it cannot be forged — but a signed cookie stays
valid until it expires, even after "Log out", for anyone who copied it. So every
login gets a random session id; the cookie carries it and this table keeps its
SHA-256 (a copy of the file does not give working cookies). The web page refuses a
cookie whose id is not here; logging out deletes the row.

Its own small SQLite file next to the call log (not a table in it): it belongs
to ``callbot web`` alone, needs no migration of the call log, and deleting it
just logs everybody out. Used only by :mod:`callbot.web`; short statements on one
connection behind a lock (the web page's threads and its event loop share it).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from callbot.errors import StoreError

FILE_NAME = "web-sessions.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS web_sessions (
    id_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL
)
"""


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


class SessionTable:
    """Live session ids, persisted in ``path`` (``":memory:"`` for tests)."""

    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time):
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        try:
            if not isinstance(path, str):
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=10.0, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the web session file {path}: {exc}") from None

    def add(self, session_id: str, user: str, lifetime: float) -> None:
        """Record a new login that lasts ``lifetime`` seconds; forget expired ones."""
        now = self._clock()
        self._run("DELETE FROM web_sessions WHERE expires <= ?", (now,))
        self._run("INSERT OR REPLACE INTO web_sessions (id_hash, user, created, expires) VALUES (?, ?, ?, ?)",
                  (_hash(session_id), user, now, now + lifetime))

    def is_live(self, session_id: object, user: str) -> bool:
        if not isinstance(session_id, str) or not session_id:
            return False
        rows = self._run("SELECT 1 FROM web_sessions WHERE id_hash = ? AND user = ? AND expires > ?",
                         (_hash(session_id), user, self._clock()))
        return bool(rows)

    def remove(self, session_id: object) -> None:
        if isinstance(session_id, str) and session_id:
            self._run("DELETE FROM web_sessions WHERE id_hash = ?", (_hash(session_id),))

    def remove_all(self) -> None:
        self._run("DELETE FROM web_sessions", ())

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _run(self, sql: str, params: tuple) -> list:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"web session file {self.path}: {exc}") from None
