"""Durable writes: a write described as data, so it can wait in the journal and survive a restart.

A closure cannot be written to a file, so the call log's own writes (the call's row,
events, turns, leads, results, its end; :mod:`callbot.store.calls`) are :class:`Op`
values instead: the name of a registered operation and its JSON arguments. The
writer (:mod:`callbot.store.writer`) applies an Op by looking its name up in
:data:`OPS`; the journal (:mod:`callbot.store.journal`) stores it as one JSON line.
Other writes (list entries, erasure, bulk imports) stay closures: they are retried
in memory like every write, but not carried over a restart.

``write_journal`` (migration 0007) holds the sequence number of the last journal
entry applied, updated in the same transaction as the entry itself: a replay after
a crash skips what was already applied, so an event is never written twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

#: Registered operations: name → function(db, args) → result (the Future's value).
OPS: dict[str, Callable[[Database, dict[str, Any]], Any]] = {}


@dataclass(frozen=True)
class Op:
    """One durable write: ``OPS[name](db, args)``; ``call_id`` and ``label`` name it in log lines."""

    name: str
    args: dict[str, Any]
    call_id: int | None
    label: str

    def to_json(self) -> dict[str, Any]:
        return {"op": self.name, "call": self.call_id, "label": self.label, "args": self.args}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Op:
        return cls(data["op"], data["args"], data.get("call"), data.get("label") or data["op"])


def operation(name: str) -> Callable[[Callable[[Database, dict[str, Any]], Any]], Callable]:
    """Register ``function(db, args)`` as the durable operation ``name`` (never rename one: old
    journals name it)."""

    def register(function: Callable[[Database, dict[str, Any]], Any]) -> Callable:
        OPS[name] = function
        return function

    return register


def apply(db: Database, op: Op) -> Any:
    try:
        function = OPS[op.name]
    except KeyError:
        raise LookupError(f"unknown durable write {op.name!r}") from None
    return function(db, op.args)


def applied_mark(db: Database) -> int:
    """Sequence number of the last journal entry applied to this file (0: none, or an old schema)."""
    if not db["write_journal"].exists():
        return 0
    row = db.execute("SELECT applied FROM write_journal WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def set_mark(db: Database, seq: int) -> None:
    """Inside the entry's transaction: entry ``seq`` is applied."""
    if db["write_journal"].exists():
        db.execute("UPDATE write_journal SET applied = max(applied, ?) WHERE id = 1", [seq])
