"""Where a call row is written: the bot's writes while a call runs, and reading calls back.

Writes (each returns a Future; each is a durable write, see :mod:`callbot.store.durable`:
it waits in the journal while the database is locked or full and survives a stop;
the writer thread applies it, see :mod:`callbot.store.writer`): :meth:`Calls.start_call` hands out the call's
id at once (:mod:`callbot.store.callids`) and queues the row's insert, then events, turns, leads and screening results follow, and
:meth:`Calls.finish_call` sets the outcome. :meth:`Calls.finalize_interrupted`
closes the calls a stopped bot left open. Timestamps are taken on the caller's
thread when a write method is called, not when the writer gets round to it.

Reads (synchronous, each on its own query-only connection): calls, one call,
its events, turns and leads, the open calls.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlite_utils import Database
from sqlite_utils.db import NotFoundError

from callbot.errors import StoreError
from callbot.outcome import OUTCOMES, Outcome
from callbot.records import SCREENING_FIELDS, CallerFields, CallRecord, Event, Lead, TurnFields, TurnRow
from callbot.store.base import SYNC_TIMEOUT, StoreBase
from callbot.store.durable import operation
from callbot.store.outbox import insert_notifications
from callbot.store.rows import chunks, call_records
from callbot.times import format_time, parse_time

log = logging.getLogger("callbot.store")

RESTART_RULE = "restart"
RESTART_REASON = "bot restarted; call was open when it stopped"


class NewCall(Future):
    """What :meth:`Calls.start_call` gives: ``call_id`` at once; ``result()`` is the
    same id once the row is written (or the StoreError if it could not be)."""

    def __init__(self, call_id: int):
        super().__init__()
        self.call_id = call_id


class Calls(StoreBase):
    """The rows of calls: written as a call happens, read by the CLI and the web page."""

    # -- writes ----------------------------------------------------------------
    # Each is a durable write (callbot.store.durable): the operations are the functions at the
    # end of this module; the arguments are taken here, on the caller's thread.

    def start_call(self, caller: CallerFields, sip_call_id: str | None) -> NewCall:
        """Insert a call with ``started_at`` now and no outcome.

        The id is handed out at once (``.call_id``, no database round trip) and
        the insert is queued with it; ``.result()`` gives the same id once the
        row is written. Raises StoreError when another process inserts calls.
        """
        if self._writer.closed:
            failed = NewCall(0)
            return self._submit("start_call", lambda db: 0, failed)  # fails: the log is closed
        call_id = self._ids().next()
        record = {
            "id": call_id,
            "sip_call_id": sip_call_id,
            "started_at": self._now(),
            "caller_raw": caller.raw,
            "caller_display": caller.display,
            "caller_number": caller.number,
            "caller_dialled": caller.dialled,
            "caller_country": caller.country,
            "caller_region": caller.region,
            "caller_type": caller.type,
            "caller_description": caller.description,
            "caller_valid": int(bool(caller.valid)),
            "withheld": int(bool(caller.withheld)),
            "withheld_evidence": caller.evidence,
            "number_source": caller.number_source,
        }
        return self._submit_op("start_call", record, call_id, f"start_call({call_id})", NewCall(call_id))

    def mark_answered(self, call_id: int) -> Future[None]:
        return self._submit_op("mark_answered", {"id": call_id, "at": self._now()}, call_id,
                               f"mark_answered({call_id})")

    def add_event(
        self, call_id: int, kind: str, rule: str | None = None, reason: str | None = None
    ) -> Future[None]:
        if not kind:
            raise ValueError("event kind must be a non-empty string")
        record = {"call_id": call_id, "at": self._now(), "kind": kind, "rule": rule, "reason": reason}
        return self._submit_op("add_event", record, call_id, f"add_event({call_id}, {kind!r})")

    def add_turn(self, call_id: int, turn: TurnFields) -> Future[None]:
        if turn.speaker not in ("bot", "caller"):
            raise ValueError(f"turn speaker must be 'bot' or 'caller', got {turn.speaker!r}")
        record = {
            "call_id": call_id,
            "seq": turn.seq,
            "speaker": turn.speaker,
            "prompt_id": turn.prompt_id,
            "field": turn.field,
            "text": turn.text,
            "started_at": format_time(turn.started_at),
            "duration": round(turn.duration, 3),
            "confidence": turn.confidence,
            "recording": turn.recording,
            "end_reason": turn.end_reason,
        }
        return self._submit_op("add_turn", record, call_id, f"add_turn({call_id}, {turn.seq})")

    def set_turn_text(self, call_id: int, seq: int, text: str | None, confidence: float | None) -> Future[None]:
        """A caller turn's transcript, added to the turn row written when the turn ended."""
        args = {"call_id": call_id, "seq": seq, "text": text, "confidence": confidence}
        return self._submit_op("set_turn_text", args, call_id, f"set_turn_text({call_id}, {seq})")

    def set_turn_recording(self, call_id: int, seq: int, recording: str | None) -> Future[None]:
        """A caller turn's recording path (None: its WAV could not be finished and was deleted)."""
        args = {"call_id": call_id, "seq": seq, "recording": recording}
        return self._submit_op("set_turn_recording", args, call_id, f"set_turn_recording({call_id}, {seq})")

    def add_lead(self, call_id: int, turn_seq: int, field: str, text: str | None,
                 recording: str | None) -> Future[None]:
        record = {"call_id": call_id, "turn_seq": turn_seq, "field": field, "created_at": self._now(),
                  "text": text, "recording": recording}
        return self._submit_op("add_lead", record, call_id, f"add_lead({call_id}, {turn_seq})")

    def update_call(self, call_id: int, **fields: str | None) -> Future[None]:
        """Set screening results (person, company, transcript, label, label_reasons)."""
        unknown = set(fields) - set(SCREENING_FIELDS)
        if unknown:
            raise ValueError(f"update_call: unknown fields {sorted(unknown)}; allowed {SCREENING_FIELDS}")
        return self._submit_op("update_call", {"id": call_id, "fields": fields}, call_id,
                               f"update_call({call_id})")

    def finish_call(self, call_id: int, outcome: str, notifications: Sequence[dict[str, Any]] = (),
                    ended_at: datetime | None = None) -> Future[None]:
        """Set ended_at, duration and outcome. A call already finished keeps its first outcome.

        ``notifications`` (plain dicts, see :func:`callbot.store.outbox.insert_notifications`)
        go into the outbox in the same transaction — only when this write sets the outcome."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown call outcome {outcome!r}; expected one of {sorted(OUTCOMES)}")
        args: dict[str, Any] = {"id": call_id, "ended_at": format_time(ended_at or self._clock()),
                                "outcome": outcome}
        if notifications:
            args["notifications"] = [dict(n) for n in notifications]
        return self._submit_op("finish_call", args, call_id, f"finish_call({call_id}, {outcome!r})")

    def finalize_interrupted(self) -> int:
        """Mark every open call 'interrupted' (the bot stopped while it was open).

        Returns how many calls were closed; waits up to SYNC_TIMEOUT. Call it once at
        bot start, before taking calls: it closes *every* open call in the file (the
        writes an earlier run left in the journal are applied before it). When the
        file does not take writes in time it returns 0 and the write stays queued
        (before every call of this run, so it never touches them).
        ``duration`` stays NULL, since when the call really ended is unknown.
        """
        queued = self._submit_op("finalize_interrupted", {"at": self._now()}, None, "finalize_interrupted")
        try:
            count = queued.result(SYNC_TIMEOUT)
        except FutureTimeout:
            log.warning("the call log did not take writes within %.0f s: the calls an earlier run left open "
                        "are marked interrupted once it does", SYNC_TIMEOUT)
            return 0
        if count:
            log.warning("marked %d call(s) left open by a previous run as interrupted", count)
        return count

    # -- reads -----------------------------------------------------------------

    def calls(
        self,
        *,
        since: datetime | None = None,
        outcome: str | None = None,
        number: str | None = None,
        limit: int = 50,
    ) -> list[CallRecord]:
        """Calls, newest first. ``number`` matches caller_number or caller_dialled
        (exactly or as a substring)."""
        if outcome is not None and outcome not in OUTCOMES:
            raise ValueError(f"unknown call outcome {outcome!r}; expected one of {sorted(OUTCOMES)}")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        where: list[str] = []
        params: list[Any] = []
        if since is not None:
            where.append("started_at >= ?")
            params.append(format_time(since))
        if outcome is not None:
            where.append("calls.outcome = ?")
            params.append(outcome)
        if number:
            where.append("(instr(caller_number, ?) > 0 OR instr(caller_dialled, ?) > 0)")
            params.extend([number, number])
        sql = "SELECT * FROM calls"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, id DESC LIMIT ?"
        params.append(int(limit))
        with self._reader() as db:
            return call_records(db, list(db.query(sql, params)))

    def call(self, call_id: int) -> CallRecord | None:
        with self._reader() as db:
            rows = list(db.query("SELECT * FROM calls WHERE id = ?", [call_id]))
            return call_records(db, rows)[0] if rows else None

    def events(self, call_id: int) -> list[Event]:
        with self._reader() as db:
            return [
                Event(**row)
                for row in db.query(
                    "SELECT id, call_id, at, kind, rule, reason FROM events "
                    "WHERE call_id = ? ORDER BY id",
                    [call_id],
                )
            ]

    def turns(self, call_id: int) -> list[TurnRow]:
        with self._reader() as db:
            return [
                TurnRow(**row)
                for row in db.query(
                    "SELECT id, call_id, seq, speaker, prompt_id, field, text, started_at, duration, "
                    "confidence, recording, end_reason FROM turns WHERE call_id = ? ORDER BY seq",
                    [call_id],
                )
            ]

    def turns_of(self, call_ids: list[int]) -> dict[int, list[TurnRow]]:
        """The turns of several calls (a page of the call list) in one read, by call id."""
        out: dict[int, list[TurnRow]] = {call_id: [] for call_id in call_ids}
        with self._reader() as db:
            for part in chunks(list(call_ids)):
                marks = ", ".join("?" for _ in part)
                for row in db.query(
                    "SELECT id, call_id, seq, speaker, prompt_id, field, text, started_at, duration, "
                    f"confidence, recording, end_reason FROM turns WHERE call_id IN ({marks}) "
                    "ORDER BY call_id, seq", part,
                ):
                    out[row["call_id"]].append(TurnRow(**row))
        return out

    def leads(self, *, since: datetime | None = None, limit: int = 100) -> list[Lead]:
        """Leads, newest first, with the caller's person/company/number from the call."""
        sql = (
            "SELECT leads.id, leads.call_id, leads.created_at, leads.field, leads.text, leads.recording, "
            "calls.person, calls.company, coalesce(calls.caller_number, calls.caller_dialled) AS number "
            "FROM leads JOIN calls ON calls.id = leads.call_id"
        )
        params: list[Any] = []
        if since is not None:
            sql += " WHERE leads.created_at >= ?"
            params.append(format_time(since))
        sql += " ORDER BY leads.created_at DESC, leads.id DESC LIMIT ?"
        params.append(int(limit))
        with self._reader() as db:
            return [Lead(**row) for row in db.query(sql, params)]

    def open_calls(self) -> list[CallRecord]:
        """Calls with no outcome yet, oldest first."""
        with self._reader() as db:
            rows = list(
                db.query("SELECT * FROM calls WHERE outcome IS NULL ORDER BY started_at, id")
            )
            return call_records(db, rows)

    def call_leads(self, call_id: int) -> list[Lead]:
        """The leads of one call, in turn order."""
        with self._reader() as db:
            return [
                Lead(**row)
                for row in db.query(
                    "SELECT leads.id, leads.call_id, leads.created_at, leads.field, leads.text, leads.recording, "
                    "calls.person, calls.company, coalesce(calls.caller_number, calls.caller_dialled) AS number "
                    "FROM leads JOIN calls ON calls.id = leads.call_id WHERE leads.call_id = ? "
                    "ORDER BY leads.turn_seq",
                    [call_id],
                )
            ]


