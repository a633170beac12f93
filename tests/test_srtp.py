"""SRTP media with SDES keys (issue #15.3): the key lines and the sessions on plain values, the offer
rules per ``sip.media_encryption``, and whole calls: a caller offering ``RTP/SAVP`` reaches the bot
through Kamailio, which relays over the bot's TLS connection; the caller hears the prompt, the bot
records the caller, and no packet on the wire is plain RTP.
"""

from __future__ import annotations

import base64
import secrets
import wave
from dataclasses import replace
from pathlib import Path

import pytest

from callbot.audio import ulaw_decode
from callbot.prompts.library import PromptLibrary
from callbot.telephony.democaller import DemoCaller
from callbot.telephony.offer import filter_offer, finish_answer, judge_offer, parse_sdp
from callbot.telephony.srtp import Crypto, SrtpMedia, answer_crypto, choose_crypto, is_rtp, parse_crypto
from rig import Kamailio
from rig.softphones_support import compare, pcm_array
from rig.speech import espeak_pcm
from tests.conftest import REPO
from tests.test_sip_adapter import wait_finished
from tests.test_tls_transport import needs_tls, stream_config

KEY = secrets.token_bytes(30)
INLINE = base64.b64encode(KEY).decode()


# -- key lines -------------------------------------------------------------------------------------
def test_a_crypto_line_round_trips_and_the_answer_keeps_tag_and_suite_with_a_new_key():
    offered = parse_crypto(f"2 AES_CM_128_HMAC_SHA1_32 inline:{INLINE}|2^31")
    assert offered == Crypto("2", "AES_CM_128_HMAC_SHA1_32", KEY)
    answer = answer_crypto(offered)
    assert (answer.tag, answer.suite) == ("2", "AES_CM_128_HMAC_SHA1_32") and answer.key != KEY
    assert parse_crypto(answer.line().removeprefix("a=crypto:")) == answer


@pytest.mark.parametrize("value", [
    f"1 AES_256_CM_HMAC_SHA1_80 inline:{INLINE}",                       # a suite the bot does not speak
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{base64.b64encode(KEY[:20]).decode()}",   # a short key
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}|2^20|1:4",              # an MKI
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE} UNENCRYPTED_SRTP",      # session parameters
    "1 AES_CM_128_HMAC_SHA1_80 inline:!!notbase64!!",
    "garbage",
])
def test_key_lines_the_bot_cannot_use_are_skipped(value):
    assert parse_crypto(value) is None


def test_the_first_usable_key_in_the_offers_order_is_chosen():
    lines = [f"1 AES_256_CM_HMAC_SHA1_80 inline:{INLINE}", f"2 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}",
             f"3 AES_CM_128_HMAC_SHA1_32 inline:{INLINE}"]
    assert choose_crypto(lines).tag == "2"


def test_sessions_protect_and_authenticate_and_drop_what_is_not_theirs():
    caller, bot = Crypto("1", "AES_CM_128_HMAC_SHA1_80", KEY), answer_crypto(Crypto("1", "AES_CM_128_HMAC_SHA1_80", b""))
    at_caller, at_bot = SrtpMedia(remote=bot, local=caller), SrtpMedia(remote=caller, local=bot)
    packet = bytes([0x80, 0, 0, 7, 0, 0, 0, 160, 1, 2, 3, 4]) + bytes(range(160))
    wire = at_caller.protect(packet)
    assert len(wire) == len(packet) + 10 and wire[12:172] != packet[12:]   # encrypted, 80-bit tag
    assert at_bot.unprotect(wire) == packet
    tampered = wire[:20] + bytes([wire[20] ^ 1]) + wire[21:]
    assert at_bot.unprotect(tampered) is None                              # authentication failure
    assert at_bot.unprotect(wire) is None                                  # replay
    assert at_bot.unprotect(b"\x00\x01" + bytes(18)) is None               # STUN (RFC 7983)
    assert not is_rtp(bytes([0x80, 200]) + bytes(10))                      # RTCP
    assert (at_bot.accepted, at_bot.dropped) == (1, 3)


