"""The call log: the only SQLite code of callbot (sqlite3 / sqlite-utils stop here).

One module per concern; the threading model is described in :mod:`callbot.store.store`.

* ``store``       — :class:`Store`: opening the file, lifecycle (start, flush, close); composes the concerns below.
* ``base``        — what the concerns share: submit a write, open a read, the clock, number look-ups.
* ``connection``  — opening connections: busy timeout, ``BEGIN IMMEDIATE``, WAL switch with retry, read-only readers.
* ``writer``      — the ONE writer thread fed by a queue: jobs, futures, retries, what each fault does.
* ``durable``     — durable writes (:class:`Op`: a registered operation + JSON args) and the journal mark.
* ``journal``     — ``<file>.journal``: where durable writes wait while the file is locked or full.
* ``backlog``     — the writer's trouble state: retry pauses, spilling to the journal, carry-over at stop.
* ``migrations``  — the schema: the named migrations registry ``MIGRATIONS``, ``SCHEMA_VERSION``, the search index SQL.
* ``rows``        — SQLite rows to :mod:`callbot.records` (CallRecord, ListEntry), id lists cut for ``IN (...)``.
* ``calls``       — where a call row is written (start_call … finish_call, finalize_interrupted) and read back.
* ``bulk``        — bulk_insert_calls: many finished calls in one transaction (benchmarks, imports).
* ``lists``       — the caller lists' rows (``list_entries``): add, remove, confirm, read, suggest_blocks.
* ``search``      — search_calls over the full-text index (the review page), caller_timeline.
* ``erasure``     — what data protection (:mod:`callbot.privacy`) needs: prunable calls, erase, delete.
* ``settings``    — ``[storage]`` and ``[retention]`` settings, filled by :mod:`callbot.config`.

May import: the records and leaves (callbot.records, callbot.numbers, callbot.outcome,
callbot.times, callbot.errors), sqlite3 and sqlite_utils. Never the domain: list values are
normalised with callbot.numbers, not callbot.lists. Consumers import from the submodules
(``from callbot.store.store import Store``); nothing is re-exported here.
"""
