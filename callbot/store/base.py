"""What every part of the :class:`~callbot.store.store.Store` shares.

:class:`StoreBase` holds the file's path, the clock, the default region and the
writer; it gives the concern classes (calls, reads, bulk, lists, search,
erasure) their three ways to the file: ``_submit`` a write job to the one
writer thread, open a ``_reader`` connection for a read, and ``_now`` for a
timestamp taken on the caller's thread. The number look-ups several concerns
share live here too.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

from sqlite_utils import Database

from callbot import numbers
from callbot.store.connection import reader
from callbot.store.writer import Job, T, Writer
from callbot.times import format_time

#: How long the synchronous writes (finalize_interrupted, suggest_blocks) wait for the writer.
SYNC_TIMEOUT = 60.0


class StoreBase:
    """The plumbing of the Store; the concern classes subclass it, :class:`Store` sets it up."""

    _path: Path
    _clock: Callable[[], datetime]
    _writer: Writer
    #: Country of numbers written without a country code (list entries, number look-ups).
    default_region: str

    def _submit(self, label: str, job: Job[T]) -> Future[T]:
        """Queue a write for the writer thread; see :mod:`callbot.store.writer`."""
        return self._writer.submit(label, job)

    def _reader(self) -> AbstractContextManager[Database]:
        """A short-lived, query-only connection for one read."""
        return reader(self._path)

    def _now(self) -> str:
        return format_time(self._clock())

    def _variants(self, number: str) -> list[str]:
        variants = list(numbers.number_variants(number, self.default_region))
        if not variants:
            raise ValueError("give a phone number")
        return variants

    def _number_clause(self, number: str) -> tuple[str, list[str]]:
        """Calls of ``number``: its E.164 form in caller_number, or as received in caller_dialled."""
        variants = self._variants(number)
        marks = ",".join("?" * len(variants))
        return f"(caller_number IN ({marks}) OR caller_dialled IN ({marks}))", variants + variants

