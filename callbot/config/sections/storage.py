"""The ``[storage]`` and ``[retention]`` sections -> the store's settings
(:mod:`callbot.store.settings`); the database's folder and the recordings folder
must be writable or creatable, ``storage.min_free_mb`` is a number of megabytes.

:func:`database_problems` and :func:`folder_problems` are also what
:mod:`callbot.preflight` checks before the bot starts (on configs built in code
too), so the loader and `callbot check` / `callbot run` say the same thing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callbot.config.reader import Reader, check_writable_dir
from callbot.store.settings import (
    DEFAULT_DATABASE,
    DEFAULT_RECORDINGS,
    MIN_FREE_MB_MAX,
    RETENTION_DAYS_MAX,
    RetentionSettings,
    StorageSettings,
)


def load_storage(r: Reader, t: dict[str, Any], base: Path) -> StorageSettings:
    database = r.path(t, "storage", "database", DEFAULT_DATABASE, base)
    recordings = r.path(t, "storage", "recordings", DEFAULT_RECORDINGS, base)
    for problem in database_problems(database) if database is not None else ():
        r.add(problem)
    for problem in folder_problems("storage.recordings", recordings) if recordings is not None else ():
        r.add(problem)
    d = StorageSettings(database=base / DEFAULT_DATABASE, recordings=base / DEFAULT_RECORDINGS)
    return StorageSettings(
        database=database if database is not None else d.database,
        recordings=recordings if recordings is not None else d.recordings,
        record=r.boolean(t, "storage", "record", d.record),
        min_free_mb=r.integer(t, "storage", "min_free_mb", d.min_free_mb, 0, MIN_FREE_MB_MAX),
    )


def load_retention(r: Reader, t: dict[str, Any]) -> RetentionSettings:
    d = RetentionSettings()
    return RetentionSettings(
        days=r.integer(t, "retention", "days", d.days, 0, RETENTION_DAYS_MAX),
        keep_call_rows=r.boolean(t, "retention", "keep_call_rows", d.keep_call_rows),
    )


def database_problems(database: Path) -> list[str]:
    """Why ``storage.database`` cannot be the call log's path: a directory, or its folder
    neither writable nor creatable (one line each, with the key and the fix)."""
    database = Path(database)
    r = Reader({})
    try:
        if database.is_dir():
            r.add(f"storage.database: {database} is a directory — give a file path such as data/callbot.db")
        else:
            check_writable_dir(r, "storage.database", database.parent, what="the database's folder")
    except OSError as exc:
        r.add(f"storage.database: cannot check {database} ({exc.strerror or exc}) — choose another path")
    return r.problems


def folder_problems(key: str, directory: Path, what: str = "") -> list[str]:
    """Why the folder setting ``key`` cannot be used: neither a writable folder nor creatable."""
    r = Reader({})
    try:
        check_writable_dir(r, key, Path(directory), what=what)
    except OSError as exc:
        r.add(f"{key}: cannot check {directory} ({exc.strerror or exc}) — choose another path")
    return r.problems
