"""The store's part for the office's users (roles, password hashes) and the audit of who changed what.

A mixin of :class:`callbot.store.store.Store`; its tables come from migration
:mod:`callbot.store.schema_users`.

The configured owner (``[web] user`` + ``password_hash``) is not in the table: the web page
and the CLI add it (:mod:`callbot.web.app`). Password hashes are made by
:mod:`callbot.passwords` before they reach the store; a one-time setup token is kept only as
its SHA-256. Every change here is also written to ``changes`` (who, when, what, detail) in the
same transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta

from sqlite_utils import Database

from callbot.errors import CallbotError
from callbot.store.base import StoreBase
from callbot.times import format_time

ROLES = ("owner", "staff")
#: A user name: as ``[web] user`` (letters, digits, '.', '_', '-', '@'; up to 64).
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
#: How long a one-time setup link works.
SETUP_HOURS = 48
MAX_DETAIL = 2000


class UserError(CallbotError, ValueError):
    """A user name, role or account state that does not fit (the message says why)."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    has_password: bool
    setup_pending: bool
    created_at: str
    created_by: str | None
    language: str | None = None  # the web page's language for this user (None: [web] language)


@dataclass(frozen=True)
class Change:
    id: int
    at: str
    who: str
    what: str
    detail: str | None


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not USER_NAME.match(name):
        raise UserError(f"{name!r} is not a user name — use up to 64 letters, digits, '.', '_', '-' or '@'")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _user(row: dict) -> User:
    return User(name=row["name"], role=row["role"], has_password=bool(row["password_hash"]),
                setup_pending=bool(row["setup_hash"]), created_at=row["created_at"], created_by=row["created_by"],
                language=row.get("language"))


def _audit(db: Database, at: str, who: str, what: str, detail: str | None) -> None:
    db.execute("INSERT INTO changes (at, who, what, detail) VALUES (?, ?, ?, ?)",
               [at, who, what, None if detail is None else detail[:MAX_DETAIL]])


