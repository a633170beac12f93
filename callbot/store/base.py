"""What every part of the :class:`~callbot.store.store.Store` shares.

:class:`StoreBase` holds the file's path, the clock, the default region and the
writer; it gives the concern classes (calls, reads, bulk, lists, search,
erasure) their ways to the file: ``_submit`` a write job (a closure) or
``_submit_op`` a durable write (:mod:`callbot.store.durable`) to the one writer
thread, open a ``_reader`` connection for a read, and ``_now`` for a timestamp
taken on the caller's thread; and the process's call id counter (``_ids``,
:mod:`callbot.store.callids`) for the concerns that insert calls. The number
look-ups several concerns share live here too.

Claiming the call ids also opens the write journal (:mod:`callbot.store.journal`):
only the process that inserts calls keeps one. Its entries left by an earlier run
are handed to the writer to apply first, and the call ids they name count as
used (a call whose row waits in the journal keeps its id).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

from sqlite_utils import Database

from callbot import numbers
from callbot.store import callids
from callbot.store.connection import reader
from callbot.store.durable import Op, applied_mark
from callbot.store.journal import Journal
from callbot.store.writer import Job, T, Writer
from callbot.times import format_time

log = logging.getLogger("callbot.store")

#: How long the synchronous writes (finalize_interrupted, suggest_blocks) wait for the writer.
SYNC_TIMEOUT = 60.0

_CLAIM_LOCK = threading.Lock()


class StoreBase:
    """The plumbing of the Store; the concern classes subclass it, :class:`Store` sets it up."""

    _path: Path
    _clock: Callable[[], datetime]
    _writer: Writer
    #: Country of numbers written without a country code (list entries, number look-ups).
    default_region: str

    def _submit(self, label: str, job: Job[T], future: Future[T] | None = None) -> Future[T]:
        """Queue a write for the writer thread; see :mod:`callbot.store.writer`."""
        return self._writer.submit(label, job, future)

    def _submit_op(self, name: str, args: dict, call_id: int | None, label: str,
                   future: Future | None = None) -> Future:
        """Queue a durable write ``OPS[name](db, args)``: it survives a locked or full database
        and a stop (see :mod:`callbot.store.writer`)."""
        return self._writer.submit_op(Op(name, args, call_id, label), future)

    _call_ids: callids.CallIds | None = None

    def claim_call_ids(self) -> None:
        """Become the process that inserts calls into this file (the bot does this at start).

        Reads the highest call id once; raises StoreError if another process (a
        second bot) already inserts calls here. :meth:`start_call` claims on demand.
        """
        self._ids()

    def _ids(self) -> callids.CallIds:
        ids = self._call_ids
        if ids is None:
            opened: list[tuple[Journal, int]] = []

            def highest() -> int:
                with self._reader() as db:
                    in_file, mark = callids.highest_call_id(db), applied_mark(db)
                journal = self._open_journal()
                if journal is None:
                    return in_file
                opened.append((journal, mark))
                return max(in_file, journal.highest_call_id)

            with _CLAIM_LOCK:
                ids = self._call_ids
                if ids is None:
                    try:
                        ids = self._call_ids = callids.claim(self._path, highest)
                    except BaseException:
                        for journal, _ in opened:
                            journal.close()
                        raise
                    for journal, mark in opened:
                        self._writer.attach_journal(journal, mark)
        return ids

    def _open_journal(self) -> Journal | None:
        try:
            journal = Journal.open(self._path)
        except OSError as exc:
            log.error("cannot open the write journal of %s (%s): writes the database does not take "
                      "wait in memory only", self._path, exc.strerror or exc)
            return None
        if journal is None:
            log.debug("the write journal of %s is kept by another Store of this process", self._path)
        return journal

    def _release_call_ids(self) -> None:
        with _CLAIM_LOCK:
            ids, self._call_ids = self._call_ids, None
        if ids is not None:
            callids.release(ids)

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

