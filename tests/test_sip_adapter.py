"""The SIP adapter's workarounds, each against a real SIP/RTP exchange on loopback.

The peer is callbot's own minimal caller (plain sockets, no SIP library), so
these run without Kamailio or SIPp; tests/test_integration_sip.py repeats the
important paths with SIPp through a Kamailio registrar.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from callbot.audio import ulaw_decode, ulaw_encode
from callbot.telephony.democaller import DemoCaller
from tests.conftest import loopback_config, running_bot, tone

ANONYMOUS = '"Anonymous" <sip:anonymous@anonymous.invalid>'
FRITZBOX = "<sip:03012345678@fritz.box>"


def place(bot, from_header, **kwargs):
    caller = DemoCaller("127.0.0.1", bot.config.sip.local_port)
    report = caller.call(from_header, timeout=kwargs.pop("timeout", 20), **kwargs)
    bot.store.flush()
    return report


def only_call(bot):
    bot.store.flush()
    calls = bot.store.calls(limit=5)
    assert len(calls) == 1, calls
    return calls[0]


def wait_finished(bot, timeout=5.0):
    """The row is finalized on the call thread after the SIP exchange ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bot.store.flush()
        calls = bot.store.calls(limit=5)
        if calls and all(c.outcome for c in calls):
            return calls
        time.sleep(0.05)
    raise AssertionError(f"call rows not finalized: {bot.store.calls(limit=5)}")


def test_answers_without_the_library_one_second_delay(tmp_path, short_prompts):
    # rfcvoip as shipped sleeps 1.0 s before the callback (INVITE->200 ~1014 ms).
    with running_bot(loopback_config(tmp_path, short_prompts)) as bot:
        report = place(bot, FRITZBOX)
    assert report.status == 200
    assert report.answer_latency < 0.5


def test_withheld_caller_hears_the_prompt_then_the_bot_hangs_up(tmp_path, short_prompts):
    with running_bot(loopback_config(tmp_path, short_prompts)) as bot:
        report = place(bot, ANONYMOUS, extra_headers=("Privacy: id",))
        [row] = wait_finished(bot)
        events = bot.store.events(row.id)
    assert report.status == 200
    assert report.bye_from_bot_at is not None
    # 2.0 s prompt: every frame arrives (a bulk write would keep only ~140 ms).
    assert 95 <= len(report.rtp_times) <= 103
    assert report.audio_seconds == pytest.approx(2.0, abs=0.1)
    # BYE no later than 300 ms after the last prompt packet.
    assert 0 <= report.bye_from_bot_at - report.rtp_times[-1] <= 0.3
    assert row.outcome == "withheld_rejected" and row.withheld
    assert row.caller_number is None and row.caller_dialled is None
    assert [e.kind for e in events][:1] == ["decision"]
    assert "Privacy: id" in events[0].reason


def test_prompt_is_sent_paced_not_in_bursts(tmp_path, short_prompts):
    with running_bot(loopback_config(tmp_path, short_prompts)) as bot:
        report = place(bot, FRITZBOX)
    times = report.rtp_times
    span = times[-1] - times[0]
    assert span == pytest.approx(len(times) * 0.02, rel=0.1)
    # No burst: never more than 8 packets inside any 100 ms window (5 expected).
    j = 0
    for i, t in enumerate(times):
        while times[j] < t - 0.1:
            j += 1
        assert i - j + 1 <= 8


def test_tel_uri_caller_is_answered_and_normalised(tmp_path, short_prompts):
    # rfcvoip drops an INVITE whose From is a tel: URI (caller sees 408).
    with running_bot(loopback_config(tmp_path, short_prompts)) as bot:
        report = place(bot, "<tel:+493012345678>")
        row = wait_finished(bot)[0]
    assert report.status == 200
    assert row.caller_number == "+493012345678"
    assert row.outcome == "answered"


def test_caller_audio_arrives_as_16_bit_pcm(tmp_path, short_prompts):
    """Bit-exact µ-law decode: the 8-bit default would leave only 256 coarse levels."""
    from callbot.telephony.endpoint import SipEndpoint

    config = loopback_config(tmp_path, short_prompts)
    heard = bytearray()

    def on_call(call):
        call.answer()
        deadline = time.monotonic() + 1.5
        next_tick = time.monotonic()
        while time.monotonic() < deadline and call.active:
            frame = call.read_frame()
            if frame:
                heard.extend(frame)
            next_tick += 0.02
            time.sleep(max(0, next_tick - time.monotonic()))
        call.hangup()

    endpoint = SipEndpoint(config.sip, on_call)
    endpoint.start()
    try:
        signal = tone(1.0, 523, dbfs=-20)
        DemoCaller("127.0.0.1", config.sip.local_port).call(FRITZBOX, send_pcm=signal, timeout=10)
    finally:
        endpoint.stop()
    samples = memoryview(bytes(heard)).cast("h")
    ulaw_levels = set(memoryview(ulaw_decode(bytes(range(256)))).cast("h"))
    nonzero = [s for s in samples if s]
    assert len(nonzero) > 4000  # at least half a second of the tone came through
    assert set(nonzero) <= ulaw_levels  # exactly the G.711 levels, no 8-bit requantisation
    assert len(set(nonzero)) > 60
    expected = set(memoryview(ulaw_decode(ulaw_encode(signal))).cast("h")) - {0}
    assert set(nonzero) == expected


