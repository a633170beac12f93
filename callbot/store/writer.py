"""The ONE writer thread: every write of the call log is a job on its queue, applied in order, never lost.

:meth:`Writer.submit` (a closure over the writer's connection) and
:meth:`Writer.submit_op` (a durable :class:`~callbot.store.durable.Op`: the call
log's own writes) put a write on a queue and return a
:class:`concurrent.futures.Future` at once; the caller never waits for SQLite.
One thread, owning its own connection, applies the writes in order, each in its
own ``BEGIN IMMEDIATE`` transaction, and resolves each Future with the write's
result once it is committed.

What happens when a write fails
-------------------------------
* **It will pass** (:func:`callbot.store.connection.transient`: the file is
  locked by a backup or a ``sqlite3`` shell, busy, the disk is full or failing):
  the write stays at the head of the queue and is retried with a growing pause
  (``RETRY_FIRST`` doubling up to ``RETRY_CAP``); nothing behind it overtakes it.
  One WARNING says so when it starts and one when the file takes writes again.
  While it lasts every durable write waiting in memory — and every new one, as it
  arrives — is *spilled* to the journal (:mod:`callbot.store.journal`, appended
  and fsync'd), so a crash or a stop does not lose it; memory keeps only a small
  placeholder per spilled write (its Future). Once the file takes writes again the
  journal is applied in order and emptied.
  A closure (a write that is not durable: list entries, erasure, imports; its
  caller usually waits for it) gives up after ``CLOSURE_PATIENCE`` seconds of
  that, as SQLite's busy timeout did before: ERROR, its Future gets a StoreError.
* **It will fail again** (a constraint violated, a call id that does not exist, a
  bug): logged at ERROR with the write's label (which names the call) and skipped,
  its Future gets the :class:`StoreError`; the queue goes on.
* **The journal cannot be written either** (it is on the same full disk, or there
  is none: only the process that inserts calls keeps one): ERROR once per outage;
  the writes wait in memory and are retried. Memory holds at most
  ``MEMORY_LIMIT`` writes that are not in the journal: past it a new write is
  refused and logged at ERROR with what it was (never silently dropped).
* **close() while the file is locked**: the queue is given ``timeout`` seconds
  to drain; then the writer spills what is left, stops, and logs how many writes
  were carried over to the next start (and at ERROR each write that could not be
  kept: closures, or all of them with no journal). ``close()`` never waits longer
  than ``timeout`` + ``GIVE_UP_GRACE``.

Commit hooks (:meth:`Writer.on_commit`) run on the writer thread after each
committed write and before its Future is resolved, with the writer's
connection: the in-memory list index (:mod:`callbot.store.listindex`) uses one,
so a list change made through this process is in the index by the time its
Future answers.
"""

from __future__ import annotations

import errno
import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from callbot.errors import StoreError
from callbot.store import durable
from callbot.store.connection import BUSY_TIMEOUT, WRITER_BUSY_TIMEOUT, connect_writer, describe, immediate, transient
from callbot.store.durable import Op
from callbot.store.backlog import Backlog, Item, Replay
from callbot.store.journal import Journal

log = logging.getLogger("callbot.store")

T = TypeVar("T")

#: A write: runs on the writer thread inside its own transaction.
Job = Callable[[Database], T]

#: Writes held in memory that are not in the journal (see the module docstring).
MEMORY_LIMIT = 50_000
#: How long a closure (not durable) is retried before it fails with StoreError.
CLOSURE_PATIENCE = BUSY_TIMEOUT
#: After close()'s timeout, how long the thread gets to spill and stop.
GIVE_UP_GRACE = WRITER_BUSY_TIMEOUT + 5.0


class _Stop:
    """Queue sentinel: the writer thread finishes after this item."""


_STOP = _Stop()


_RETRY = object()


def _flush(db: Database) -> None:
    """The flush barrier's job (never run: answered when it reaches the head of the queue)."""


