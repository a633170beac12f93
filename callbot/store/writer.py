"""The ONE writer thread: every write of the call log is a job on its queue.

:meth:`Writer.submit` puts a job (a function of the writer's connection) on a
queue and returns a :class:`concurrent.futures.Future` at once. One thread,
owning its own connection, applies the jobs in order, each in its own
``BEGIN IMMEDIATE`` transaction. A failing job sets the future's exception (a
:class:`StoreError`) and is logged on ``callbot.store``; the thread carries on
with the next job. The thread starts with the first write (or ``start()``)
and stops after the jobs queued before ``close()``.

Commit hooks (:meth:`Writer.on_commit`) run on the writer thread after each
committed job and before its future is resolved, with the writer's
connection: the in-memory list index (:mod:`callbot.store.listindex`) uses
one, so a list change made through this process is in the index by the time
its future answers.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from callbot.errors import StoreError
from callbot.store.connection import connect_writer, describe, immediate

log = logging.getLogger("callbot.store")

T = TypeVar("T")

#: A write: runs on the writer thread inside its own transaction.
Job = Callable[[Database], T]


class _Stop:
    """Queue sentinel: the writer thread finishes after this item."""


_STOP = _Stop()


class Writer:
    """The queue and the thread that applies its jobs to the file ``path``."""

    def __init__(self, path: Path):
        self._path = path
        self._queue: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._hooks: list[Callable[[Database], None]] = []

    @property
    def closed(self) -> bool:
        return self._closed

    def on_commit(self, hook: Callable[[Database], None]) -> None:
        """Run ``hook(db)`` on the writer thread after every committed job (errors are logged)."""
        with self._lock:
            self._hooks = [*self._hooks, hook]

    def remove_hook(self, hook: Callable[[Database], None]) -> None:
        with self._lock:
            self._hooks = [h for h in self._hooks if h is not hook]

    def _after_commit(self, db: Database) -> None:
        for hook in self._hooks:
            try:
                hook(db)
            except Exception:
                log.exception("call log commit hook %r failed", hook)

    def start(self) -> None:
        """Start the writer thread (idempotent). ``submit`` starts it on demand too."""
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._closed:
            raise StoreError("the call log has been closed")
        if self._thread is not None:
            return
        # Opened here so failures surface in start(); used only by the writer.
        db = connect_writer(self._path)
        self._thread = threading.Thread(
            target=self._run, args=(db,), name="callbot-store-writer", daemon=True
        )
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Apply every queued write, then stop the writer thread."""
        with self._lock:
            if self._closed:
                thread = self._thread
            else:
                self._closed = True
                thread = self._thread
                if thread is not None:
                    self._queue.put(_STOP)
        if thread is None:
            return
        thread.join(timeout)
        if thread.is_alive():
            raise StoreError(
                f"the call log writer did not finish within {timeout:g}s; "
                f"{self._queue.qsize()} writes still queued"
            )

    def _run(self, db: Database) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                label, job, future = item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    with immediate(db):
                        result = job(db)
                except StoreError as exc:
                    log.error("call log write %s failed: %s", label, exc)
                    future.set_exception(exc)
                except sqlite3.Error as exc:
                    log.error("call log write %s failed: %s", label, describe(exc))
                    error = StoreError(f"call log write {label} failed: {describe(exc)}")
                    error.__cause__ = exc
                    future.set_exception(error)
                except Exception as exc:  # a bug; keep the writer alive regardless
                    log.exception("call log write %s failed unexpectedly", label)
                    future.set_exception(exc)
                else:
                    self._after_commit(db)
                    future.set_result(result)
        finally:
            db.close()

    def submit(self, label: str, job: Job[T], future: Future[T] | None = None) -> Future[T]:
        """Queue ``job``; ``label`` names it in log lines and errors. ``future`` (a
        fresh one, e.g. a subclass carrying more) is resolved instead of a new one."""
        future = Future() if future is None else future
        with self._lock:
            if self._closed:
                log.error("call log write %s after close(); dropped", label)
                future.set_exception(StoreError(f"call log write {label} after the log was closed"))
                return future
            self._start_locked()
            self._queue.put((label, job, future))
        return future

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every write queued so far has been applied."""
        with self._lock:
            if self._thread is None or self._closed:
                thread = self._thread
                barrier = None
            else:
                barrier = Future()
                self._queue.put(("flush", lambda db: None, barrier))
        if barrier is None:
            if thread is not None:
                thread.join(timeout)
            return
        barrier.result(timeout)