def test_reads_never_block_when_no_rtp_arrives(tmp_path, short_prompts):
    from callbot.telephony.endpoint import SipEndpoint

    config = loopback_config(tmp_path, short_prompts)
    result = {}

    def on_call(call):
        call.answer()
        start = time.monotonic()
        frames = [call.read_frame() for _ in range(50)]
        result["elapsed"] = time.monotonic() - start
        result["sizes"] = {len(f) for f in frames if f is not None}
        call.hangup()

    endpoint = SipEndpoint(config.sip, on_call)
    endpoint.start()
    try:
        DemoCaller("127.0.0.1", config.sip.local_port).call(FRITZBOX, send_rtp=False, timeout=10)
    finally:
        endpoint.stop()
    assert result["elapsed"] < 0.5  # a blocking read would wait for RTP that never comes
    assert result["sizes"] == {320}


def test_silent_caller_is_hung_up_after_rtp_timeout(tmp_path, short_prompts):
    config = loopback_config(tmp_path, short_prompts, rtp_timeout=0.6)
    # A long prompt so that only the RTP guard can end the call early.
    (short_prompts / "de" / "hello.wav").unlink()
    from callbot.audio import write_wav
    write_wav(short_prompts / "de" / "hello.wav", tone(8.0))
    with running_bot(config) as bot:
        report = place(bot, FRITZBOX, send_rtp=False)
        row = wait_finished(bot)[0]
        events = bot.store.events(row.id)
    assert report.bye_from_bot_at is not None
    assert report.bye_from_bot_at - report.answered_at < 3.0
    assert row.outcome == "timeout"
    assert ("hangup", "rtp_timeout") in [(e.kind, e.rule) for e in events]


def test_a_caller_sending_rtp_is_not_cut_by_the_rtp_timeout(tmp_path, short_prompts):
    config = loopback_config(tmp_path, short_prompts, rtp_timeout=0.6)
    from callbot.audio import write_wav
    write_wav(short_prompts / "de" / "hello.wav", tone(3.0))
    with running_bot(config) as bot:
        report = place(bot, FRITZBOX)
        row = wait_finished(bot)[0]
    assert report.audio_seconds == pytest.approx(3.0, abs=0.1)
    assert row.outcome == "answered"


def test_call_is_cut_at_the_maximum_length(tmp_path, short_prompts):
    config = loopback_config(tmp_path, short_prompts, max_call_duration=1.0)
    from callbot.audio import write_wav
    write_wav(short_prompts / "de" / "hello.wav", tone(8.0))
    with running_bot(config) as bot:
        report = place(bot, FRITZBOX)
        row = wait_finished(bot)[0]
        events = bot.store.events(row.id)
    assert report.bye_from_bot_at - report.answered_at < 2.5
    assert row.outcome == "timeout"
    assert ("hangup", "max_duration") in [(e.kind, e.rule) for e in events]


def test_caller_hanging_up_mid_prompt_finalizes_the_row(tmp_path, short_prompts):
    with running_bot(loopback_config(tmp_path, short_prompts)) as bot:
        report = place(bot, ANONYMOUS, hangup_after=0.5)
        row = wait_finished(bot)[0]
        events = bot.store.events(row.id)
    assert report.bye_from_bot_at is None and report.bye_sent_at is not None
    assert row.outcome == "caller_hung_up"
    assert row.ended_at is not None and row.duration < 1.8
    assert ("hangup", "caller") in [(e.kind, e.rule) for e in events]


def test_cancel_before_answer_gets_487_and_is_never_answered(tmp_path, short_prompts):
    with running_bot(loopback_config(tmp_path, short_prompts, answer_delay=3.0)) as bot:
        report = place(bot, FRITZBOX, cancel_after=0.3)
        row = wait_finished(bot)[0]
    assert report.status == 487
    assert report.answered_at is None and not report.rtp_times
    assert row.outcome == "cancelled" and row.answered_at is None


def test_withheld_reject_mode_answers_433_without_answering(tmp_path, short_prompts):
    config = loopback_config(tmp_path, short_prompts)
    config = replace(config, calls=replace(config.calls, withheld="reject"))
    with running_bot(config) as bot:
        report = place(bot, ANONYMOUS, extra_headers=("Privacy: id",))
        row = wait_finished(bot)[0]
    assert report.status == 433
    assert report.answered_at is None
    assert row.outcome == "withheld_rejected" and row.answered_at is None


def test_library_debug_output_stays_off_stdout(tmp_path, short_prompts, capfd):
    with running_bot(loopback_config(tmp_path, short_prompts)) as bot:
        place(bot, FRITZBOX, hangup_after=0.3)
    captured = capfd.readouterr()
    assert "[rfcvoip" not in captured.out


def test_open_rows_from_a_crash_are_finalized_as_interrupted(tmp_path, short_prompts):
    from callbot.records import CallerFields
    from callbot.store.store import Store

    config = loopback_config(tmp_path, short_prompts)
    crashed = Store(config.storage.database)
    crashed.start()
    fields = CallerFields(raw="<sip:1@x>", display=None, number=None, dialled="1", country=None, region=None,
                          type=None, description=None, valid=False, withheld=False, number_source="From")
    open_id = crashed.start_call(fields, "crash-1").result(5)
    crashed.close()
    with running_bot(config) as bot:
        row = bot.store.call(open_id)
    assert row.outcome == "interrupted" and row.ended_at is not None


def test_an_invite_longer_than_8_kb_is_answered_and_logged(tmp_path, short_prompts):
    """A 10 kB display name makes a 10 kB INVITE: the library read only 8192 bytes and dropped it."""
    name = "Z" * 10_000
    with running_bot(loopback_config(tmp_path, short_prompts)) as bot:
        report = place(bot, f'"{name}" <sip:+4930123456@127.0.0.1>')
        [row] = wait_finished(bot)
    assert report.status == 200 and report.answered_at is not None
    assert row.caller_display == name and row.outcome == "answered"
