"""The call layer's settings: ``[calls]`` (what happens to whom), ``[handoff]``
(passing listed and genuine callers on) and ``[phone]`` (how numbers are read).

Defined here with the components that use them, filled by ``callbot.config``, which
checks each value against the choices below. Imports nothing of callbot.
"""

from __future__ import annotations

from dataclasses import dataclass

#: calls.withheld: announce the policy, or refuse with 433 Anonymity Disallowed.
WITHHELD_MODES = ("announce", "reject")
#: calls.unknown: numbered callers are screened (asked who and why) or greeted.
UNKNOWN_MODES = ("screen", "greet")
#: calls.blocked: announce and hang up, or make the counter-offer.
BLOCKED_MODES = ("announce", "counter_offer")
#: handoff.mode: what happens to allowed/known callers.
HANDOFF_MODES = ("ignore", "reject", "transfer")
#: handoff.genuine: what happens to screened genuine callers.
GENUINE_MODES = ("message", "transfer")


@dataclass(frozen=True)
class CallSettings:
    withheld: str = "announce"  # "announce" or "reject" (433 Anonymity Disallowed)
    keep_withheld_evidence: bool = False  # store P-Asserted-Identity of withheld callers
    unknown: str = "screen"  # numbered callers: "screen" (ask who and why) or "greet" (hello, hang up)
    blocked: str = "announce"  # blocked callers: "announce" (prompt `blocked`, hang up) or "counter_offer"
    counter_offer_step: str = "ask_website"  # the script step where the counter-offer starts

    @property
    def uses_script(self) -> bool:
        """Whether any caller reaches the owner's script (screening, or the counter-offer)."""
        return self.unknown == "screen" or self.blocked == "counter_offer"


@dataclass(frozen=True)
class HandoffSettings:
    mode: str = "ignore"        # allowed/known callers: "ignore" (let the PBX ring on), "reject", "transfer"
    reject_status: int = 486    # final status for mode = "reject" (400-699)
    transfer_to: str = ""       # SIP URI for mode = "transfer", e.g. "sip:100@192.168.178.1"
    genuine: str = "message"    # screened genuine callers (script outcome message_taken): "message" or "transfer"


@dataclass(frozen=True)
class PhoneSettings:
    default_region: str = "DE"  # ISO 3166 alpha-2, upper case