class Users(StoreBase):
    """Reads and writes of the office's users (roles, password hashes) and the audit of who changed what."""

    # -- reads -------------------------------------------------------------------

    def users(self) -> list[User]:
        with self._reader() as db:
            return [_user(r) for r in db.query("SELECT * FROM users ORDER BY name")]

    def user(self, name: str) -> User | None:
        with self._reader() as db:
            rows = list(db.query("SELECT * FROM users WHERE name = ?", [name]))
        return _user(rows[0]) if rows else None

    def user_login(self, name: str) -> tuple[str, str, str] | None:
        """(name as stored, role, password hash) of a user who has a password; None otherwise."""
        with self._reader() as db:
            row = db.execute("SELECT name, role, password_hash FROM users WHERE name = ? "
                             "AND password_hash IS NOT NULL", [name]).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def has_owner_user(self) -> bool:
        """Whether some owner in the table can log in (has a password)."""
        with self._reader() as db:
            return db.execute("SELECT 1 FROM users WHERE role = 'owner' AND password_hash IS NOT NULL "
                              "LIMIT 1").fetchone() is not None

    def setup_user(self, token: str) -> User | None:
        """The user a one-time setup ``token`` is for, while it works."""
        with self._reader() as db:
            rows = list(db.query("SELECT * FROM users WHERE setup_hash = ? AND setup_expires > ?",
                                 [token_hash(token), self._now()]))
        return _user(rows[0]) if rows else None

    def changes(self, limit: int = 100) -> list[Change]:
        """The newest ``limit`` audit rows, newest first."""
        with self._reader() as db:
            return [Change(r["id"], r["at"], r["who"], r["what"], r["detail"])
                    for r in db.query("SELECT * FROM changes ORDER BY id DESC LIMIT ?", [limit])]

    # -- writes ------------------------------------------------------------------

    def record_change(self, who: str, what: str, detail: str | None = None) -> Future[None]:
        """Audit one change made elsewhere (a prompt, the script, a list entry …)."""
        at = self._now()
        return self._submit(f"record_change({what})", lambda db: _audit(db, at, who, what, detail))

    def add_user(self, name: str, role: str, by: str, password_hash: str | None = None) -> Future[str | None]:
        """Add a user; with no ``password_hash`` the future gives a one-time setup token
        (valid :data:`SETUP_HOURS`), else None. UserError (at once) for a bad name or role;
        the future fails with UserError when the name is taken."""
        name, role = check_name(name), check_role(role)
        at = self._now()
        token = None if password_hash else secrets.token_urlsafe(24)
        expires = format_time(self._clock() + timedelta(hours=SETUP_HOURS))

        def job(db: Database) -> str | None:
            if db.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
                raise UserError(f"there is already a user {name!r}")
            db.execute("INSERT INTO users (name, role, password_hash, setup_hash, setup_expires, created_at, "
                       "created_by, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       [name, role, password_hash, token and token_hash(token), token and expires, at, by, at])
            _audit(db, at, by, "user added", f"{name} ({role})")
            return token

        return self._submit(f"add_user({name})", job)

    def set_user_language(self, name: str, language: str | None, by: str) -> Future[None]:
        """The web page's language for ``name`` (None: the office's, ``[web] language``)."""
        at = self._now()

        def job(db: Database) -> None:
            cur = db.execute("UPDATE users SET language = ?, changed_at = ? WHERE name = ?", [language, at, name])
            if not cur.rowcount:
                raise UserError(f"there is no user {name!r}")
            _audit(db, at, by, "language set", f"{name}: {language or 'the office default'}")

        return self._submit(f"set_user_language({name})", job)

    def set_user_password(self, name: str, password_hash: str | None, by: str) -> Future[str | None]:
        """A new password hash for ``name`` (its setup token goes); with None the password is
        cleared and the future gives a new one-time setup token. Fails with UserError for an
        unknown user."""
        at = self._now()
        token = None if password_hash else secrets.token_urlsafe(24)
        expires = format_time(self._clock() + timedelta(hours=SETUP_HOURS))

        def job(db: Database) -> str | None:
            cur = db.execute("UPDATE users SET password_hash = ?, setup_hash = ?, setup_expires = ?, changed_at = ? "
                             "WHERE name = ?", [password_hash, token and token_hash(token), token and expires, at, name])
            if not cur.rowcount:
                raise UserError(f"there is no user {name!r}")
            _audit(db, at, by, "password changed" if password_hash else "setup link made", name)
            return token

        return self._submit(f"set_user_password({name})", job)

    def use_setup_token(self, token: str, password_hash: str) -> Future[str | None]:
        """Set the password of the user ``token`` was made for (once; the token goes).
        The future gives the user's name, or None when the token is unknown or expired."""
        at = self._now()
        digest = token_hash(token)

        def job(db: Database) -> str | None:
            row = db.execute("SELECT name FROM users WHERE setup_hash = ? AND setup_expires > ?",
                             [digest, at]).fetchone()
            if row is None:
                return None
            db.execute("UPDATE users SET password_hash = ?, setup_hash = NULL, setup_expires = NULL, "
                       "changed_at = ? WHERE name = ?", [password_hash, at, row[0]])
            _audit(db, at, row[0], "password set", "with the one-time setup link")
            return row[0]

        return self._submit("use_setup_token", job)

    def remove_user(self, name: str, by: str) -> Future[bool]:
        """Delete ``name`` (its past changes keep the name); the future gives whether it existed."""
        at = self._now()

        def job(db: Database) -> bool:
            row = db.execute("SELECT name, role FROM users WHERE name = ?", [name]).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM users WHERE name = ?", [name])
            _audit(db, at, by, "user removed", f"{row[0]} ({row[1]})")
            return True

        return self._submit(f"remove_user({name})", job)
