"""Policy order, each a logged decision: withheld → blocked → allowed → screening."""

import pytest

from callbot.call.caller import identify_raw
from callbot.call.policy import Action, Listed, decide

NUMBERED = b"INVITE sip:callbot@h SIP/2.0\r\nFrom: <sip:03012345678@fritz.box>;tag=1\r\n\r\n"
WITHHELD = b"INVITE sip:callbot@h SIP/2.0\r\nFrom: <sip:anonymous@anonymous.invalid>;tag=1\r\nPrivacy: id\r\n\r\n"
BLOCK = Listed("block", "block: prefix +4930123* — 'Stromvertrieb' (manual, by anna)")
ALLOW = Listed("allow", "allow: +493012345678 — 'contact: Müller' (imported)")


def test_withheld_comes_first_even_for_a_listed_number():
    decision = decide(identify_raw(WITHHELD), listed=ALLOW)
    assert decision.action is Action.ANNOUNCE_WITHHELD and decision.rule == "withheld"
    assert "Privacy: id" in decision.reason
    assert decide(identify_raw(WITHHELD), "reject").action is Action.REJECT_WITHHELD


@pytest.mark.parametrize("mode, action", [("announce", Action.ANNOUNCE_BLOCKED),
                                          ("counter_offer", Action.COUNTER_BLOCKED)])
def test_blocked_callers_get_the_blocked_message_or_the_counter_offer(mode, action):
    decision = decide(identify_raw(NUMBERED), listed=BLOCK, blocked_mode=mode)
    assert decision.action is action and decision.rule == "blocked"
    assert decision.reason == BLOCK.reason  # the entry's reason is the logged reason
    assert decision.prompt == ("blocked" if mode == "announce" else None)


@pytest.mark.parametrize("mode, action", [("ignore", Action.HANDOFF_IGNORE), ("reject", Action.HANDOFF_REJECT),
                                          ("transfer", Action.HANDOFF_TRANSFER)])
def test_allowed_callers_are_handed_to_a_person(mode, action):
    decision = decide(identify_raw(NUMBERED), listed=ALLOW, handoff_mode=mode)
    assert decision.action is action and decision.rule == "allowed"
    assert ALLOW.reason in decision.reason and mode in decision.reason


def test_everyone_else_is_screened_or_greeted():
    assert decide(identify_raw(NUMBERED)).action is Action.SCREEN
    assert decide(identify_raw(NUMBERED), unknown_mode="greet").action is Action.GREET
    assert "+493012345678" in decide(identify_raw(NUMBERED)).reason


def _from(header: str) -> bytes:
    return f"INVITE sip:callbot@h SIP/2.0\r\nFrom: {header};tag=1\r\n\r\n".encode()


@pytest.mark.parametrize("header", ['"Petra Schmidt" <sip:petra.schmidt@example.com>',
                                    "<sip:Petra%20Schmidt@example.com>"])
def test_a_name_is_described_as_a_name_not_as_a_number(header):
    for mode in ("screen", "greet"):
        reason = decide(identify_raw(_from(header)), unknown_mode=mode).reason
        assert "caller ID shows no number, name 'Petra Schmidt'" in reason
        assert "number shown" not in reason


def test_a_number_is_described_as_a_number_and_nothing_as_nothing():
    assert decide(identify_raw(NUMBERED)).reason == "number shown (+493012345678), not on any list → screening"
    named_number = decide(identify_raw(_from('"Büro Müller" <sip:03012345678@fritz.box>')), unknown_mode="greet")
    assert named_number.reason == "number shown (+493012345678); calls.unknown = greet"
    extension = decide(identify_raw(_from("<sip:**621@fritz.box>"))).reason
    assert extension.startswith("number shown (**621)")
    bare = decide(identify_raw(_from("<sip:+@example.com>"))).reason
    assert bare.startswith("caller ID shows no number,") and "name" not in bare


def test_a_name_from_the_network_stays_one_bounded_line():
    reason = decide(identify_raw(_from('"Petra\tSchmidt ' + "x" * 200 + '" <sip:p@example.com>'))).reason
    assert "\t" not in reason and len(reason) < 140 and "…" in reason
