"""The call log: :class:`Store`, a SQLite database of calls and their events.

The file is plain tables with foreign keys (no blobs, no JSON columns), so
Datasette or the ``sqlite3`` shell can read it as is. The Store is composed of
one class per concern (each a module of this package) over a shared base
(:mod:`callbot.store.base`); this module opens the file and runs its lifecycle.

Threading model
---------------
* Writes never run on the caller's thread. Every write method puts a job on a
  queue and returns a :class:`concurrent.futures.Future` at once; ONE writer
  thread (:mod:`callbot.store.writer`), owning its own connection, applies the
  jobs in order, each in its own ``BEGIN IMMEDIATE`` transaction.
* A write is never dropped silently (:mod:`callbot.store.writer` has the details):
  one that fails for a reason that passes — the file locked by a backup or a
  ``sqlite3`` shell, a full or failing disk — is retried with a growing pause
  (at most ``RETRY_CAP``), in order, while the call log's own writes wait in the
  write journal ``<file>.journal`` (:mod:`callbot.store.journal`) and are applied
  once the file takes writes again; one that will fail again (a constraint, a
  missing call) is logged at ERROR and skipped, its Future gets the
  :class:`StoreError`. :meth:`Store.close` waits a bounded time: what a locked
  file has not taken by then stays in the journal and is written at the next
  start (the count is logged).
* Reads open a short-lived, query-only connection per call, so CLI and web
  readers never share the writer's connection (WAL lets them read while the
  writer writes).
* Timestamps are taken on the caller's thread when a write method is called,
  not when the writer gets round to the job.
* A new call's id is handed out by the process itself
  (:mod:`callbot.store.callids`), so :meth:`Store.start_call` answers at once;
  one process per file inserts calls (a second bot is refused).

Times are ISO-8601 UTC strings with milliseconds: ``2026-11-22T14:35:01.123Z``.

Besides the calls themselves (:mod:`callbot.store.calls`) the file holds
* the caller lists (``list_entries``, :mod:`callbot.store.lists`; the matching
  rules are in :mod:`callbot.lists`): :meth:`Store.add_list_entry`,
  :meth:`Store.active_list_entries`, :meth:`Store.suggest_blocks` …;
* ``list_generation``, one counter the triggers of migration 0006 raise on
  every change of ``list_entries`` (from any process), which the bot's
  in-memory list index (:mod:`callbot.store.listindex`) polls;
* a full-text index ``calls_fts`` (transcript, caller turns, person, company,
  shown name; one row per call, rowid = call id) kept in sync by triggers,
  for :meth:`Store.search_calls` and :meth:`Store.caller_timeline`
  (:mod:`callbot.store.search`);
* the writes data protection needs (:mod:`callbot.privacy`,
  :mod:`callbot.store.erasure`): :meth:`Store.erase_call_content`,
  :meth:`Store.delete_calls`, :meth:`Store.delete_list_entries_for_number`.
  The writer connection runs with ``secure_delete`` on, so erased text is
  overwritten in the file.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlite_utils import Database

from callbot.store.bulk import Bulk
from callbot.store.calls import Calls
from callbot.store.connection import open_file
from callbot.store.erasure import Erasure
from callbot.store.inbox import Inbox
from callbot.store.lists import Lists
from callbot.store.migrations import applied_migrations, migrate
from callbot.store.outbox import Outbox
from callbot.store.search import Search
from callbot.store.users import Users
from callbot.store.writer import Writer
from callbot.times import utc_now


class Store(Calls, Lists, Search, Erasure, Bulk, Outbox, Users, Inbox):
    """The call log. See the module docstring for the threading model.

    Opening it creates the file if need be, switches it to WAL and applies the
    missing migrations (:mod:`callbot.store.migrations`); the writer thread
    starts with :meth:`start` or the first write, and :meth:`close` applies
    every queued write before it stops.
    """

    def __init__(self, path: str | Path, clock: Callable[[], datetime] | None = None,
                 default_region: str = "DE"):
        self._path = Path(path)
        self._clock = clock or utc_now
        #: Country of numbers written without a country code (list entries, number look-ups).
        self.default_region = default_region
        self._writer = Writer(self._path)
        open_file(self._path, lambda db: migrate(db, self._path, self._now))

    # -- lifecycle ---------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    def start(self) -> None:
        """Start the writer thread (idempotent). Writes start it on demand too."""
        self._writer.start()

    def close(self, timeout: float = 10.0) -> None:
        """Apply every queued write, then stop the writer thread (and give up the call ids).

        Bounded: after ``timeout`` seconds a file that still does not take writes keeps the
        rest in the write journal for the next start (see :mod:`callbot.store.writer`)."""
        try:
            self._writer.close(timeout)
        finally:
            self._release_call_ids()

    def on_commit(self, hook: Callable[[Database], None]) -> None:
        """Run ``hook(db)`` on the writer thread after each committed write (store-internal:
        the list index, :mod:`callbot.store.listindex`)."""
        self._writer.on_commit(hook)

    def remove_commit_hook(self, hook: Callable[[Database], None]) -> None:
        self._writer.remove_hook(hook)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every write queued so far has been applied."""
        self._writer.flush(timeout)

    @property
    def waiting_writes(self) -> int:
        """Writes queued and not yet in the file (in memory or in the write journal); approximate."""
        return self._writer.waiting

    def __enter__(self) -> Store:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def applied_migrations(self) -> list[str]:
        """Names of the applied migrations, in the order they were applied."""
        with self._reader() as db:
            return applied_migrations(db)