def _get_call(db: Database, call_id: int) -> dict[str, Any]:
    try:
        return db["calls"].get(call_id)
    except NotFoundError:
        raise StoreError(f"no call with id {call_id} in the call log") from None


# -- the durable operations (names are stored in journals: never rename one) ----------


@operation("start_call")
def _insert_call(db: Database, record: dict[str, Any]) -> int:
    db["calls"].insert(record)
    return record["id"]


@operation("mark_answered")
def _mark_answered(db: Database, args: dict[str, Any]) -> None:
    row = _get_call(db, args["id"])
    if row["answered_at"] is None:
        db["calls"].update(args["id"], {"answered_at": args["at"]})


@operation("add_event")
def _insert_event(db: Database, record: dict[str, Any]) -> None:
    db["events"].insert(record)


@operation("add_turn")
def _insert_turn(db: Database, record: dict[str, Any]) -> None:
    db["turns"].insert(record)


@operation("set_turn_text")
def _set_turn_text(db: Database, args: dict[str, Any]) -> None:
    db.execute("UPDATE turns SET text = ?, confidence = ? WHERE call_id = ? AND seq = ? AND speaker = 'caller'",
               [args["text"], args["confidence"], args["call_id"], args["seq"]])


@operation("set_turn_recording")
def _set_turn_recording(db: Database, args: dict[str, Any]) -> None:
    db.execute("UPDATE turns SET recording = ? WHERE call_id = ? AND seq = ? AND speaker = 'caller'",
               [args["recording"], args["call_id"], args["seq"]])


