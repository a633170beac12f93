"""`caller is allowed|blocked|known` in the owner's script, end to end over SIP.

The bot runs on loopback with real SIP/RTP; the caller is the demo caller. The
script branches on the caller's standing and says a different stand-in prompt
(a tone) for each; the test reads back from the RTP the bot sent which one.
"""

from __future__ import annotations

import time
from dataclasses import replace

from callbot.telephony.democaller import DemoCaller
from tests.conftest import loopback_config, prompt_sequence

NUMBER = "+493012345678"
FROM = "<sip:03012345678@fritz.box>"

SCRIPT = """
start = "check"

[steps.check]
branch = [
  { when = "caller is blocked", goto = "say_blocked" },
  { when = "caller is allowed", goto = "say_allowed" },
  { when = "caller is known", goto = "say_known" },
  { else = "say_unknown" },
]

[steps.say_blocked]
say = "blocked"
next = "done"

[steps.say_allowed]
say = "hello"
next = "done"

[steps.say_known]
say = "goodbye"
next = "done"

[steps.say_unknown]
say = "no_response"
next = "done"

[steps.done]
hangup = "message_taken"
"""


def _bot_config(tmp_path, short_prompts):
    (short_prompts / "de" / "script.toml").write_text(SCRIPT)
    config = loopback_config(tmp_path, short_prompts, unknown="screen")
    from callbot.notify.settings import NotifyRule

    return replace(
        config,
        # a failed transfer is worth a note to the office, whatever the outcome after it
        notify=replace(config.notify, webhook_secret="s",
                       rule=(NotifyRule(outcomes=("transfer_failed",), webhook="http://127.0.0.1:9/hook"),)),
        calls=replace(config.calls, blocked="counter_offer", counter_offer_step="check"),
        # allowed callers are transferred; the demo caller refuses REFER (501), so the bot
        # falls back to screening them — that is where `caller is allowed` is read.
        handoff=replace(config.handoff, mode="transfer", transfer_to="sip:100@127.0.0.1:5099"),
    )


def _call(bot, config) -> tuple[list[str], object]:
    before = {r.id for r in bot.store.calls(limit=50)}
    report = DemoCaller("127.0.0.1", config.sip.local_port).call(FROM, timeout=20)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        bot.store.flush()
        rows = [r for r in bot.store.calls(limit=50) if r.id not in before]
        if rows and rows[0].outcome:
            break
        time.sleep(0.05)
    [row] = rows
    return [p for p, _ in prompt_sequence(bytes(report.audio))], row


def test_the_script_sees_whether_the_caller_is_blocked_allowed_or_known(tmp_path, short_prompts):
    from callbot.app import Bot

    config = _bot_config(tmp_path, short_prompts)
    bot = Bot(config)
    bot.start()
    try:
        first, first_row = _call(bot, config)     # never called, on no list
        again, again_row = _call(bot, config)     # has called before: known
        bot.store.add_list_entry("allow", "number", NUMBER, "Steuerberater").result(5)
        allowed, allowed_row = _call(bot, config)
        bot.store.remove_list_entry(("allow", NUMBER)).result(5)
        bot.store.add_list_entry("block", "number", NUMBER, "Drückerkolonne").result(5)
        blocked, blocked_row = _call(bot, config)
        events = {row.id: bot.store.events(row.id) for row in (allowed_row, blocked_row)}
        notified = {row.id: len(bot.store.notifications(row.id)) for row in (first_row, allowed_row, blocked_row)}
    finally:
        bot.stop()
    assert first == ["no_response"] and first_row.outcome == "message_taken"
    assert again == ["goodbye"] and again_row.outcome == "message_taken"
    assert allowed == ["hello"], allowed
    assert any(e.kind == "handoff" and e.rule == "fallback" for e in events[allowed_row.id])
    assert notified == {first_row.id: 0, allowed_row.id: 1, blocked_row.id: 0}  # only the failed transfer
    assert blocked == ["blocked"], blocked
    steps = [e.reason for e in events[blocked_row.id] if e.kind == "step"]
    assert any("caller is blocked" in s for s in steps), steps


def test_standing_gives_the_script_its_view_of_the_caller():
    from callbot.call.handler import Standing
    from callbot.call.policy import Listed

    def flags(standing):
        ctx = standing.context(True, "de")
        return ctx.allowed, ctx.blocked, ctx.known

    assert flags(Standing()) == (False, False, False)
    assert flags(Standing(called_before=True)) == (False, False, True)
    assert flags(Standing(Listed("allow", "Steuerberater"))) == (True, False, True)
    assert flags(Standing(Listed("block", "Drückerkolonne"))) == (False, True, True)
    assert Standing().context(False, "en").recording is False
