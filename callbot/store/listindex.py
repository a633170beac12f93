"""The caller lists in memory, for the INVITE path: no SQLite between an INVITE and its decision.

:class:`ListIndex` holds the active entries (confirmed, not removed, not yet
expired — entries that expire later are kept: :func:`callbot.lists.match`
checks the expiry against the call's time) and the lists' *generation*, a
counter the triggers of migration ``0006_list_generation`` raise on every
change of ``list_entries``, whichever process makes it. It is refreshed

* at once when this process changes the lists: a commit hook of the writer
  thread (:meth:`callbot.store.writer.Writer.on_commit`) compares the
  generation after each write and reloads before the write's future answers;
* within ``interval`` seconds when another process (``callbot lists``, the web
  page) changes them: a background thread reads the generation every
  ``interval`` and reloads the entries when it moved.

A database that is locked or fails during a refresh keeps the last loaded
entries in use; the problem is logged once (and its end once).
"""

from __future__ import annotations

import logging
import threading

from sqlite_utils import Database

from callbot.records import ListEntry
from callbot.store.lists import snapshot
from callbot.store.store import Store

log = logging.getLogger("callbot.store")

#: How often the generation is polled for changes made by other processes (seconds).
POLL_INTERVAL = 1.0


class ListIndex:
    """The active list entries of ``store``'s file, kept current (see the module docstring)."""

    def __init__(self, store: Store, interval: float = POLL_INTERVAL):
        self.store = store
        self.interval = interval
        self._entries: tuple[ListEntry, ...] = ()
        self._generation: int | None = None
        self._lock = threading.Lock()  # one refresh at a time (poller vs. writer hook)
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def entries(self) -> tuple[ListEntry, ...]:
        """The entries loaded last (a snapshot; never touches the database)."""
        return self._entries

    @property
    def generation(self) -> int | None:
        return self._generation

    def refresh(self) -> bool:
        """Reload if the lists changed (a short read); False if the database could not be read."""
        with self._lock:
            try:
                generation, entries = self.store.list_snapshot(self._generation)
            except Exception as exc:
                self._failed(exc)
                return False
            self._apply(generation, entries)
            return True

    def _after_write(self, db: Database) -> None:
        """Commit hook, on the writer thread: this process changed the lists → reload now."""
        with self._lock:
            try:
                generation, entries = snapshot(db, self.store._now(), self._generation)
            except Exception as exc:
                self._failed(exc)
                return
            self._apply(generation, entries)

    def _apply(self, generation: int, entries: list[ListEntry] | None) -> None:
        if self._failing:
            self._failing = False
            log.info("caller lists readable again")
        if entries is not None:
            self._entries = tuple(entries)
            if self._generation is not None:
                log.info("caller lists reloaded: %d active entries", len(entries))
        self._generation = generation

    def _failed(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            log.warning("caller lists could not be re-read (%s); the %d entries loaded last stay in use",
                        exc, len(self._entries))

    def start(self) -> None:
        """Load the entries, hook into this process's writes and start polling."""
        if self._thread is not None:
            return
        self.refresh()
        self.store.on_commit(self._after_write)
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="callbot-lists", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self.refresh()

    def stop(self) -> None:
        self._stop.set()
        self.store.remove_commit_hook(self._after_write)
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
