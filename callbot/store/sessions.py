"""The web page's logins, server-side: which session ids are live (``web-sessions.db``).

The session cookie is signed, so it cannot be forged — but a signed cookie stays
valid until it expires, even after "Log out", for anyone who copied it. So every
login gets a random session id; the cookie carries it and this table keeps its
SHA-256 (a copy of the file does not give working cookies), the user and the user's
role at login. The web page refuses a cookie whose id is not here; logging out deletes
the row, and removing a user or changing their password (``callbot users``, the users
page) deletes all of that user's rows (:meth:`SessionTable.remove_user`) — from any
process, since the file is shared.

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
    expires REAL NOT NULL,
    role TEXT
)
"""
_INDEX = "CREATE INDEX IF NOT EXISTS web_sessions_user ON web_sessions(user)"


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
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(web_sessions)")}
            if "role" not in columns:  # a file from before roles: its logins end (role NULL)
                self._db.execute("ALTER TABLE web_sessions ADD COLUMN role TEXT")
            self._db.execute(_INDEX)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the web session file {path}: {exc}") from None

    def add(self, session_id: str, user: str, lifetime: float, role: str = "owner") -> None:
        """Record a new login of ``user`` with ``role`` that lasts ``lifetime`` seconds; forget expired ones."""
        now = self._clock()
        self._run("DELETE FROM web_sessions WHERE expires <= ?", (now,))
        self._run("INSERT OR REPLACE INTO web_sessions (id_hash, user, created, expires, role) "
                  "VALUES (?, ?, ?, ?, ?)", (_hash(session_id), user, now, now + lifetime, role))

    def role_of(self, session_id: object, user: str) -> str | None:
        """The role of the live login ``session_id`` of ``user``; None when it is not live."""
        if not isinstance(session_id, str) or not session_id:
            return None
        rows = self._run("SELECT role FROM web_sessions WHERE id_hash = ? AND user = ? AND expires > ?",
                         (_hash(session_id), user, self._clock()))
        return rows[0][0] if rows else None

    def is_live(self, session_id: object, user: str) -> bool:
        return self.role_of(session_id, user) is not None

    def remove_user(self, user: str) -> int:
        """End every login of ``user`` (case-insensitive, as user names are); how many there were."""
        with self._lock:
            try:
                return self._db.execute("DELETE FROM web_sessions WHERE user = ? COLLATE NOCASE", (user,)).rowcount
            except sqlite3.Error as exc:
                raise StoreError(f"web session file {self.path}: {exc}") from None

    def users(self) -> dict[str, int]:
        """Live logins per user."""
        rows = self._run("SELECT user, count(*) FROM web_sessions WHERE expires > ? GROUP BY user", (self._clock(),))
        return {user: n for user, n in rows}

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
