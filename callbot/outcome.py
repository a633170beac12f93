"""How a call ended: one enum for the handler, the store, the script checks and the CLI (a leaf)."""

from __future__ import annotations

from enum import Enum


class Outcome(str, Enum):
    """A call's final outcome, stored as its value in ``calls.outcome``."""

    WITHHELD_REJECTED = "withheld_rejected"      # caller ID withheld: message played (or 433), hung up
    CANCELLED = "cancelled"                      # the caller gave up before the bot answered
    ANSWERED = "answered"                        # answered, a prompt played (calls.unknown = greet)
    CALLER_HUNG_UP = "caller_hung_up"            # the caller hung up before the bot was done
    ERROR = "error"                              # the bot failed; the trail says why
    INTERRUPTED = "interrupted"                  # the bot stopped (or crashed) while the call was open
    TIMEOUT = "timeout"                          # no RTP, or the call reached its maximum length
    COLD_CALL_COUNTERED = "cold_call_countered"  # the owner's counter-offer was played
    MESSAGE_TAKEN = "message_taken"              # a genuine caller left a message
    NO_RESPONSE = "no_response"                  # the caller stayed silent
    BLOCKED = "blocked"                          # on the block list: announced and hung up
    HANDED_OFF = "handed_off"                    # allowed/known: left ringing for a person (not answered)
    TRANSFERRED = "transferred"                  # handed to a person by SIP REFER
    REJECTED = "rejected"                        # allowed/known: refused with a final status (handoff.mode = reject)
    REFUSED = "refused"                          # the bot could not take the INVITE (no common codec, no SDP,
                                                 # no free RTP port, over sip.max_calls); the trail says which
    STOPPED = "stopped"                          # the bot was stopped in order while the call was up (BYE sent)

    def __str__(self) -> str:
        return self.value


#: Every outcome's stored value.
OUTCOMES: frozenset[str] = frozenset(o.value for o in Outcome)
