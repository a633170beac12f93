"""The ``[storage]`` and ``[retention]`` sections -> the store's settings
(:mod:`callbot.store.settings`); the database's folder and the recordings folder
must be writable or creatable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callbot.config.reader import Reader, check_writable_dir
from callbot.store.settings import (
    DEFAULT_DATABASE,
    DEFAULT_RECORDINGS,
    RETENTION_DAYS_MAX,
    RetentionSettings,
    StorageSettings,
)


def load_storage(r: Reader, t: dict[str, Any], base: Path) -> StorageSettings:
    database = r.path(t, "storage", "database", DEFAULT_DATABASE, base)
    recordings = r.path(t, "storage", "recordings", DEFAULT_RECORDINGS, base)
    if database is not None:
        try:
            _check_database(r, database)
        except OSError as exc:
            r.add(f"storage.database: cannot check {database} ({exc.strerror or exc}) — "
                  f"choose another path")
    if recordings is not None:
        try:
            check_writable_dir(r, "storage.recordings", recordings)
        except OSError as exc:
            r.add(f"storage.recordings: cannot check {recordings} ({exc.strerror or exc}) — "
                  f"choose another path")
    return StorageSettings(
        database=database if database is not None else base / DEFAULT_DATABASE,
        recordings=recordings if recordings is not None else base / DEFAULT_RECORDINGS,
        record=r.boolean(t, "storage", "record", StorageSettings.record),
    )


def load_retention(r: Reader, t: dict[str, Any]) -> RetentionSettings:
    d = RetentionSettings()
    return RetentionSettings(
        days=r.integer(t, "retention", "days", d.days, 0, RETENTION_DAYS_MAX),
        keep_call_rows=r.boolean(t, "retention", "keep_call_rows", d.keep_call_rows),
    )


def _check_database(r: Reader, database: Path) -> None:
    if database.is_dir():
        r.add(
            f"storage.database: {database} is a directory — give a file path such as "
            f"data/callbot.db"
        )
        return
    check_writable_dir(r, "storage.database", database.parent, what="the database's folder")

