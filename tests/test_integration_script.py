"""The owner's script end to end over SIP: Kamailio + a SIPp caller speaking German (espeak-ng).

The SIP/RTP path is real; the recognizer is injected (canned transcripts in
turn order) because no German Vosk model can be installed here. The prompts
are tones of distinct frequencies, so the test reads back from the bot's RTP
exactly which prompts were played, in which order and how long.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest

from callbot.audio import SAMPLE_RATE
from rig import Kamailio, RtpSink, kamailio_binary, run_sipp, sipp_binary, write_rtp_pcap
from rig.speech import espeak_pcm
from tests.conftest import SHORT_PROMPTS, loopback_config, prompt_sequence
from tests.fakes import CannedRecognizer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (kamailio_binary() and sipp_binary() and shutil.which("espeak-ng")),
                       reason="needs kamailio, sipp and espeak-ng"),
]

SPEECH = {
    "identity": "Guten Tag, mein Name ist Thomas Müller von der Firma Vergleichsportal.",
    "cold_purpose": "Ich möchte Ihnen ein Angebot für Ihren Strom machen.",
    "no": "Nein, haben wir nicht.",
    "yes": "Ja, haben wir.",
    "contact": "Thomas Müller, null drei null, eins zwei drei vier.",
    "genuine_purpose": "Es geht um Ihre Rechnung zu meiner Bestellung.",
}
TEXT = {
    "identity": "guten tag mein name ist thomas müller von der firma vergleichsportal gmbh",
    "cold_purpose": "ich möchte ihnen ein unverbindliches angebot für ihren strom machen",
    "no": "nein haben wir nicht",
    "yes": "ja haben wir",
    "contact": "thomas müller null drei null eins zwei drei vier",
    "genuine_purpose": "es geht um ihre rechnung zu meiner bestellung",
}
REACTION = 0.7          # the caller answers this long after the bot stopped
END_SILENCE = 0.8       # turns.end_silence (default)
NO_SPEECH = 5.0         # turns.no_speech_timeout (default)
PROMPT_GAP = 0.08       # between two prompts said in a row
OPENING = ["greeting", "recording_notice", "ask_identity"]


@pytest.fixture(scope="module")
def voice(tmp_path_factory) -> dict[str, bytes]:
    """Each caller utterance as trimmed 8 kHz PCM."""
    work = tmp_path_factory.mktemp("voice")
    return {key: espeak_pcm(text, work / f"{key}.wav", speed=160) for key, text in SPEECH.items()}


def caller_audio(plan, voice) -> tuple[bytes, list[tuple[float, float]]]:
    """The caller's side for a plan of ("bot", [prompt ids]) / ("caller", utterance or None),
    and when each utterance starts and ends (seconds after the answer)."""
    pcm, t, spans = b"", 0.0, []

    def pad(seconds):
        nonlocal pcm, t
        pcm += bytes(int(seconds * SAMPLE_RATE) * 2)
        t += seconds

    for who, what in plan:
        if who == "bot":
            pad(sum(SHORT_PROMPTS[p][0] for p in what) + PROMPT_GAP * len(what))
        elif what is None:
            pad(NO_SPEECH + 0.1)  # silent: the bot gives up listening
        else:
            pad(REACTION)
            pcm += voice[what]
            spans.append((t, t + len(voice[what]) / 2 / SAMPLE_RATE))
            t = spans[-1][1]
            pad(END_SILENCE)
    pad(3.0)
    return pcm, spans


def run_plan(tmp_path, short_prompts, voice, plan, texts, scenario="uac_play", hold_ms=None, handoff=None,
             decode_delay=0.0, live_calls=None):
    pcm, _ = caller_audio(plan, voice)
    pcap = tmp_path / "caller.pcap"
    write_rtp_pcap(pcap, pcm)
    keys = {"pcap": str(pcap), "caller_host": "fritz.box"}
    if hold_ms is not None:
        keys["hold_ms"] = str(int(hold_ms))
    with Kamailio(tmp_path / "kamailio") as kam, RtpSink() as sink:
        config = loopback_config(tmp_path, short_prompts, unknown="screen", register=True, server="127.0.0.1",
                                 port=kam.port, username="callbot", password="")
        if handoff is not None:
            config = replace(config, handoff=replace(config.handoff, **handoff))
        if live_calls is not None:
            config = replace(config, speech=replace(config.speech, live_calls=live_calls))
        from callbot.app import Bot

        bot = Bot(config, recognizer=CannedRecognizer(*texts, delay=decode_delay))
        bot.start()
        try:
            assert kam.wait_registered("callbot", timeout=10), kam.log_text()
            keys["sink_port"] = sink.port
            res = run_sipp(scenario, kam.address, workdir=tmp_path, from_user="03012345678", keys=keys, timeout=90)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                bot.store.flush()
                rows = bot.store.calls(limit=5)
                after_call = bool(rows) and live_calls is not None and not any(
                    (e.reason or "").endswith("transcribed after the call") for e in bot.store.events(rows[0].id))
                if rows and rows[0].outcome and rows[0].label and not after_call:
                    break
                time.sleep(0.1)
            [row] = bot.store.calls(limit=5)
            turns = bot.store.turns(row.id)
            events = bot.store.events(row.id)
            leads = bot.store.leads()
        finally:
            bot.stop()
        played = prompt_sequence(sink.payload_pcm())
    assert res.ok, res.describe()
    return row, turns, events, leads, played, config


def assert_played(played, expected):
    assert [p for p, _ in played] == expected, played
    for prompt_id, seconds in played:
        assert seconds == pytest.approx(SHORT_PROMPTS[prompt_id][0], abs=0.1), (prompt_id, seconds)


def test_cold_caller_without_a_website_gets_the_counter_offer_and_leaves_contact_details(
        tmp_path, short_prompts, voice):
    plan = [("bot", OPENING), ("caller", "identity"), ("bot", ["ask_purpose"]), ("caller", "cold_purpose"),
            ("bot", ["ask_website"]), ("caller", "no"), ("bot", ["offer"]), ("caller", "contact"),
            ("bot", ["offer_thanks", "goodbye"])]
    row, turns, events, leads, played, config = run_plan(
        tmp_path, short_prompts, voice, plan,
        [TEXT["identity"], TEXT["cold_purpose"], TEXT["no"], TEXT["contact"]])
    assert_played(played, OPENING + ["ask_purpose", "ask_website", "offer", "offer_thanks", "goodbye"])
    assert row.outcome == "cold_call_countered"
    assert row.label == "cold_call" and row.person == "Thomas Müller"
    assert row.company == "Vergleichsportal GmbH"
    [lead] = leads
    assert lead.call_id == row.id and lead.text == TEXT["contact"]
    assert lead.company == "Vergleichsportal GmbH" and lead.number == "+493012345678"
    assert (Path(config.storage.recordings) / lead.recording).exists()
    steps = [(e.rule, e.reason) for e in events if e.kind == "step"]
    assert any(rule == "route" and "label is cold_call" in reason for rule, reason in steps), steps
    assert any("answer is no or unknown" in reason for _, reason in steps), steps
    caller_fields = [t.field for t in turns if t.speaker == "caller"]
    assert caller_fields == ["identity", "purpose", "website_answer", "contact_details"]


def test_cold_caller_with_a_website_hears_the_alternative_line(tmp_path, short_prompts, voice):
    plan = [("bot", OPENING), ("caller", "identity"), ("bot", ["ask_purpose"]), ("caller", "cold_purpose"),
            ("bot", ["ask_website"]), ("caller", "yes"), ("bot", ["alternative", "goodbye"])]
    row, turns, events, leads, played, _ = run_plan(
        tmp_path, short_prompts, voice, plan, [TEXT["identity"], TEXT["cold_purpose"], TEXT["yes"]])
    assert_played(played, OPENING + ["ask_purpose", "ask_website", "alternative", "goodbye"])
    assert row.outcome == "cold_call_countered"
    assert leads == []


def test_genuine_caller_leaves_a_message(tmp_path, short_prompts, voice):
    plan = [("bot", OPENING), ("caller", "identity"), ("bot", ["ask_purpose"]), ("caller", "genuine_purpose"),
            ("bot", ["take_message", "goodbye"])]
    row, turns, events, leads, played, _ = run_plan(
        tmp_path, short_prompts, voice, plan, [TEXT["identity"], TEXT["genuine_purpose"]])
    assert_played(played, OPENING + ["ask_purpose", "take_message", "goodbye"])
    assert row.outcome == "message_taken" and row.label == "genuine"
    assert "purpose: es geht um ihre rechnung" in row.transcript


def test_silent_caller_is_asked_once_more_then_the_bot_says_goodbye(tmp_path, short_prompts, voice):
    plan = [("bot", OPENING), ("caller", None), ("bot", ["still_there"]), ("caller", None),
            ("bot", ["no_response"])]
    row, turns, events, leads, played, _ = run_plan(tmp_path, short_prompts, voice, plan, [])
    assert_played(played, OPENING + ["still_there", "no_response"])
    assert row.outcome == "no_response"
    assert [t.end_reason for t in turns if t.speaker == "caller"] == ["no_speech", "no_speech"]


def test_caller_hanging_up_mid_script_keeps_everything_heard(tmp_path, short_prompts, voice):
    plan = [("bot", OPENING), ("caller", "identity"), ("bot", ["ask_purpose"]), ("caller", "cold_purpose")]
    _, spans = caller_audio(plan, voice)
    start, end = spans[-1]
    hold = (start + end) / 2 * 1000  # hang up half-way through the purpose answer
    row, turns, events, leads, played, config = run_plan(
        tmp_path, short_prompts, voice, plan, [TEXT["identity"], TEXT["cold_purpose"]],
        scenario="uac_play_bye", hold_ms=hold)
    assert [p for p, _ in played] == OPENING + ["ask_purpose"]
    assert row.outcome == "caller_hung_up"
    heard = [t for t in turns if t.speaker == "caller"]
    assert [t.field for t in heard] == ["identity", "purpose"]
    assert heard[0].text == TEXT["identity"] and heard[0].end_reason == "speech_stopped"
    assert heard[1].end_reason == "hangup" and heard[1].duration > 0.5
    for t in heard:
        assert (Path(config.storage.recordings) / t.recording).exists()
    assert row.person == "Thomas Müller"


def test_a_genuine_caller_can_be_transferred_to_a_person_after_the_script(tmp_path, short_prompts, voice):
    plan = [("bot", OPENING), ("caller", "identity"), ("bot", ["ask_purpose"]), ("caller", "genuine_purpose"),
            ("bot", ["take_message", "goodbye"])]
    row, turns, events, leads, played, _ = run_plan(
        tmp_path, short_prompts, voice, plan, [TEXT["identity"], TEXT["genuine_purpose"]],
        scenario="uac_play_refer", handoff={"genuine": "transfer", "transfer_to": "sip:100@127.0.0.1:5099"})
    assert_played(played, OPENING + ["ask_purpose", "take_message", "goodbye"])
    assert row.outcome == "transferred" and row.label == "genuine"
    transfer = [e for e in events if (e.kind, e.rule) == ("handoff", "transfer")][0]
    assert "genuine caller" in transfer.reason and "answered 200" in transfer.reason


def test_a_slow_recognizer_brings_the_hold_phrase_not_silence(tmp_path, short_prompts, voice):
    """The route needs the purpose's words; they come 2.5 s after the turn: after turns.max_wait the
    caller hears `one_moment`, then the branch is taken with the words."""
    plan = [("bot", OPENING), ("caller", "identity"), ("bot", ["ask_purpose"]), ("caller", "cold_purpose"),
            ("bot", ["one_moment", "ask_website"]), ("caller", "no"), ("bot", ["offer"]), ("caller", "contact"),
            ("bot", ["offer_thanks", "goodbye"])]
    row, turns, events, leads, played, _ = run_plan(
        tmp_path, short_prompts, voice, plan, [TEXT["identity"], TEXT["cold_purpose"], TEXT["no"], TEXT["contact"]],
        decode_delay=2.5)
    names = [p for p, _ in played]
    assert names[:len(OPENING) + 3] == OPENING + ["ask_purpose", "one_moment", "ask_website"], played
    assert row.outcome == "cold_call_countered" and row.label == "cold_call"
    trail = [(e.kind, e.rule) for e in events]
    assert ("wait", "purpose") in trail and ("hold", "one_moment") in trail
    assert ("decided", "purpose") not in trail


def test_a_caller_beyond_live_capacity_is_screened_at_once_and_transcribed_after_the_call(
        tmp_path, short_prompts, voice):
    """speech.live_calls = 0 (a saturated recognizer): nobody waits for words; the script takes the
    unclear path at once, and the words reach the call log after the call."""
    plan = [("bot", OPENING), ("caller", "identity"), ("bot", ["ask_purpose"]), ("caller", "cold_purpose"),
            ("bot", ["take_message", "goodbye"])]
    row, turns, events, leads, played, _ = run_plan(
        tmp_path, short_prompts, voice, plan, [TEXT["identity"], TEXT["cold_purpose"]], live_calls=0)
    assert_played(played, OPENING + ["ask_purpose", "take_message", "goodbye"])  # no hold phrase, no wait
    assert row.outcome == "message_taken"
    trail = [(e.kind, e.rule, e.reason) for e in events]
    assert ("transcription", "after_call") in [(k, r) for k, r, _ in trail]
    assert not any(k in ("wait", "hold") for k, _, _ in trail)
    assert any(reason == "2 turn(s) transcribed after the call" for _, _, reason in trail), trail
    heard = {t.field: t.text for t in turns if t.speaker == "caller"}
    assert heard == {"identity": TEXT["identity"], "purpose": TEXT["cold_purpose"]}
    assert row.label == "cold_call" and row.person == "Thomas Müller"  # findings from the late words
