"""The schema of the inbox tables (migration ``0010_inbox``, registered in :mod:`callbot.store.migrations`).

Which calls are open items is decided when the inbox is read (:mod:`callbot.store.inbox`):
nothing is written on the call path. This migration adds

* ``inbox_items``: one row per call someone changed (made lazily on the first change):
  state (``open`` / ``in_progress`` / ``done``), assignee, due time, and ``auto`` — 1 when the
  call was an open item by its outcome anyway, 0 when a person made it one;
* ``inbox_history``: every change (state, assignee, due, note) with who and when;
* the indexes the inbox page walks newest first: a partial index of the calls that need a
  person by their outcome or label, one of the handoff (transfer) events, and the
  assignee's items;
* a trigger that deletes a call's inbox rows with the call (data protection deletes calls).
"""

from __future__ import annotations

from sqlite_utils import Database

#: The calls that need a person by their own row (the partial index's WHERE; the inbox query
#: repeats it word for word so SQLite uses the index).
NEEDS_PERSON = "((outcome = 'message_taken' OR label = 'genuine') AND outcome <> 'transferred')"
#: The handoff events that mark a transfer attempt (the partial index's WHERE).
TRANSFER_EVENT = "(kind = 'handoff' AND rule = 'transfer')"


def migrate(db: Database) -> None:
    """Create ``inbox_items``, ``inbox_history``, their indexes and the delete trigger."""
    db.execute(
        """
        CREATE TABLE inbox_items (
            call_id INTEGER PRIMARY KEY,
            state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'in_progress', 'done')),
            assignee TEXT,
            due_at TEXT,
            auto INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_inbox_items_assignee ON inbox_items(assignee, state, call_id)")
    db.execute("CREATE INDEX idx_inbox_items_state ON inbox_items(state, auto)")
    db.execute("CREATE INDEX idx_inbox_items_made ON inbox_items(call_id) WHERE auto = 0 AND state <> 'done'")
    db.execute(
        """
        CREATE TABLE inbox_history (
            id INTEGER PRIMARY KEY,
            call_id INTEGER NOT NULL,
            at TEXT NOT NULL,
            who TEXT NOT NULL,
            field TEXT NOT NULL CHECK (field IN ('state', 'assignee', 'due', 'note')),
            old TEXT,
            new TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_inbox_history_call ON inbox_history(call_id, id)")
    db.execute(f"CREATE INDEX idx_calls_inbox ON calls(id) WHERE {NEEDS_PERSON}")
    db.execute(f"CREATE INDEX idx_events_transfer ON events(call_id) WHERE {TRANSFER_EVENT}")
    db.execute(
        "CREATE TRIGGER calls_inbox_delete AFTER DELETE ON calls BEGIN "
        "DELETE FROM inbox_history WHERE call_id = OLD.id; "
        "DELETE FROM inbox_items WHERE call_id = OLD.id; END"
    )
