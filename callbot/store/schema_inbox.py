"""The schema of the inbox tables (migration ``0010_inbox``, registered in :mod:`callbot.store.migrations`).

Its own module so the office features can grow their tables without touching the registry.
"""

from __future__ import annotations

from sqlite_utils import Database


def migrate(db: Database) -> None:
    """Create the inbox tables (filled in by the feature that owns them)."""
