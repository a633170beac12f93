"""Caller lists in action: blocked callers, and allowed callers handed to a person."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from callbot.telephony.democaller import DemoCaller
from rig import Kamailio, RtpSink, kamailio_binary, run_sipp, sipp_binary
from tests.conftest import loopback_config, prompt_sequence, running_bot

FRITZBOX = "<sip:03012345678@fritz.box>"
NUMBER = "+493012345678"


def configured(tmp_path, short_prompts, blocked="announce", handoff="ignore", **sip):
    config = loopback_config(tmp_path, short_prompts, unknown="screen", **sip)
    return replace(config, calls=replace(config.calls, blocked=blocked),
                   handoff=replace(config.handoff, mode=handoff, transfer_to="sip:100@127.0.0.1:5099"))


def finished(bot, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bot.store.flush()
        rows = bot.store.calls(limit=5)
        if rows and rows[0].outcome:
            return rows[0], bot.store.events(rows[0].id)
        time.sleep(0.05)
    raise AssertionError(bot.store.calls(limit=5))


def put_on_list(bot, which, reason):
    bot.store.add_list_entry(which, "number", NUMBER, reason, created_by="test").result(5)


def test_a_blocked_caller_hears_the_blocked_message(tmp_path, short_prompts):
    with running_bot(configured(tmp_path, short_prompts)) as bot:
        put_on_list(bot, "block", "rang 5 times selling electricity")
        report = DemoCaller("127.0.0.1", bot.config.sip.local_port).call(FRITZBOX, timeout=20)
        row, events = finished(bot)
    assert prompt_sequence(bytes(report.audio)) == [("blocked", 1.0)]
    assert row.outcome == "blocked"
    decision = [e for e in events if e.kind == "decision"][0]
    assert decision.rule == "blocked" and "rang 5 times selling electricity" in decision.reason


def test_a_blocked_caller_can_go_straight_to_the_counter_offer(tmp_path, short_prompts):
    with running_bot(configured(tmp_path, short_prompts, blocked="counter_offer")) as bot:
        put_on_list(bot, "block", "cold caller")
        report = DemoCaller("127.0.0.1", bot.config.sip.local_port).call(FRITZBOX, timeout=40)
        row, _ = finished(bot)
    played = [p for p, _ in prompt_sequence(bytes(report.audio))]
    assert played[0] == "ask_website" and "offer" in played  # silence counts as "unknown" → offer
    assert "greeting" not in played


def test_an_allowed_caller_is_left_ringing_for_a_person(tmp_path, short_prompts):
    with running_bot(configured(tmp_path, short_prompts, handoff="ignore")) as bot:
        put_on_list(bot, "allow", "contact: Müller")
        report = DemoCaller("127.0.0.1", bot.config.sip.local_port).call(FRITZBOX, cancel_after=1.5, timeout=20)
        row, events = finished(bot)
    assert report.status == 487 and report.answered_at is None  # never answered; the PBX took it elsewhere
    assert row.outcome == "handed_off" and row.answered_at is None
    assert ("handoff", "ignore") in [(e.kind, e.rule) for e in events]


def test_an_allowed_caller_can_be_rejected_so_the_pbx_moves_on(tmp_path, short_prompts):
    config = configured(tmp_path, short_prompts, handoff="reject")
    config = replace(config, handoff=replace(config.handoff, reject_status=480))
    with running_bot(config) as bot:
        put_on_list(bot, "allow", "contact: Müller")
        report = DemoCaller("127.0.0.1", bot.config.sip.local_port).call(FRITZBOX, timeout=20)
        row, _ = finished(bot)
    assert report.status == 480 and row.outcome == "rejected"


@pytest.mark.integration
@pytest.mark.skipif(not (kamailio_binary() and sipp_binary()), reason="needs kamailio and sipp")
def test_an_allowed_caller_is_transferred_by_refer(tmp_path, short_prompts):
    with Kamailio(tmp_path / "kamailio") as kam, RtpSink() as sink:
        config = configured(tmp_path, short_prompts, handoff="transfer", register=True, server="127.0.0.1",
                            port=kam.port, username="callbot", password="")
        with running_bot(config) as bot:
            assert kam.wait_registered("callbot", timeout=10)
            put_on_list(bot, "allow", "contact: Müller")
            res = run_sipp("uac_refer", kam.address, workdir=tmp_path, from_user="03012345678",
                           keys={"sink_port": sink.port, "caller_host": "fritz.box"}, timeout=30)
            row, events = finished(bot)
    assert res.ok, res.describe()
    assert row.outcome == "transferred"
    transfer = [e for e in events if (e.kind, e.rule) == ("handoff", "transfer")][0]
    assert "accepted; the new call answered 200" in transfer.reason