# -- the offer per sip.media_encryption --------------------------------------------------------------
def sdp(proto: str, crypto: bool = True) -> bytes:
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
             f"m=audio 4000 {proto} 0 8 101"]
    if crypto:
        lines.append(f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}")
    lines += ["a=rtpmap:101 telephone-event/8000", "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode()


@pytest.mark.parametrize("srtp, proto, crypto, taken, why", [
    ("off", "RTP/AVP", False, True, ""),
    ("off", "RTP/SAVP", True, False, "sip.media_encryption is off"),
    ("optional", "RTP/SAVP", True, True, ""),
    ("optional", "RTP/AVP", False, True, ""),
    ("optional", "RTP/SAVP", False, False, "without a usable a=crypto"),
    ("required", "RTP/AVP", False, False, "plain RTP is refused (sip.media_encryption = required)"),
    ("required", "RTP/SAVP", True, True, ""),
])
def test_which_offers_each_setting_takes(srtp, proto, crypto, taken, why):
    verdict = judge_offer("application/sdp", sdp(proto, crypto), srtp=srtp)
    assert verdict.accepted is taken and why in verdict.reason, verdict


def test_the_library_sees_plain_rtp_without_keys_and_the_answer_is_made_srtp_with_the_bots_key():
    filtered = filter_offer(sdp("RTP/SAVP"), srtp="required")
    text = filtered.body.decode()
    assert "RTP/AVP 0 101" in text and "a=crypto" not in text
    assert filtered.remote_key.key == KEY and filtered.local_key.key != KEY
    library_answer = ("SIP/2.0 200 OK\r\nContent-Length: 99\r\n\r\nv=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                      "m=audio 10000 RTP/AVP 0 101\r\na=sendrecv\r\n")
    answer = finish_answer(library_answer, filtered.disabled, filtered.local_key)
    head, _, body = answer.partition("\r\n\r\n")
    [stream] = parse_sdp(body)[0]
    assert stream.proto == "RTP/SAVP" and parse_crypto(stream.crypto[0]) == filtered.local_key
    assert f"Content-Length: {len(body.encode())}" in head


# -- whole calls over TLS ----------------------------------------------------------------------------------
def hello_pcm() -> bytes:
    return PromptLibrary.load(REPO / "prompts", "de").get("hello").pcm


@needs_tls
def test_an_srtp_caller_hears_the_bot_and_is_recorded_and_nothing_on_the_wire_is_plain(tmp_path):
    said = espeak_pcm("Guten Tag, hier spricht Thomas Müller von der Firma Beispiel.", tmp_path / "s.wav")
    with Kamailio(tmp_path / "kamailio", tls=True) as kam:
        config = stream_config(tmp_path, REPO / "prompts", kam, "tls", media_encryption="required")
        config = replace(config, calls=replace(config.calls, unknown="screen"))
        from callbot.app import Bot

        bot = Bot(config)
        bot.start()
        try:
            assert kam.wait_registered("callbot", timeout=15), kam.log_text()[-3000:]
            report = DemoCaller("127.0.0.1", kam.port).call("<sip:03012345678@fritz.box>", srtp=True,
                                                            answers=(said,), timeout=60)
            rows = wait_finished(bot, 30)
            turns = [t for t in bot.store.turns(rows[0].id) if t.speaker == "caller" and t.recording]
        finally:
            bot.stop()
    assert report.status == 200 and report.srtp is not None, report.responses
    assert report.srtp.accepted > 200 and report.srtp.dropped == 0
    greeting = pcm_array(PromptLibrary.load(REPO / "prompts", "de").get("greeting").pcm)
    assert compare(greeting, pcm_array(bytes(report.audio))).correlation >= 0.9   # heard, decrypted
    # the wire: none of the packets' payloads is the audio itself (µ-law of the decrypted audio)
    plain_guess = pcm_array(b"".join(ulaw_decode(p[12:172]) for p in report.wire))
    assert compare(greeting[:len(plain_guess)], plain_guess).correlation < 0.3
    assert turns, "no recorded caller turn"
    with wave.open(str(Path(config.storage.recordings) / turns[0].recording)) as wav:
        recorded = pcm_array(wav.readframes(wav.getnframes()))
    assert compare(pcm_array(said), recorded).correlation >= 0.9


@needs_tls
def test_required_srtp_refuses_a_plain_caller_with_488_and_a_row(tmp_path, short_prompts):
    with Kamailio(tmp_path / "kamailio", tls=True) as kam:
        config = stream_config(tmp_path, short_prompts, kam, "tls", media_encryption="required")
        from callbot.app import Bot

        bot = Bot(config)
        bot.start()
        try:
            assert kam.wait_registered("callbot", timeout=15)
            report = DemoCaller("127.0.0.1", kam.port).call("<sip:03012345678@fritz.box>", timeout=20)
            [row] = wait_finished(bot, 15)
            events = bot.store.events(row.id)
        finally:
            bot.stop()
    assert report.status == 488
    assert row.outcome == "refused" and any("plain RTP is refused" in (e.reason or "") for e in events), events


def test_a_reoffer_with_the_same_key_keeps_the_receive_session_across_a_sequence_wrap():
    """RFC 4568 §7.1.4: an unchanged key continues the crypto context. A new session would start its
    rollover counter at 0 and reject every packet after the caller's sequence number wrapped."""
    caller = Crypto("1", "AES_CM_128_HMAC_SHA1_80", KEY)
    bot = answer_crypto(caller)
    at_caller, at_bot = SrtpMedia(remote=bot, local=caller), SrtpMedia(remote=caller, local=bot)

    def packet(seq: int) -> bytes:
        return bytes([0x80, 0]) + (seq & 0xFFFF).to_bytes(2, "big") + bytes(4) + (7).to_bytes(4, "big") + bytes(160)

    for seq in range(65530, 65536):
        assert at_bot.unprotect(at_caller.protect(packet(seq))) is not None
    at_bot.rekey(Crypto("1", "AES_CM_128_HMAC_SHA1_80", KEY))      # the re-INVITE's offer, same key
    for seq in range(65536, 65541):                                # wrapped: 0, 1, 2 …
        assert at_bot.unprotect(at_caller.protect(packet(seq))) is not None
    new = Crypto("1", "AES_CM_128_HMAC_SHA1_80", secrets.token_bytes(30))
    at_bot.rekey(new)                                              # a new key: a new receive session
    assert at_bot.remote == new and at_bot.unprotect(at_caller.protect(packet(65541))) is None
