"""One call from INVITE to its final row: identify → row → decide → carry out → outcome.

Nothing before the 200 OK waits for the database: the row is only queued
(:meth:`callbot.call.calllog.CallLog.open`), the caller lists come from memory
(``list_entries``), prompts and script are handed in already loaded.

:meth:`CallHandler.handle` runs on the call's own thread. What happens to a
withheld caller, a listed caller or an unknown one is decided by
:func:`callbot.call.policy.decide`; this module carries the decision out with
the SIP mechanism it needs (433, ring on, REFER, answer + prompt + hang up, or
the owner's script in :mod:`callbot.call.screening`), and whatever happens the
row gets its outcome in ``finally``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from callbot import lists
from callbot.call import policy
from callbot.call.caller import Caller, identify_raw
from callbot.call.calllog import BOT_BYE, TIMEOUT_ENDS, CallLog
from callbot.call.conversation import announce_and_hang_up
from callbot.call.policy import Action, Decision
from callbot.call.ports import Clock, InboundCall
from callbot.call.screening import SCREENING_PROMPTS, TRANSFER_TIMEOUT, Screening
from callbot.call.settings import CallSettings, HandoffSettings, PhoneSettings
from callbot.notify.rules import Planner
from callbot.outcome import Outcome
from callbot.records import ListEntry
from callbot.script.model import CallContext, Script
from callbot.store.store import Store
from callbot.telephony.message import parse_headers
from callbot.telephony.settings import SipSettings

log = logging.getLogger("callbot.call")

#: Polling step while the call rings (answer_delay), seconds.
RING_POLL = 0.02
def required_prompts(calls: CallSettings) -> tuple[str, ...]:
    """The prompts the bot needs before it takes calls (the script's own are checked with the script)."""
    return policy.POLICY_PROMPTS + (SCREENING_PROMPTS if calls.uses_script else ())


@dataclass(frozen=True)
class Standing:
    """What the call log knows of the caller before anybody speaks."""

    listed: policy.Listed | None = None
    called_before: bool = False

    def context(self, recording: bool, language: str) -> CallContext:
        """The script's view: ``caller is allowed|blocked|known``."""
        on = self.listed.list if self.listed is not None else None
        return CallContext(recording=recording, language=language, allowed=on == "allow",
                           blocked=on == "block", known=on is not None or self.called_before)


#: Key presses logged per call; a caller pressing more is summed up once.
MAX_DTMF_EVENTS = 50


class DtmfLog:
    """Each key the caller presses becomes an event of the call (at most MAX_DTMF_EVENTS)."""

    def __init__(self, calllog: CallLog):
        self.calllog, self.count = calllog, 0

    def __call__(self, digit: str) -> None:
        self.count += 1
        if self.count <= MAX_DTMF_EVENTS:
            self.calllog.event("dtmf", digit, f"the caller pressed {digit}")
        elif self.count == MAX_DTMF_EVENTS + 1:
            self.calllog.event("dtmf", "more", f"more than {MAX_DTMF_EVENTS} key presses: the rest are not logged")


class CallHandler:
    """Carries out the policy for each call; the settings come from the config (see callbot.app)."""

    def __init__(self, *, calls: CallSettings, handoff: HandoffSettings, sip: SipSettings, phone: PhoneSettings,
                 store: Store, screening: Screening, clock: Clock,
                 list_entries: Callable[[], Iterable[ListEntry]] | None = None,
                 notify: Planner | None = None):
        self.calls = calls
        #: The active caller list entries; the running bot gives its in-memory index
        #: (callbot.store.listindex), so the INVITE path never reads SQLite.
        self.list_entries = list_entries or store.active_list_entries
        self.handoff = handoff
        self.sip = sip            # answer_delay, max_call_duration
        self.phone = phone
        self.store = store
        self.screening = screening
        self.clock = clock
        #: The notification rules (callbot.notify.rules); None: no notifications.
        self.notify = notify

    def handle(self, call: InboundCall, prompts, script: Script | None) -> Outcome:
        """Runs on the call's own thread from INVITE to the final log write."""
        caller = identify_raw(call.raw_invite, self.phone.default_region)
        calllog = CallLog.open(self.store, caller, call.sip_call_id, self.calls.keep_withheld_evidence,
                               self.notify)
        outcome = Outcome.ERROR
        on_media = getattr(call, "on_media_change", None)
        if on_media is not None:
            on_media(lambda held, direction: calllog.event(
                "sip", "hold" if held else "resume",
                f"re-INVITE ({direction}): " + ("the caller holds the call; the bot is silent and waits"
                                                if held else "the caller is back; the prompt goes on")))
        on_dtmf = getattr(call, "on_dtmf", None)
        if on_dtmf is not None:
            on_dtmf(DtmfLog(calllog))
        try:
            standing = Standing(self._listed(caller))
            decision = policy.decide(
                caller, self.calls.withheld, self.calls.unknown, listed=standing.listed,
                blocked_mode=self.calls.blocked, handoff_mode=self.handoff.mode,
            )
            calllog.event("decision", decision.rule, decision.reason)
            outcome = self._carry_out(call, caller, decision, standing, calllog, prompts, script)
        except Exception as exc:
            log.exception("call %s failed", calllog.call_id)
            calllog.event("error", type(exc).__name__, str(exc))
            if call.active or call.ringing:
                call.hangup()
        finally:
            if call.ended_by == "stop":  # the bot is stopping: whatever the step, say so
                calllog.event("stop", None, "the bot was stopped while the call was up; it ended the call")
                outcome = Outcome.STOPPED
            calllog.finish(outcome)
            on_bye = getattr(call, "on_bye_result", None)
            if on_bye is not None and getattr(call, "answered_at", None) is not None and call.ended_by in BOT_BYE:
                on_bye(calllog.bye_result)  # logged when the caller's side answers (or never does)
        return outcome

    def refused(self, raw_invite: bytes, status: int, reason: str) -> None:
        """The row of an INVITE the SIP endpoint refused before ringing (no common codec, no SDP,
        no free RTP port, over sip.max_calls). Runs on the receive thread: only queues writes."""
        caller = identify_raw(raw_invite, self.phone.default_region)
        call_id = next((v for k, v in parse_headers(raw_invite.decode("utf-8", errors="replace"))
                        if k == "Call-ID"), "")
        calllog = CallLog.open(self.store, caller, call_id, self.calls.keep_withheld_evidence, self.notify)
        calllog.event("sip", "refuse", f"{status} sent before ringing: {reason}")
        calllog.finish(Outcome.REFUSED)

    def _listed(self, caller: Caller) -> policy.Listed | None:
        """The caller's allow/block entry, if any (withheld callers are never looked up)."""
        if caller.withheld:
            return None
        try:
            found = lists.match(self.list_entries(), caller.e164 or caller.number, caller.display_name)
        except Exception:  # a list problem must not cost the call: screen instead, and say why
            log.exception("caller lists could not be read; treating the caller as unknown")
            return None
        return None if found is None else policy.Listed(found.entry.list, found.reason)

    def _called_before(self, caller: Caller, calllog: CallLog) -> bool:
        """Whether the call log has an earlier call from this number (for ``caller is known``)."""
        number = caller.e164 or caller.number
        if not number or caller.withheld:
            return False
        try:
            return any(cid != calllog.call_id and (calllog.call_id is None or cid < calllog.call_id)
                       for cid in self.store.call_ids_for_number(number))
        except Exception as exc:  # unknown rather than a lost call
            calllog.event("error", "history", f"earlier calls could not be read: {exc}")
            return False

    def _carry_out(self, call: InboundCall, caller: Caller, decision: Decision, standing: Standing,
                   calllog: CallLog, prompts, script: Script | None) -> Outcome:
        if decision.action is Action.REJECT_WITHHELD:
            call.reject(policy.ANONYMITY_DISALLOWED)
            calllog.event("sip", "reject", f"{policy.ANONYMITY_DISALLOWED} Anonymity Disallowed sent, not answered")
            return Outcome.WITHHELD_REJECTED
        if decision.action is Action.HANDOFF_REJECT:
            status = self.handoff.reject_status
            call.reject(status)
            calllog.event("handoff", "reject", f"{status} sent, not answered: the PBX moves on")
            return Outcome.REJECTED
        if decision.action is Action.HANDOFF_IGNORE:
            return self._let_ring(call, calllog)

        if not self._ring(call):
            calllog.event("sip", "cancel", "caller hung up before the bot answered (CANCEL → 487)")
            return Outcome.CANCELLED
        call.answer()
        calllog.answered()
        calllog.event("sip", "answer", f"200 OK after {1000 * (time.monotonic() - call.received_at):.0f} ms")

        if decision.action in (Action.SCREEN, Action.COUNTER_BLOCKED, Action.HANDOFF_TRANSFER):
            standing = Standing(standing.listed, self._called_before(caller, calllog))
        if decision.action is Action.SCREEN:
            return self.screening.run(call, calllog, prompts, script, standing.context)
        if decision.action is Action.COUNTER_BLOCKED:
            return self.screening.run(call, calllog, prompts, script, standing.context,
                                      start=self.calls.counter_offer_step)
        if decision.action is Action.HANDOFF_TRANSFER:
            result = call.transfer(self.handoff.transfer_to, timeout=TRANSFER_TIMEOUT)
            calllog.event("handoff", "transfer", result.describe())
            if result.succeeded:
                return Outcome.TRANSFERRED
            if not call.active:
                return Outcome.CALLER_HUNG_UP
            calllog.event("handoff", "fallback", "transfer failed: screening the caller instead")
            calllog.marks.add("transfer_failed")
            return self.screening.run(call, calllog, prompts, script, standing.context)
        return self._announce(call, decision, calllog, prompts)

    def _announce(self, call: InboundCall, decision: Decision, calllog: CallLog, prompts) -> Outcome:
        """Play the decision's prompt and hang up before the caller can reply."""
        prompt = prompts.get(decision.prompt)
        playback = announce_and_hang_up(call, prompt.frames(call.sample_rate), self.clock)
        calllog.event("prompt", prompt.id, f"played {playback.seconds_sent:.2f} s of {prompt.duration:.2f} s")
        ended_by = call.ended_by or "bot"
        calllog.hangup(ended_by)
        if ended_by in TIMEOUT_ENDS:
            return Outcome.TIMEOUT
        if not playback.completed or ended_by == "caller":
            return Outcome.CALLER_HUNG_UP
        return {Action.ANNOUNCE_WITHHELD: Outcome.WITHHELD_REJECTED,
                Action.ANNOUNCE_BLOCKED: Outcome.BLOCKED}.get(decision.action, Outcome.ANSWERED)

    def _let_ring(self, call: InboundCall, calllog: CallLog) -> Outcome:
        """Do not answer: the PBX keeps ringing the other phones until someone takes it."""
        calllog.event("handoff", "ignore", "not answered: the PBX keeps ringing the other phones")
        deadline = call.received_at + self.sip.max_call_duration
        while not call.cancelled and time.monotonic() < deadline:
            time.sleep(RING_POLL * 5)
        if not call.cancelled:
            call.hangup()  # 480: nobody took it within the maximum call length
            calllog.event("sip", "timeout", "nobody took the call; 480 sent")
            return Outcome.TIMEOUT
        calllog.event("sip", "cancel", "the caller was taken elsewhere or gave up (CANCEL)")
        return Outcome.HANDED_OFF

    def _ring(self, call: InboundCall) -> bool:
        """Let the call ring for ``answer_delay``; False if the caller gave up."""
        deadline = call.received_at + self.sip.answer_delay
        while time.monotonic() < deadline and not call.cancelled:
            time.sleep(RING_POLL)
        return not call.cancelled
