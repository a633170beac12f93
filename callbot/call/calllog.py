"""Where a call's row is written: the row at INVITE time, its trail of events, its turns, its end.

Every write goes through the store's queue (one writer thread); nothing here
waits for the database. :meth:`CallLog.open` gets the call's id from the store
at once (the store hands ids out itself, see :mod:`callbot.store.callids`) and
only queues the row; the writer applies the row before the call's later
writes (one queue, in order).

The call keeps its id whatever the database does: a locked or full file only
delays the row and everything after it (they wait, in order, in the store's write
journal, :mod:`callbot.store.writer`), so the call's events, turns and outcome
are always queued under its id. A row that finally cannot be written (a bug: a
constraint) is logged at ERROR by the store and here; the writes that follow it
fail in turn and are logged too, never silently. Only a call whose id could
not be handed out at all (another process inserts calls into the file) runs
without one (``call_id`` None) and is logged at ERROR.
"""

from __future__ import annotations

import logging

from callbot.call.caller import Caller
from callbot.notify.rules import Planner
from callbot.outcome import Outcome
from callbot.records import CallerFields, TurnFields
from callbot.store.store import Store

log = logging.getLogger("callbot.call")

#: Who ended the call (InboundCall.ended_by) → the hangup event's reason.
HANGUP_REASONS = {
    "bot": "the bot ended the call (BYE) after the prompt",
    "caller": "caller sent BYE",
    "transfer": "bot handed the call to a person (REFER) and left",
    "rtp_timeout": "no RTP from the caller within sip.rtp_timeout",
    "max_duration": "call reached sip.max_call_duration",
    "stop": "the bot was stopped and ended the call (BYE)",
    "no_ack": "the caller never confirmed the bot's 200 OK (no ACK within 32 s): the bot ended the call",
}
#: ended_by values that mean "the call timed out" (outcome timeout).
TIMEOUT_ENDS = ("rtp_timeout", "max_duration", "no_ack")
#: ended_by values after which the bot has sent a BYE.
BOT_BYE = ("bot", "transfer", "rtp_timeout", "max_duration", "no_ack", "stop")


def caller_fields(caller: Caller, keep_evidence: bool) -> CallerFields:
    """The call row's caller columns (withheld evidence only when the owner keeps it)."""
    evidence = None
    if caller.withheld and keep_evidence and caller.asserted_identities:
        evidence = "; ".join(caller.asserted_identities)
    return CallerFields(
        raw=caller.from_raw,
        display=caller.display_name,
        number=caller.e164,
        dialled=caller.number,
        country=caller.country_code,
        region=caller.region,
        type=caller.number_type,
        description=caller.description,
        valid=caller.valid,
        withheld=caller.withheld,
        number_source=caller.number_source,
        evidence=evidence,
    )


class CallLog:
    """Writes one call's row, events and turns (see the module docstring for a database in trouble)."""

    def __init__(self, store: Store, call_id: int | None, notify: Planner | None = None):
        self.store = store
        self.call_id = call_id
        #: Which notifications the outcome gets (None: none configured).
        self.notify = notify
        #: What happened on the way that a notification rule may ask for (``transfer_failed``).
        self.marks: set[str] = set()

    @classmethod
    def open(cls, store: Store, caller: Caller, sip_call_id: str, keep_evidence: bool,
             notify: Planner | None = None) -> CallLog:
        """Queue the call's row (the moment the INVITE is handled); never waits for the database."""
        try:
            row = store.start_call(caller_fields(caller, keep_evidence), sip_call_id)
        except Exception:
            # The call is still served; the failure itself is in the log.
            log.exception("could not write the call row for %s", sip_call_id)
            return cls(store, None, notify)
        calllog = cls(store, row.call_id, notify)
        row.add_done_callback(calllog._row_written)
        return calllog

    def _row_written(self, row) -> None:
        """On the writer thread: say so when the row finally could not be written (the id stays)."""
        if not row.cancelled() and row.exception() is not None:
            log.error("call %s: its row could not be written (%s); the call is served and its "
                      "later writes are still queued under its id", self.call_id, row.exception())

    def event(self, kind: str, rule: str | None, reason: str | None) -> None:
        log.info("call %s: %s %s: %s", self.call_id, kind, rule, reason)
        if self.call_id is not None:
            self.store.add_event(self.call_id, kind, rule, reason)

    def hangup(self, ended_by: str) -> None:
        self.event("hangup", ended_by, HANGUP_REASONS.get(ended_by, ended_by))

    def bye_result(self, status: int | None) -> None:
        """The final answer to the bot's BYE: a failed BYE is logged as that failure, not as sent."""
        if status is not None and 200 <= status < 300:
            self.event("sip", "bye", f"the caller's side answered the BYE with {status}")
        elif status is None:
            log.warning("call %s: nobody answered the bot's BYE within 32 s", self.call_id)
            self.event("sip", "bye_failed", "nobody answered the BYE within 32 s: the caller may still hear "
                       "silence until their phone gives up")
        else:
            log.warning("call %s: the bot's BYE failed with %s", self.call_id, status)
            self.event("sip", "bye_failed", f"the BYE failed with {status}: the caller may still be connected "
                       "until their phone gives up")

    def answered(self) -> None:
        if self.call_id is not None:
            self.store.mark_answered(self.call_id)

    def turn(self, turn: TurnFields) -> None:
        if self.call_id is not None:
            self.store.add_turn(self.call_id, turn)

    def turn_text(self, seq: int, text: str | None, confidence: float | None) -> None:
        """The transcript of caller turn ``seq`` (its row was written when the turn ended)."""
        if self.call_id is not None:
            self.store.set_turn_text(self.call_id, seq, text, confidence)

    def turn_recording(self, seq: int, recording: str | None) -> None:
        """Caller turn ``seq`` has no (or another) recording after all."""
        if self.call_id is not None:
            self.store.set_turn_recording(self.call_id, seq, recording)

    def lead(self, seq: int, field: str, text: str | None, recording: str | None) -> None:
        if self.call_id is not None:
            self.store.add_lead(self.call_id, seq, field, text, recording)

    def update(self, **fields: str | None) -> None:
        if self.call_id is not None:
            self.store.update_call(self.call_id, **fields)

    def finish(self, outcome: Outcome) -> None:
        """The outcome, and in the same transaction the notifications the rules give for it
        (:mod:`callbot.notify.rules`); nothing is sent from the call's thread."""
        log.info("call %s: outcome %s", self.call_id, outcome.value)
        if self.call_id is None:
            return
        if self.notify is None:
            self.store.finish_call(self.call_id, outcome.value)
            return
        ended = self.store.now()
        notifications: list[dict] = []
        try:
            notifications = self.notify.plan(self.call_id, outcome.value, ended, frozenset(self.marks))
        except Exception:  # a rule problem must not cost the call's outcome
            log.exception("call %s: its notifications could not be worked out", self.call_id)
        written = self.store.finish_call(self.call_id, outcome.value, notifications, ended_at=ended)
        if notifications:
            written.add_done_callback(lambda _: self.notify.queued())
