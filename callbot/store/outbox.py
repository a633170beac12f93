"""The store's part for the notification outbox (what is to be sent, every attempt, delivered/failed).

A mixin of :class:`callbot.store.store.Store`; its tables come from migration
:mod:`callbot.store.schema_outbox`.

The rows are written by the operation that finishes a call (:func:`insert_notifications`, called
inside ``finish_call``'s transaction), so a call's outcome and its notifications are committed
together or not at all. The sender (:mod:`callbot.notify.worker`) then moves each row through
its states with the durable writes below; every write of an attempt is waited for before the
exchange goes on, so the file always knows how far an attempt got.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from callbot.store.base import StoreBase
from callbot.store.durable import operation

#: outbox.state values
PENDING, SENDING, DELIVERED, FAILED, UNCONFIRMED = "pending", "sending", "delivered", "failed", "unconfirmed"
FINAL_STATES = (DELIVERED, FAILED, UNCONFIRMED)
#: outbox_attempts.stage: how far an attempt got. ``final`` = the whole message is with the
#: server (SMTP: everything but the final dot is sent and the dot goes next).
STAGES = ("connecting", "final")
#: outbox_attempts.result values
RESULTS = ("delivered", "retry", "failed", "interrupted", "unconfirmed")


@dataclass(frozen=True)
class Attempt:
    id: int
    outbox_id: int
    started_at: str
    stage: str
    finished_at: str | None
    result: str | None         # None while it runs (or when the bot died during it)
    answer: str | None         # the server's answer, or why it failed


@dataclass(frozen=True)
class Notification:
    """One outbox row: a mail to one address, or one webhook POST, for one call and rule."""

    id: int
    call_id: int
    rule: int                  # the rule's position in the config, from 1
    channel: str               # 'mail' | 'webhook'
    target: str                # the address or the URL
    language: str
    attach: bool
    message_id: str            # fixed when written: every attempt sends the same one
    state: str
    created_at: str
    next_attempt_at: str
    attempts: int
    final_at: str | None
    final_answer: str | None
    history: tuple[Attempt, ...] = field(default=())


_COLUMNS = ("id, call_id, rule, channel, target, language, attach, message_id, state, created_at, "
            "next_attempt_at, attempts, final_at, final_answer")


def _notification(row: dict[str, Any], history: tuple[Attempt, ...] = ()) -> Notification:
    return Notification(**{**row, "attach": bool(row["attach"])}, history=history)


def insert_notifications(db: Database, call_id: int, notifications: list[dict[str, Any]], at: str) -> None:
    """Inside the transaction that finishes call ``call_id``: queue its notifications."""
    for n in notifications:
        db.execute(
            "INSERT OR IGNORE INTO outbox (call_id, rule, channel, target, language, attach, message_id, "
            "state, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            [call_id, int(n["rule"]), n["channel"], n["target"], n["language"], int(bool(n["attach"])),
             n["message_id"], at, n.get("not_before") or at])


class Outbox(StoreBase):
    """Reads and writes of the notification outbox (what is to be sent, every attempt, delivered/failed)."""

    def now(self) -> datetime:
        """The store's clock (a call's end, as finish_call stamps it)."""
        return self._clock()

    # -- writes (the sender's; durable, waited for by the sender) -------------------------

    def outbox_begin(self, outbox_id: int) -> Future:
        """An attempt starts: the row is ``sending``; the Future gives the attempt's id."""
        return self._submit_op("outbox_begin", {"id": outbox_id, "at": self._now()}, None,
                               f"outbox_begin({outbox_id})")

    def outbox_stage(self, attempt_id: int, stage: str) -> Future:
        """How far attempt ``attempt_id`` got (one of STAGES)."""
        if stage not in STAGES:
            raise ValueError(f"unknown outbox stage {stage!r}")
        return self._submit_op("outbox_stage", {"attempt": attempt_id, "stage": stage}, None,
                               f"outbox_stage({attempt_id}, {stage})")

    def outbox_end(self, outbox_id: int, attempt_id: int, result: str, answer: str,
                   next_attempt_at: str | None = None) -> Future:
        """The attempt's end: ``delivered`` / ``failed`` / ``unconfirmed`` are final; ``retry`` waits
        for ``next_attempt_at``."""
        if result not in ("delivered", "retry", "failed", "unconfirmed"):
            raise ValueError(f"unknown attempt result {result!r}")
        if result == "retry" and not next_attempt_at:
            raise ValueError("a retry needs next_attempt_at")
        args = {"id": outbox_id, "attempt": attempt_id, "result": result, "answer": answer,
                "at": self._now(), "next": next_attempt_at}
        return self._submit_op("outbox_end", args, None, f"outbox_end({outbox_id}, {result})")

    def outbox_postpone(self, outbox_id: int, next_attempt_at: str) -> Future:
        """Not yet, without an attempt (the call's transcripts are still coming): a pending row
        waits until ``next_attempt_at``."""
        def job(db: Database) -> None:
            db.execute("UPDATE outbox SET next_attempt_at = ? WHERE id = ? AND state = 'pending'",
                       [next_attempt_at, outbox_id])

        return self._submit(f"outbox_postpone({outbox_id})", job)

    def outbox_recover(self) -> Future:
        """At the sender's start: the rows a dead sender left ``sending`` (see
        :func:`_outbox_recover`); the Future gives ``[(outbox_id, result)]``."""
        return self._submit_op("outbox_recover", {"at": self._now()}, None, "outbox_recover")

    # -- reads ----------------------------------------------------------------------------

    def due_notifications(self, now: str, limit: int = 20) -> list[Notification]:
        """``pending`` rows whose time has come, oldest first."""
        with self._reader() as db:
            return [_notification(r) for r in db.query(
                f"SELECT {_COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? "
                "ORDER BY next_attempt_at, id LIMIT ?", [now, int(limit)])]

    def next_notification_due(self) -> str | None:
        """When the earliest ``pending`` row is due (None: nothing waits)."""
        with self._reader() as db:
            row = db.execute("SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'").fetchone()
            return row[0] if row else None

    def notification(self, outbox_id: int) -> Notification | None:
        found = self._with_history(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", [outbox_id])
        return found[0] if found else None

    def notifications(self, call_id: int) -> list[Notification]:
        """A call's notifications with every attempt, in rule order."""
        return self._with_history(f"SELECT {_COLUMNS} FROM outbox WHERE call_id = ? ORDER BY rule, id",
                                  [call_id])

    def failed_notifications(self, limit: int = 100) -> list[Notification]:
        """Notifications that finally failed (or whose delivery is unconfirmed), newest first —
        for the inbox page: a notification is never dropped silently."""
        return self._with_history(
            f"SELECT {_COLUMNS} FROM outbox WHERE state IN ('failed', 'unconfirmed') "
            "ORDER BY final_at DESC, id DESC LIMIT ?", [int(limit)])

    def _with_history(self, sql: str, params: list[Any]) -> list[Notification]:
        with self._reader() as db:
            rows = list(db.query(sql, params))
            if not rows:
                return []
            marks = ",".join("?" * len(rows))
            history: dict[int, list[Attempt]] = {}
            for a in db.query(f"SELECT id, outbox_id, started_at, stage, finished_at, result, answer "
                              f"FROM outbox_attempts WHERE outbox_id IN ({marks}) ORDER BY id",
                              [r["id"] for r in rows]):
                history.setdefault(a["outbox_id"], []).append(Attempt(**a))
        return [_notification(r, tuple(history.get(r["id"], ()))) for r in rows]


# -- the durable operations (names are stored in journals: never rename one) ----------


@operation("outbox_begin")
def _outbox_begin(db: Database, args: dict[str, Any]) -> int:
    db.execute("UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ?", [args["id"]])
    cursor = db.execute("INSERT INTO outbox_attempts (outbox_id, started_at, stage) VALUES (?, ?, 'connecting')",
                        [args["id"], args["at"]])
    return int(cursor.lastrowid)


@operation("outbox_stage")
def _outbox_stage(db: Database, args: dict[str, Any]) -> None:
    db.execute("UPDATE outbox_attempts SET stage = ? WHERE id = ?", [args["stage"], args["attempt"]])


@operation("outbox_end")
def _outbox_end(db: Database, args: dict[str, Any]) -> None:
    result = args["result"]
    db.execute("UPDATE outbox_attempts SET finished_at = ?, result = ?, answer = ? WHERE id = ?",
               [args["at"], result, args["answer"], args["attempt"]])
    if result == "retry":
        db.execute("UPDATE outbox SET state = 'pending', next_attempt_at = ? WHERE id = ?",
                   [args["next"], args["id"]])
    else:
        db.execute("UPDATE outbox SET state = ?, final_at = ?, final_answer = ? WHERE id = ?",
                   [result, args["at"], args["answer"], args["id"]])


#: What recovery writes into the attempt a dead sender left open.
INTERRUPTED_ANSWER = ("the bot stopped before the message was handed over completely; the server "
                      "discards such a transaction — sent again with the same Message-ID")
UNCONFIRMED_ANSWER = ("the bot stopped after the server had the whole message, before its answer "
                      "was recorded; not sent again (that could deliver it twice) — check the mailbox")
RESENT_WEBHOOK_ANSWER = ("the bot stopped while the request was under way; sent again with the same "
                         "X-Callbot-Delivery id (the receiver can drop the repeat)")


@operation("outbox_recover")
def _outbox_recover(db: Database, args: dict[str, Any]) -> list[list[Any]]:
    """A row left ``sending``: a mail whose last attempt had reached stage ``final`` may have been
    delivered → ``unconfirmed`` (final, shown as a failure to check); anything else → ``pending``
    again at once (the server never got a complete message, or it is a webhook: at least once)."""
    done: list[list[Any]] = []
    rows = list(db.query("SELECT o.id, o.channel, a.id AS attempt, a.stage FROM outbox o "
                         "LEFT JOIN outbox_attempts a ON a.id = (SELECT max(id) FROM outbox_attempts "
                         "WHERE outbox_id = o.id) WHERE o.state = 'sending'"))
    for row in rows:
        if row["channel"] == "mail" and row["stage"] == "final":
            result, answer = "unconfirmed", UNCONFIRMED_ANSWER
            db.execute("UPDATE outbox SET state = 'unconfirmed', final_at = ?, final_answer = ? WHERE id = ?",
                       [args["at"], answer, row["id"]])
        else:
            result = "interrupted"
            answer = RESENT_WEBHOOK_ANSWER if row["stage"] == "final" else INTERRUPTED_ANSWER
            db.execute("UPDATE outbox SET state = 'pending', next_attempt_at = ? WHERE id = ?",
                       [args["at"], row["id"]])
        if row["attempt"] is not None:
            db.execute("UPDATE outbox_attempts SET finished_at = ?, result = ?, answer = ? WHERE id = ?",
                       [args["at"], result, answer, row["attempt"]])
        done.append([row["id"], result])
    return done