@operation("add_lead")
def _insert_lead(db: Database, record: dict[str, Any]) -> None:
    db["leads"].insert(record)


@operation("update_call")
def _update_call(db: Database, args: dict[str, Any]) -> None:
    _get_call(db, args["id"])
    db["calls"].update(args["id"], args["fields"])


@operation("finish_call")
def _finish_call(db: Database, args: dict[str, Any]) -> None:
    call_id = args["id"]
    row = _get_call(db, call_id)
    if row["outcome"] is not None:
        log.debug("call %s already finished as %s; keeping it", call_id, row["outcome"])
        return
    duration = (parse_time(args["ended_at"]) - parse_time(row["started_at"])).total_seconds()
    db["calls"].update(call_id, {"ended_at": args["ended_at"], "duration": round(max(duration, 0.0), 3),
                                 "outcome": args["outcome"]})
    if args.get("notifications"):
        insert_notifications(db, call_id, args["notifications"], args["ended_at"])


@operation("finalize_interrupted")
def _finalize_interrupted(db: Database, args: dict[str, Any]) -> int:
    at = args["at"]
    ids = [row["id"] for row in db.query("SELECT id FROM calls WHERE outcome IS NULL")]
    for call_id in ids:
        db["calls"].update(call_id, {"outcome": Outcome.INTERRUPTED.value, "ended_at": at})
        db["events"].insert({"call_id": call_id, "at": at, "kind": "hangup", "rule": RESTART_RULE,
                             "reason": RESTART_REASON})
    return len(ids)
