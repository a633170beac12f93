"""Data protection inside the running bot: recording switched off, retention applied daily."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from callbot.audio import write_wav
from callbot.telephony.democaller import DemoCaller
from callbot.records import CallerFields, TurnFields
from callbot.store.store import Store
from tests.conftest import loopback_config, prompt_sequence, running_bot, tone
from tests.fakes import CannedRecognizer

FRITZBOX = "<sip:03012345678@fritz.box>"


def test_with_recording_off_no_audio_is_kept_and_no_notice_is_played(tmp_path, short_prompts):
    config = loopback_config(tmp_path, short_prompts, unknown="screen")
    config = replace(config, storage=replace(config.storage, record=False))
    from callbot.app import Bot

    bot = Bot(config, recognizer=CannedRecognizer("hier ist schmidt", "es geht um meine rechnung"))
    bot.start()
    try:
        speech = tone(1.2, 300, dbfs=-12)
        report = DemoCaller("127.0.0.1", config.sip.local_port).call(FRITZBOX, answers=(speech, speech), timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (bot.store.calls(limit=1) and bot.store.calls(limit=1)[0].outcome):
            time.sleep(0.05)
        [row] = bot.store.calls(limit=5)
        turns = bot.store.turns(row.id)
    finally:
        bot.stop()
    played = [p for p, _ in prompt_sequence(bytes(report.audio))]
    assert played[:2] == ["greeting", "ask_identity"]  # no recording notice
    assert "recording_notice" not in played
    caller_turns = [t for t in turns if t.speaker == "caller"]
    assert caller_turns and all(t.recording is None for t in caller_turns)
    assert caller_turns[0].text == "hier ist schmidt"  # transcripts are still kept
    recordings = Path(config.storage.recordings)
    assert not recordings.exists() or not any(recordings.rglob("*.wav"))


def test_the_running_bot_applies_the_retention_rule(tmp_path, short_prompts):
    config = loopback_config(tmp_path, short_prompts)
    config = replace(config, retention=replace(config.retention, days=30))
    old = datetime.now(timezone.utc) - timedelta(days=45)
    store = Store(config.storage.database, clock=lambda: old)
    store.start()
    fields = CallerFields(raw="<sip:030111@x>", display=None, number="+4930111", dialled="030111", country=49,
                          region="DE", type=None, description=None, valid=True, withheld=False,
                          number_source="From")
    call_id = store.start_call(fields, "old").result(5)
    wav = Path(config.storage.recordings) / str(call_id) / "02-identity.wav"
    wav.parent.mkdir(parents=True)
    write_wav(wav, tone(1.0, 300))
    store.add_turn(call_id, TurnFields(2, "caller", old, 1.0, field="identity", text="hier ist schmidt",
                                       recording=f"{call_id}/02-identity.wav")).result(5)
    store.update_call(call_id, transcript="identity: hier ist schmidt").result(5)
    store.finish_call(call_id, "message_taken").result(5)
    store.close()
    with running_bot(config) as bot:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (wav.exists() or bot.store.call(call_id).transcript):
            time.sleep(0.05)
        row = bot.store.call(call_id)
        [turn] = bot.store.turns(call_id)
    assert not wav.exists()
    assert row.transcript is None and turn.text is None and turn.recording is None
    assert row.outcome == "message_taken"  # the call row and its trail stay