class Writer:
    """The queue and the thread that applies its writes to the file ``path``."""

    def __init__(self, path: Path):
        self._path = path
        self._queue: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._give_up = threading.Event()
        self._hooks: list[Callable[[Database], None]] = []
        self._in_memory = 0          # queued writes not in the journal (MEMORY_LIMIT)
        self._backlog = Backlog(path)  # owned by the writer thread

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def waiting(self) -> int:
        """Writes queued and not yet applied (in memory or in the journal); approximate."""
        return self._in_memory + self._backlog.spilled

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

    # -- lifecycle ---------------------------------------------------------------

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

    def attach_journal(self, journal: Journal, mark: int) -> None:
        """Keep spilled writes in ``journal``; its entries left by an earlier run (those after
        ``mark``, the last one the file has applied) are applied before anything else."""
        with self._lock:
            if self._closed:
                journal.close()
                return
            self._start_locked()
            self._queue.put(Replay(journal, mark))

    def close(self, timeout: float = 10.0) -> None:
        """Apply every queued write, then stop the writer thread; see the module docstring
        for a file that stays locked longer than ``timeout``."""
        with self._lock:
            thread = self._thread
            if not self._closed:
                self._closed = True
                if thread is not None:
                    self._queue.put(_STOP)
        if thread is None:
            return
        thread.join(timeout)
        if thread.is_alive():
            self._give_up.set()
            thread.join(GIVE_UP_GRACE)
        if thread.is_alive():
            raise StoreError(
                f"the call log writer did not stop within {timeout + GIVE_UP_GRACE:g}s; "
                f"about {self.waiting} writes still queued"
            )

    # -- submitting --------------------------------------------------------------

    def submit(self, label: str, job: Job[T], future: Future[T] | None = None) -> Future[T]:
        """Queue ``job``; ``label`` names it in log lines and errors. ``future`` (a
        fresh one, e.g. a subclass carrying more) is resolved instead of a new one."""
        return self._put(Item(label, job, Future() if future is None else future))

    def submit_op(self, op: Op, future: Future | None = None) -> Future:
        """Queue a durable write (it can wait in the journal; see the module docstring)."""
        return self._put(Item(op.label, op, Future() if future is None else future))

    def _put(self, item: Item) -> Future:
        future = item.future
        assert future is not None
        with self._lock:
            if self._closed:
                log.error("call log write %s after close(); dropped", item.label)
                future.set_exception(StoreError(f"call log write {item.label} after the log was closed"))
                return future
            if self._in_memory >= MEMORY_LIMIT:
                log.error("call log write %s LOST: the database and the write journal have not taken "
                          "writes for a while and %d writes already wait in memory", item.label, self._in_memory)
                future.set_exception(StoreError(f"call log write {item.label} lost: too many writes waiting"))
                return future
            self._start_locked()
            self._in_memory += 1
            self._queue.put(item)
        return future

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every write queued so far has been applied."""
        with self._lock:
            if self._thread is None or self._closed:
                thread = self._thread
                barrier = None
            else:
                barrier = Future()
                self._in_memory += 1
                self._queue.put(Item("flush", _flush, barrier))
        if barrier is None:
            if thread is not None:
                thread.join(timeout)
            return
        barrier.result(timeout)

    # -- the thread --------------------------------------------------------------

    def _run(self, db: Database) -> None:
        held: deque[Any] = deque()
        try:
            while True:
                if not held:
                    self._backlog.compact()
                    self._take(held, block=True)
                    continue
                item = held[0]
                if item is _STOP:
                    return
                if self._attempt(db, item) is _RETRY:
                    self._wait_to_retry(held)
                    if self._give_up.is_set():
                        self._backlog.spill(held)
                        self._backlog.carry_over(held)
                        return
                    continue
                held.popleft()
                self._left_memory(item)
                self._backlog.recovered()
        finally:
            self._backlog.close()
            db.close()

    def _take(self, held: deque[Any], block: bool, timeout: float | None = None) -> None:
        """Move what is queued into ``held`` (waiting for the first item when ``block``)."""
        try:
            item = self._queue.get(block, timeout)
        except queue.Empty:
            return
        while True:
            if isinstance(item, Replay):
                self._backlog.attach(item, held)
            else:
                held.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return

    def _attempt(self, db: Database, item: Item) -> Any:
        """Apply ``item`` once; _RETRY when it failed for a reason that passes."""
        if item.future is not None and not item.started:
            item.started = True
            if not item.future.set_running_or_notify_cancel():
                if not isinstance(item.work, Op) and item.work is not None:
                    return None  # a cancelled closure is not applied
                item.future = None  # a durable write is, whoever stopped waiting for it
        future = item.future
        work, seq = item.work, item.seq
        if work is _flush:  # everything before it is applied (or skipped): no transaction needed
            future.set_result(None)
            return None
        try:
            if work is None:  # spilled: the write is the journal's head entry
                try:
                    seq, work = self._backlog.head()
                except OSError as exc:
                    if exc.errno != errno.ENODATA:
                        raise
                    log.error("call log write %s is missing from the write journal; lost", item.label)
                    self._backlog.spilled -= 1
                    if future is not None:
                        future.set_exception(StoreError(f"call log write {item.label} lost"))
                    return None
                item.label = work.label
            if seq is not None and seq <= self._backlog.mark:  # applied before a crash: not twice
                self._backlog.consumed(item)
                return None
            with immediate(db):
                result = durable.apply(db, work) if isinstance(work, Op) else work(db)
                if seq is not None:
                    durable.set_mark(db, seq)
        except Exception as exc:
            if transient(exc) or isinstance(exc, OSError):
                if work is None or isinstance(work, Op) or not self._impatient(item):
                    self._backlog.trouble(item, exc)
                    return _RETRY
                exc = StoreError(f"call log write {item.label} gave up after {CLOSURE_PATIENCE:g} s: "
                                 f"{describe(exc)}")
            self._skip(db, item, seq, exc)
            return None
        self._after_commit(db)
        if seq is not None:
            self._backlog.consumed(item)
        if future is not None:
            future.set_result(result)
        return None

    @staticmethod
    def _impatient(item: Item) -> bool:
        now = time.monotonic()
        if item.since is None:
            item.since = now
        return now - item.since >= CLOSURE_PATIENCE

    def _skip(self, db: Database, item: Item, seq: int | None, exc: Exception) -> None:
        """A write that will fail again: ERROR, its Future fails, the queue goes on."""
        if isinstance(exc, StoreError):
            error = exc
            log.error("call log write %s failed and is skipped: %s", item.label, exc)
        else:
            if isinstance(exc, sqlite3.Error):
                log.error("call log write %s failed and is skipped: %s", item.label, describe(exc))
            else:
                log.exception("call log write %s failed unexpectedly and is skipped", item.label)
            error = StoreError(f"call log write {item.label} failed: {describe(exc)}")
            error.__cause__ = exc
        if seq is not None:
            self._backlog.consumed(item)
            try:  # so a replay after a crash does not try it again (best effort)
                with immediate(db):
                    durable.set_mark(db, seq)
            except Exception:
                pass
        if item.future is not None:
            item.future.set_exception(error)

    def _left_memory(self, item: Item) -> None:
        if item.work is not None:
            with self._lock:
                self._in_memory -= 1

    def _wait_to_retry(self, held: deque[Any]) -> None:
        """Spill what waits, then pause (spilling new writes as they come) before the next try."""
        deadline = time.monotonic() + self._backlog.pause
        while True:
            spilled = self._backlog.spill(held)
            if spilled:
                with self._lock:
                    self._in_memory -= spilled
            left = deadline - time.monotonic()
            if left <= 0 or self._give_up.is_set():
                return
            self._take(held, block=True, timeout=min(left, 0.1))
