"""The schema: named migrations, applied once each, in order (sqlite-utils style).

``MIGRATIONS`` is append only: a name, once released, must never change. Each
migration runs in its own ``BEGIN IMMEDIATE`` transaction and is recorded in
``_migrations``; :func:`migrate` checks cheaply first, so readers (CLI, web)
never take the write lock when the schema is already current.

Also here: the SQL of the full-text index ``calls_fts`` (one row per call,
rowid = call id), which migration 0005 creates with its triggers and
:mod:`callbot.store.bulk` fills for many calls at once.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from sqlite_utils import Database

from callbot.store import schema_inbox, schema_outbox, schema_users

from callbot.errors import StoreError
from callbot.store.connection import describe, immediate

log = logging.getLogger("callbot.store")


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
FTS_FILL = """
    INSERT INTO calls_fts (rowid, transcript, person, company, caller_display, turns)
    SELECT id, transcript, person, company, caller_display, turns FROM (
        SELECT c.id AS id, c.transcript AS transcript, c.person AS person, c.company AS company,
               c.caller_display AS caller_display,
               (SELECT group_concat(t.text, ' ') FROM turns t
                 WHERE t.call_id = c.id AND t.speaker = 'caller' AND t.text IS NOT NULL) AS turns
          FROM calls c WHERE {where}
    ) WHERE coalesce(transcript, person, company, caller_display, turns) IS NOT NULL
"""


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
    db.execute(FTS_FILL.format(where="1"))
    # Each filter of search_calls() pages newest first by an index scan.
    db.execute("CREATE INDEX idx_calls_outcome_started ON calls(outcome, started_at)")
    db.execute("CREATE INDEX idx_calls_label_started ON calls(label, started_at)")
    db.execute("CREATE INDEX idx_calls_number_started ON calls(caller_number, started_at)")
    db.execute("CREATE INDEX idx_calls_dialled_started ON calls(caller_dialled, started_at)")


def _m0006(db: Database) -> None:
    """A generation counter of the caller lists, raised by triggers on every change of
    ``list_entries`` by any process (CLI, web page, bot): the bot's in-memory index
    (:mod:`callbot.store.listindex`) reloads when it moved."""
    db.execute("CREATE TABLE list_generation (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)")
    db.execute("INSERT INTO list_generation (id, n) VALUES (1, 0)")
    for event in ("INSERT", "UPDATE", "DELETE"):
        db.execute(f"CREATE TRIGGER list_entries_generation_{event.lower()} AFTER {event} ON list_entries "
                   "BEGIN UPDATE list_generation SET n = n + 1 WHERE id = 1; END")


def _m0007(db: Database) -> None:
    """The write journal's mark (:mod:`callbot.store.durable`): the sequence number of the last
    journal entry applied, written in that entry's transaction, so a replay applies each once."""
    db.execute("CREATE TABLE write_journal (id INTEGER PRIMARY KEY CHECK (id = 1), applied INTEGER NOT NULL)")
    db.execute("INSERT INTO write_journal (id, applied) VALUES (1, 0)")


# Ordered; append only. A name, once released, must never change.
MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("0001_calls_and_events", _m0001),
    ("0002_turns_and_screening", _m0002),
    ("0003_leads", _m0003),
    ("0004_caller_lists", _m0004),
    ("0005_call_search", _m0005),
    ("0006_list_generation", _m0006),
    ("0007_write_journal", _m0007),
    ("0008_outbox", schema_outbox.migrate),
    ("0009_users", schema_users.migrate),
    ("0010_inbox", schema_inbox.migrate),
]
SCHEMA_VERSION = len(MIGRATIONS)

_MIGRATIONS_DDL = "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)"


def migrate(db: Database, path: Path, now: Callable[[], str]) -> None:
    """Apply the migrations of ``MIGRATIONS`` the file ``path`` lacks; ``now`` stamps them."""
    def applied() -> set[str]:
        if not db["_migrations"].exists():
            return set()
        return {row["name"] for row in db.query("SELECT name FROM _migrations")}

    # Cheap check first, so readers (CLI, web) never take the write lock
    # when the schema is already current.
    if all(name in applied() for name, _ in MIGRATIONS):
        return
    for name, apply in MIGRATIONS:
        # Re-check under the write lock: another process may have applied
        # it between our check and getting the lock.
        with immediate(db):
            db.execute(_MIGRATIONS_DDL)
            if name in applied():
                continue
            log.info("applying migration %s to %s", name, path)
            try:
                apply(db)
            except sqlite3.Error as exc:
                raise StoreError(
                    f"migration {name} failed on {path}: {describe(exc)}"
                ) from exc
            db["_migrations"].insert({"name": name, "applied_at": now()})
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def applied_migrations(db: Database) -> list[str]:
    """Names of the applied migrations, in the order they were applied."""
    return [row["name"] for row in db.query("SELECT name FROM _migrations ORDER BY applied_at, rowid")]
