"""Screening an unknown caller end to end on loopback (real SIP/RTP, injected recognizer)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from callbot.audio import SAMPLE_RATE
from callbot.telephony.democaller import DemoCaller
from callbot.text.findings import summarize
from tests.conftest import SHORT_PROMPTS, loopback_config, running_bot, tone
from rig.speech import talk_spans
from tests.fakes import CannedRecognizer

FRITZBOX = "<sip:03012345678@fritz.box>"


def speech(seconds: float) -> bytes:
    """A stand-in utterance: a loud tone is speech to the energy detector."""
    return tone(seconds, 300, dbfs=-12)


def tone_config(tmp_path, short_prompts):
    """The callers' answers are tones: the bot listens with the energy detector."""
    config = loopback_config(tmp_path, short_prompts, unknown="screen")
    return replace(config, turns=replace(config.turns, detector="energy"))


def wait_finished(bot, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bot.store.flush()
        rows = bot.store.calls(limit=5)
        if rows and all(r.outcome for r in rows) and rows[0].label:
            return rows
        time.sleep(0.05)
    raise AssertionError(bot.store.calls(limit=5))


def test_unknown_caller_is_asked_who_and_why_and_the_log_holds_the_answers(tmp_path, short_prompts):
    recognizer = CannedRecognizer(
        "mein name ist thomas müller von der firma vergleichsportal gmbh",
        "ich möchte ihnen ein unverbindliches angebot für ihren strom machen",
        "nein haben wir nicht",
        "thomas müller null drei null eins zwei drei",
        delay=0.4,  # like a busy decoder: each transcript comes 0.4 s after the turn
    )
    config = tone_config(tmp_path, short_prompts)
    from callbot.app import Bot

    bot = Bot(config, recognizer=recognizer)
    bot.start()
    try:
        report = DemoCaller("127.0.0.1", config.sip.local_port).call(
            FRITZBOX, answers=(speech(1.5), speech(1.2), speech(0.8), speech(1.4)), timeout=40)
        [row] = wait_finished(bot)
        turns = bot.store.turns(row.id)
        events = bot.store.events(row.id)
    finally:
        bot.stop()
    assert report.bye_from_bot_at is not None
    assert [(t.speaker, t.prompt_id or t.field) for t in turns] == [
        ("bot", "greeting"), ("bot", "recording_notice"), ("bot", "ask_identity"), ("caller", "identity"),
        ("bot", "ask_purpose"), ("caller", "purpose"), ("bot", "ask_website"), ("caller", "website_answer"),
        ("bot", "offer"), ("caller", "contact_details"), ("bot", "offer_thanks"), ("bot", "goodbye"),
    ]
    identity, purpose = turns[3], turns[5]
    assert identity.text.startswith("mein name ist") and identity.end_reason == "speech_stopped"
    assert identity.duration == pytest.approx(1.5 + 0.3 + 0.8, abs=0.3)
    for turn in (identity, purpose):
        path = Path(config.storage.recordings) / turn.recording
        assert path.exists() and path.stat().st_size > 0.5 * SAMPLE_RATE * 2
    assert row.person == "Thomas Müller" and row.company == "Vergleichsportal GmbH"
    assert row.label == "cold_call" and "Angebot" in row.label_reasons
    assert "identity: mein name ist" in row.transcript
    assert row.outcome == "cold_call_countered"
    data = row.to_json()
    for key in ("person", "company", "transcript", "label", "label_reasons"):
        assert data[key], key  # `callbot calls --json` carries them
    from click.testing import CliRunner
    from callbot.cli.main import main

    (tmp_path / "config.toml").write_text(
        f'[storage]\ndatabase = "{config.storage.database}"\nrecordings = "{config.storage.recordings}"\n'
        f'[prompts]\ndir = "{short_prompts}"\n')
    shown = CliRunner().invoke(main, ["calls", "--config", str(tmp_path / "config.toml"), "show", str(row.id)],
                               env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "Thomas Müller" in shown.output and "mein name ist thomas müller" in shown.output
    assert "ask_purpose" in shown.output
    kinds = [(e.kind, e.rule) for e in events]
    assert ("heard", "identity") in kinds and ("classify", "cold_call") in kinds
    assert ("step", "route") in kinds and ("step", "website_route") in kinds
    # every recognizer stream got the caller's audio (from the pre-roll on)
    assert all(s.fed > 1.0 * SAMPLE_RATE * 2 for s in recognizer.streams)
    # Only the answers a branch decides on (purpose, website) were waited for through result(),
    # which makes a turn urgent for the decoder; the others were saved once ready (futures.wait).
    assert [s.future.awaited for s in recognizer.streams] == [False, True, True, False]


def test_the_bot_never_talks_while_the_caller_talks(tmp_path, short_prompts):
    """The caller answers with a 2.5 s turn: the next prompt starts after it, within end_silence + 0.5 s."""
    config = tone_config(tmp_path, short_prompts)
    answer = speech(2.5)
    with running_bot(config):
        caller = DemoCaller("127.0.0.1", config.sip.local_port)
        report = caller.call(FRITZBOX, answers=(answer, speech(1.0)), timeout=30)
    audio = report.audio
    # Locate the bot's prompts in what the caller heard: runs of loud 20 ms frames.
    runs = talk_spans((i / 50, audio[i * 320 : (i + 1) * 320]) for i in range(len(audio) // 320))
    opening = sum(SHORT_PROMPTS[p][0] for p in ("greeting", "recording_notice", "ask_identity"))
    closing = SHORT_PROMPTS["take_message"][0] + SHORT_PROMPTS["goodbye"][0]
    durations = [b - a for a, b in runs]
    assert len(durations) == 3, runs
    for got, expected in zip(durations, (opening, SHORT_PROMPTS["ask_purpose"][0], closing)):
        assert got == pytest.approx(expected, abs=0.25)
    # The caller starts 0.7 s after the first prompt ends (democaller) and talks 2.5 s.
    caller_starts = runs[0][1] + 0.7
    caller_ends = caller_starts + 2.5
    gap = runs[1][0] - caller_ends
    assert gap > 0, "the bot talked while the caller was talking"
    assert gap <= 0.8 + 0.5


def test_summarize_prefers_the_identity_turn_and_classifies_everything():
    findings = summarize({"identity": "hier ist sandra becker von der firma becker druck gmbh",
                          "purpose": "es geht um ihre rechnung zu meiner bestellung vom letzten monat"})
    assert findings.person.value == "Sandra Becker"
    assert findings.company.value == "Becker Druck GmbH"
    assert findings.label == "genuine"
    assert findings.transcript.splitlines()[0].startswith("identity: hier ist")


def test_summarize_without_speech_is_unclear():
    findings = summarize({"identity": "", "purpose": "  "})
    assert findings.person is None and findings.company is None
    assert findings.label == "unclear"


def test_without_a_model_the_log_says_no_model_is_installed_not_transcription_off(tmp_path, short_prompts):
    from callbot.app import Bot

    config = loopback_config(tmp_path, short_prompts, unknown="screen", transcription="optional")
    assert not Path(config.speech.model).exists()
    bot = Bot(config)
    bot.start()
    try:
        assert bot.recognizer is None
        DemoCaller("127.0.0.1", config.sip.local_port).call(
            FRITZBOX, answers=(speech(1.0), speech(1.0)), timeout=40)
        [row] = wait_finished(bot)
    finally:
        bot.stop()
    assert row.label == "unclear"
    assert row.label_reasons == "no transcript (no speech model installed)"
