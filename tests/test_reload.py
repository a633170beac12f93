"""Edited prompts and an edited script are picked up by the running bot (no restart)."""

from __future__ import annotations

import time


from callbot.audio import write_wav
from callbot.telephony.democaller import DemoCaller
from tests.conftest import SHORT_PROMPTS, loopback_config, prompt_sequence, running_bot, tone

FRITZBOX = "<sip:03012345678@fritz.box>"


def heard(bot):
    report = DemoCaller("127.0.0.1", bot.config.sip.local_port).call(FRITZBOX, timeout=40)
    return prompt_sequence(bytes(report.audio))


def bump_mtime(path):
    later = time.time() + 2
    import os

    os.utime(path, (later, later))


def picked_up(bot, timeout=10.0):
    """Wait for a whole reload pass that began after the edit (the bot re-reads off the INVITE path)."""
    target = bot.reloads + 2
    deadline = time.monotonic() + timeout
    while bot.reloads < target:
        assert time.monotonic() < deadline, "the bot's reload timer did not run"
        time.sleep(0.05)


def test_a_replaced_recording_is_played_on_the_next_call(tmp_path, short_prompts):
    with running_bot(loopback_config(tmp_path, short_prompts)) as bot:
        assert heard(bot) == [("hello", 1.5)]
        hello = short_prompts / "de" / "hello.wav"
        write_wav(hello, tone(0.8, SHORT_PROMPTS["hello"][1]))
        bump_mtime(hello)
        picked_up(bot)
        assert heard(bot) == [("hello", 0.8)]


def test_an_edited_script_is_used_from_the_next_call_and_a_broken_edit_is_not(tmp_path, short_prompts, caplog):
    script = short_prompts / "de" / "script.toml"
    # A tiny script: say the greeting, hang up.
    script.write_text('start = "hi"\n[steps.hi]\nsay = "greeting"\nnext = "bye"\n'
                      '[steps.bye]\nhangup = "message_taken"\n')
    with running_bot(loopback_config(tmp_path, short_prompts, unknown="screen")) as bot:
        assert [p for p, _ in heard(bot)] == ["greeting"]
        script.write_text('start = "hi"\n[steps.hi]\nsay = "goodbye"\nnext = "bye"\n'
                          '[steps.bye]\nhangup = "message_taken"\n')
        bump_mtime(script)
        picked_up(bot)
        assert [p for p, _ in heard(bot)] == ["goodbye"]
        script.write_text('start = "hi"\n[steps.hi]\nsay = "goodbye"\nnext = "by"\n'
                          '[steps.bye]\nhangup = "message_taken"\n')
        bump_mtime(script)
        picked_up(bot)
        assert [p for p, _ in heard(bot)] == ["goodbye"]  # the last good script
    assert "did you mean 'bye'" in caplog.text
