"""G.722 calls end to end on loopback (issue #10.1): real SIP and RTP, G.722 encoded for real.

callbot's own caller (:class:`callbot.telephony.democaller.DemoCaller`) offers G.722, the bot
answers it and everything of the call runs at 16 kHz: the caller hears the prompt rendered at
16 kHz (energy above 4 kHz, which no 8 kHz render and no G.711 call carries), the bot records
the caller's turn as a 16 kHz WAV that matches what was said, and the recognizer is asked for
16 kHz turns. The same calls offering G.711 first stay at 8 kHz. (Real softphones doing the
same: ``tests/test_softphones.py``.)
"""

from __future__ import annotations

import wave
from dataclasses import replace
from pathlib import Path

import pytest

from callbot.audio import resample
from callbot.prompts.library import PromptLibrary
from callbot.telephony.democaller import DemoCaller
from rig.softphones_support import compare, high_band_share, pcm_array
from rig.speech import espeak_pcm
from tests.conftest import REPO, loopback_config, running_bot
from tests.fakes import CannedRecognizer
from tests.test_sip_adapter import wait_finished

pytestmark = pytest.mark.integration

BUNDLED = REPO / "prompts"
FRITZBOX = "<sip:03012345678@fritz.box>"


def hello() -> PromptLibrary:
    return PromptLibrary.load(BUNDLED, "de").get("hello")


@pytest.mark.parametrize("offer, codec, rate", [
    (("G722", "PCMU", "PCMA"), "G722", 16000),     # a FRITZ!Box's order
    (("PCMA", "G722"), "PCMA", 8000),              # the caller prefers G.711: it gets G.711
])
def test_the_caller_gets_its_first_codec_and_hears_the_prompt_at_that_rate(tmp_path, offer, codec, rate):
    config = loopback_config(tmp_path, BUNDLED)
    with running_bot(config) as bot:
        report = DemoCaller("127.0.0.1", config.sip.local_port).call(FRITZBOX, offer=offer, timeout=30)
        [row] = wait_finished(bot, 15)
    assert (report.codec, report.rate) == (codec, rate)
    assert report.bye_from_bot_at is not None and row.outcome == "answered", row
    played = hello()
    reference = pcm_array(played.pcm_at(rate))
    heard = pcm_array(bytes(report.audio))
    cmp = compare(reference, heard, rate)
    assert cmp.correlation >= 0.9, cmp.describe()          # G.711 and G.722 coded once
    assert cmp.heard_seconds == pytest.approx(played.duration, abs=0.3), cmp.describe()
    start = int(round(cmp.lag * rate))
    share = high_band_share(heard[start:start + len(reference)], rate, above=4000 if rate > 8000 else 3900)
    if rate == 16000:  # the 16 kHz render's band above 4 kHz arrived; an 8 kHz render has none
        upsampled = high_band_share(pcm_array(resample(played.pcm, 8000, 16000)), rate)
        assert high_band_share(reference, rate) > 20 * upsampled
        assert share >= 0.5 * high_band_share(reference, rate) and share > 20 * upsampled, (share, upsampled)
    else:
        assert share < 0.001, share


def test_a_g722_callers_turn_is_recorded_and_recognized_at_16_khz(tmp_path):
    """The bot screens: the caller's answer (espeak-ng, 16 kHz, through G.722 both ways) is the
    turn's WAV at 16 kHz, correlation ≥ 0.9 with what was said, its band above 4 kHz kept; the
    recognizer got a 16 kHz stream."""
    wide = pcm_array(espeak_pcm("Guten Tag, hier spricht Thomas Müller von der Firma Beispiel.",
                                tmp_path / "s16.wav", rate=16000))
    recognizer = CannedRecognizer("mein name ist thomas müller von der firma beispiel")
    config = loopback_config(tmp_path, BUNDLED, unknown="screen")
    config = replace(config, turns=replace(config.turns, detector="combined"))
    from callbot.app import Bot

    bot = Bot(config, recognizer=recognizer)
    bot.start()
    try:
        report = DemoCaller("127.0.0.1", config.sip.local_port).call(
            FRITZBOX, offer=("G722",), answers=(wide.astype("<i2").tobytes(),), pcm_rate=16000,
            hangup_after=None, timeout=60)
        rows = wait_finished(bot, 30)
        turns = [t for t in bot.store.turns(rows[0].id) if t.speaker == "caller" and t.recording]
    finally:
        bot.stop()
    assert report.codec == "G722" and report.answers_spoken >= 1
    assert turns, "no recorded caller turn"
    path = Path(config.storage.recordings) / turns[0].recording
    with wave.open(str(path)) as wav:
        assert wav.getframerate() == 16000
        recorded = pcm_array(wav.readframes(wav.getnframes()))
    cmp = compare(wide, recorded, 16000)
    assert cmp.correlation >= 0.9, cmp.describe()
    start = int(round(cmp.lag * 16000))
    kept = high_band_share(recorded[start:start + len(wide)], 16000)
    assert kept >= 0.5 * high_band_share(wide, 16000), (kept, high_band_share(wide, 16000))
    assert recognizer.streams and {s.rate for s in recognizer.streams} == {16000}
    assert turns[0].duration == pytest.approx(len(wide) / 16000 + 0.3 + 0.8, abs=0.6)
