"""The schema of the outbox tables (migration ``0008_outbox``, registered in :mod:`callbot.store.migrations`).

Its own module so the office features can grow their tables without touching the registry.

* ``outbox`` — one row per notification to send: a mail to one address or one webhook POST,
  written in the transaction that finishes the call (:mod:`callbot.store.calls`). ``state`` is
  ``pending`` (waiting for ``next_attempt_at``), ``sending`` (an attempt is under way),
  ``delivered``, ``failed`` or ``unconfirmed`` (the bot died after the server had the whole mail,
  before its answer was recorded: see :mod:`callbot.notify.worker`). ``message_id`` is fixed
  when the row is written, so every attempt sends the same Message-ID.
* ``outbox_attempts`` — every attempt: when, how far the SMTP/HTTP exchange got (``stage``),
  the result (``delivered``, ``retry``, ``failed``, ``interrupted``, ``unconfirmed``) and the
  server's answer.

Both go with their call (``ON DELETE CASCADE``): deleting a call deletes its notifications.
"""

from __future__ import annotations

from sqlite_utils import Database


def migrate(db: Database) -> None:
    """Create the outbox tables."""
    db.execute("""
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            call_id INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
            rule INTEGER NOT NULL,
            channel TEXT NOT NULL CHECK (channel IN ('mail', 'webhook')),
            target TEXT NOT NULL,
            language TEXT NOT NULL,
            attach INTEGER NOT NULL DEFAULT 0,
            message_id TEXT NOT NULL UNIQUE,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sending', 'delivered', 'failed', 'unconfirmed')),
            created_at TEXT NOT NULL,
            next_attempt_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            final_at TEXT,
            final_answer TEXT,
            UNIQUE (call_id, rule, channel, target)
        )""")
    db.execute("CREATE INDEX outbox_due ON outbox (state, next_attempt_at)")
    db.execute("CREATE INDEX outbox_call ON outbox (call_id)")
    db.execute("""
        CREATE TABLE outbox_attempts (
            id INTEGER PRIMARY KEY,
            outbox_id INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
            started_at TEXT NOT NULL,
            stage TEXT NOT NULL DEFAULT 'connecting',
            finished_at TEXT,
            result TEXT,
            answer TEXT
        )""")
    db.execute("CREATE INDEX outbox_attempts_entry ON outbox_attempts (outbox_id)")
