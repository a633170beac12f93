"""What to do with a call: pure policy, apart from the mechanism that does it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from callbot.caller import Caller

#: RFC 5079 response for refusing anonymous calls without answering.
ANONYMITY_DISALLOWED = 433


class Action(str, Enum):
    ANNOUNCE_WITHHELD = "announce_withheld"  # answer, play `withheld`, hang up
    REJECT_WITHHELD = "reject_withheld"      # 433 without answering
    GREET = "greet"                          # answer, play `hello`, hang up
    SCREEN = "screen"                        # answer, ask who and why, listen, say goodbye


@dataclass(frozen=True)
class Decision:
    action: Action
    rule: str
    reason: str

    @property
    def prompt(self) -> str | None:
        return {Action.ANNOUNCE_WITHHELD: "withheld", Action.GREET: "hello"}.get(self.action)


def decide(caller: Caller, withheld_mode: str = "announce", unknown_mode: str = "screen") -> Decision:
    """Decide the call's treatment.

    ``withheld_mode`` is ``announce`` or ``reject``; ``unknown_mode`` (callers
    who show a number) is ``screen`` or ``greet``.
    """
    if caller.withheld:
        reason = "; ".join(caller.withheld_reasons) or "caller ID withheld"
        if withheld_mode == "reject":
            return Decision(Action.REJECT_WITHHELD, "withheld", f"{reason} → {ANONYMITY_DISALLOWED} Anonymity Disallowed")
        return Decision(Action.ANNOUNCE_WITHHELD, "withheld", reason)
    shown = caller.e164 or caller.number or caller.display_name or "caller ID shown"
    if unknown_mode == "greet":
        return Decision(Action.GREET, "unknown", f"number shown ({shown}); calls.unknown = greet")
    return Decision(Action.SCREEN, "unknown", f"number shown ({shown}), not on any list → screening")
