"""What waits while the call log does not take writes: the queue's items, retry pauses, the journal.

The writer thread (:mod:`callbot.store.writer`, whose docstring says what happens in
each fault) keeps the writes it has taken off its queue in a ``held`` deque, in
order. :class:`Backlog` is its state while the file does not take writes: when the
trouble began, the pause before the next try, and the journal
(:mod:`callbot.store.journal`) that spilled writes wait in. A spilled write stays in
``held`` as an :class:`Item` without its write (``work`` None, ``seq`` its entry), so
the order is kept and memory holds only its Future.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from callbot.errors import StoreError
from callbot.store.connection import describe
from callbot.store.durable import Op
from callbot.store.journal import Journal

log = logging.getLogger("callbot.store")

#: First pause before retrying a write that failed for a passing reason; doubles up to the cap.
RETRY_FIRST = 0.05
RETRY_CAP = 5.0


class Replay:
    """Queue item: the journal left by an earlier run is attached; its entries go first."""

    def __init__(self, journal: Journal, mark: int):
        self.journal = journal
        self.mark = mark


class Item:
    """A queued write. ``work`` is a Job, an Op, or None once spilled (its Op is journal entry ``seq``)."""

    __slots__ = ("label", "work", "future", "seq", "started", "since")

    def __init__(self, label: str, work: Any, future: Future | None, seq: int | None = None):
        self.label = label
        self.work = work
        self.future = future
        self.seq = seq
        self.started = False
        self.since: float | None = None  # first failure that passes (closures give up after a while)



class Backlog:
    """The writer thread's trouble state and journal (used by that thread only)."""

    def __init__(self, path: Path):
        self.path = path
        self.journal: Journal | None = None
        self.mark = 0                # entries up to this seq were applied before the journal was attached
        self.next_seq = 1
        self.since: float | None = None
        self.pause = RETRY_FIRST
        self.journal_failed = False
        self.spilled = 0             # writes in the journal, not yet applied

    def attach(self, replay: Replay, held: deque[Any]) -> None:
        """Use the journal; the entries an earlier run left go before anything queued now."""
        journal = replay.journal
        self.journal, self.mark = journal, replay.mark
        self.next_seq = max(replay.mark, journal.highest_seq) + 1
        left = [seq for seq in journal.seqs if seq > replay.mark]
        if left:
            log.warning("replaying %d call log write(s) carried over in %s", len(left), journal.path)
        held.extendleft(reversed([Item(f"journal entry {seq}", None, None, seq) for seq in journal.seqs]))
        self.spilled += len(journal.seqs)

    def head(self) -> tuple[int, Op]:
        assert self.journal is not None
        return self.journal.head()

    def consumed(self, item: Item) -> None:
        """A spilled write is applied (or skipped for good)."""
        if item.work is None and self.journal is not None:
            self.journal.advance()
            self.spilled -= 1

    def recovered(self) -> None:
        if self.since is not None:
            log.warning("call log %s takes writes again after %.1f s", self.path, time.monotonic() - self.since)
            self.since, self.pause, self.journal_failed = None, RETRY_FIRST, False

    def trouble(self, item: Item, exc: Exception) -> None:
        """``item`` failed for a reason that passes: say so once, lengthen the pause."""
        if self.since is None:
            self.since = time.monotonic()
            where = f"they wait in {self.journal.path}" if self.journal is not None else "they wait in memory"
            log.warning("call log %s does not take writes (%s: %s); retrying, %s",
                        self.path, item.label, describe(exc), where)
        else:
            self.pause = min(self.pause * 2, RETRY_CAP)

    def spill(self, held: deque[Any]) -> int:
        """Append every durable write held in memory to the journal (all or none); how many."""
        journal = self.journal
        if journal is None:
            return 0
        todo = [item for item in held if isinstance(item, Item) and isinstance(item.work, Op)]
        if not todo:
            return 0
        entries = [(self.next_seq + n, item.work) for n, item in enumerate(todo)]
        try:
            journal.append(entries)
        except OSError as exc:
            if not self.journal_failed:
                self.journal_failed = True
                log.error("cannot write the write journal %s (%s): %d call log write(s) wait in memory only "
                          "and are lost if the bot stops before the database takes them",
                          journal.path, exc.strerror or exc, len(todo))
            return 0
        self.next_seq += len(todo)
        for (seq, _), item in zip(entries, todo):
            item.work, item.seq = None, seq
        self.spilled += len(todo)
        return len(todo)

    def compact(self) -> None:
        if self.journal is not None:
            try:
                self.journal.compact()
            except OSError as exc:
                log.warning("cannot empty the write journal %s: %s", self.journal.path, exc)

    def carry_over(self, held: deque[Any]) -> None:
        """close() gave up on a file that does not take writes: keep what can be kept for the next start."""
        kept = lost = 0
        for item in held:
            if not isinstance(item, Item):
                continue
            if item.work is None:
                kept += 1
                if item.future is not None and not item.future.done():
                    item.future.set_exception(StoreError(f"call log write {item.label} carried over to the next start"))
                continue
            if item.label != "flush":
                lost += 1
                log.error("call log write %s LOST at stop: the database did not take it and it could not be "
                          "kept in the write journal", item.label)
            if item.future is not None and not item.future.done():
                item.future.set_exception(StoreError(f"call log write {item.label} lost at stop"))
        if kept and self.journal is not None:
            log.warning("call log %s still does not take writes at stop: %d write(s) carried over in %s; "
                        "they are written at the next start", self.path, kept, self.journal.path)
        if lost:
            log.error("%d call log write(s) lost at stop", lost)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()
