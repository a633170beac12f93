"""The schema of the outbox tables (migration ``0008_outbox``, registered in :mod:`callbot.store.migrations`).

Its own module so the office features can grow their tables without touching the registry.
"""

from __future__ import annotations

from sqlite_utils import Database


def migrate(db: Database) -> None:
    """Create the outbox tables (filled in by the feature that owns them)."""
