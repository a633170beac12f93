"""The schema of the users tables (migration ``0009_users``, registered in :mod:`callbot.store.migrations`).

* ``users``: the office's logins besides the configured owner (``[web] user`` +
  ``password_hash``): name (case-insensitive, unique), role (``owner`` / ``staff``), the
  scrypt hash (NULL until the one-time setup link was used) and the SHA-256 of an
  outstanding setup token with its expiry, and the user's own language for the web page
  (NULL: ``[web] language``).
* ``changes``: the audit of who changed what outside the call log's own tables
  (prompts, the script, list entries removed or confirmed, users): who, when, what, detail.
  Inbox changes have their own history (:mod:`callbot.store.schema_inbox`).
"""

from __future__ import annotations

from sqlite_utils import Database


def migrate(db: Database) -> None:
    """Create ``users`` and ``changes``."""
    db.execute(
        """
        CREATE TABLE users (
            name TEXT PRIMARY KEY COLLATE NOCASE,
            role TEXT NOT NULL CHECK (role IN ('owner', 'staff')),
            password_hash TEXT,
            setup_hash TEXT,
            setup_expires TEXT,
            created_at TEXT NOT NULL,
            created_by TEXT,
            changed_at TEXT,
            language TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_users_setup_hash ON users(setup_hash) WHERE setup_hash IS NOT NULL")
    db.execute(
        """
        CREATE TABLE changes (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            who TEXT NOT NULL,
            what TEXT NOT NULL,
            detail TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_changes_at ON changes(at)")
