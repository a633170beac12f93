"""What to do with a call: pure policy, apart from the mechanism that does it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from callbot.call.caller import Caller
from callbot.telephony.message import parse_name_addr

#: Prompts the policy plays (the script adds its own); the bot needs them before it takes calls.
POLICY_PROMPTS = ("withheld", "hello", "blocked")
#: When the policy plays each of them (what `callbot prompts list` shows as "used for").
PROMPT_USES = {"withheld": "caller ID withheld", "blocked": "blocked caller", "hello": "calls.unknown = greet"}

#: RFC 5079 response for refusing anonymous calls without answering.
ANONYMITY_DISALLOWED = 433


class Action(str, Enum):
    ANNOUNCE_WITHHELD = "announce_withheld"  # answer, play `withheld`, hang up
    REJECT_WITHHELD = "reject_withheld"      # 433 without answering
    ANNOUNCE_BLOCKED = "announce_blocked"    # answer, play `blocked`, hang up
    COUNTER_BLOCKED = "counter_blocked"      # answer, straight to the script's counter-offer
    HANDOFF_IGNORE = "handoff_ignore"        # do not answer: the PBX rings the other phones
    HANDOFF_REJECT = "handoff_reject"        # refuse with a status so the PBX moves on
    HANDOFF_TRANSFER = "handoff_transfer"    # answer, blind transfer (REFER) to a person
    GREET = "greet"                          # answer, play `hello`, hang up
    SCREEN = "screen"                        # answer, run the owner's script


@dataclass(frozen=True)
class Decision:
    action: Action
    rule: str
    reason: str

    @property
    def prompt(self) -> str | None:
        return {Action.ANNOUNCE_WITHHELD: "withheld", Action.GREET: "hello",
                Action.ANNOUNCE_BLOCKED: "blocked"}.get(self.action)


@dataclass(frozen=True)
class Listed:
    """The caller's entry on a list, as the lists module found it."""

    list: str    # "allow" | "block"
    reason: str  # why, with who added it and until when


def decide(
    caller: Caller,
    withheld_mode: str = "announce",
    unknown_mode: str = "screen",
    listed: Listed | None = None,
    blocked_mode: str = "announce",
    handoff_mode: str = "ignore",
) -> Decision:
    """Decide the call's treatment, in this order (each a logged rule):

    withheld → the rejection message (``withheld_mode``: announce / reject);
    blocked → the ``blocked`` message or the counter-offer (``blocked_mode``);
    allowed / known → a person (``handoff_mode``: ignore / reject / transfer);
    otherwise the screening script (``unknown_mode``: screen / greet).
    """
    if caller.withheld:
        reason = "; ".join(caller.withheld_reasons) or "caller ID withheld"
        if withheld_mode == "reject":
            return Decision(Action.REJECT_WITHHELD, "withheld", f"{reason} → {ANONYMITY_DISALLOWED} Anonymity Disallowed")
        return Decision(Action.ANNOUNCE_WITHHELD, "withheld", reason)
    shown = describe_caller_id(caller)
    if listed is not None and listed.list == "block":
        action = Action.COUNTER_BLOCKED if blocked_mode == "counter_offer" else Action.ANNOUNCE_BLOCKED
        return Decision(action, "blocked", listed.reason)
    if listed is not None and listed.list == "allow":
        action = {"reject": Action.HANDOFF_REJECT, "transfer": Action.HANDOFF_TRANSFER}.get(
            handoff_mode, Action.HANDOFF_IGNORE)
        return Decision(action, "allowed", f"{listed.reason} → handoff.mode = {handoff_mode}")
    if unknown_mode == "greet":
        return Decision(Action.GREET, "unknown", f"{shown}; calls.unknown = greet")
    return Decision(Action.SCREEN, "unknown", f"{shown}, not on any list → screening")


_NAME_MAX = 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _clean_name(value: str | None) -> str | None:
    """A name from the network, fit for one log line: no control characters, squeezed, bounded."""
    text = " ".join(_CONTROL.sub(" ", value or "").split())
    if len(text) > _NAME_MAX:
        text = text[: _NAME_MAX - 1] + "…"
    return text or None


def sip_user_name(from_raw: str | None) -> str | None:
    """The From URI's user part when it is a name rather than a number (``sip:Petra%20Schmidt@…``
    → 'Petra Schmidt'); None for numbers, dial strings and no user."""
    if not from_raw:
        return None
    user = (parse_name_addr(from_raw).user or "").partition(";")[0]
    if not user or not any(c.isalpha() for c in user):
        return None
    return _clean_name(user)


def describe_caller_id(caller: Caller) -> str:
    """What the caller ID shows, for the log: a number as a number, a name as a name."""
    number = caller.e164 or caller.number
    if number:
        return f"number shown ({number})"
    name = _clean_name(caller.display_name)
    user = sip_user_name(caller.from_raw)
    if name:
        return f"caller ID shows no number, name '{name}'"
    if user:
        return f"caller ID shows no number, name '{user}' (SIP user)"
    return "caller ID shows no number"
