"""The rules in front of every INVITE, on plain values: SDP offers (offer.py), trusted sources,
the per-source rate and the refusal tally (gate.py)."""

from __future__ import annotations

import pytest

from callbot.telephony.gate import RateLimit, Tally, TrustedSources, parse_source
from callbot.telephony.offer import filter_offer, judge_offer, parse_sdp, with_disabled_streams


def sdp(*media: str, session: str = "") -> bytes:
    head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" + session
    return (head + "".join(media)).encode()


AUDIO_LINPHONE = ("m=audio 7078 RTP/AVP 96 97 98 0 8 101\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\n"
                  "a=rtpmap:97 speex/16000\r\na=rtpmap:98 speex/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
                  "a=fmtp:101 0-15\r\n")
VIDEO = "m=video 9078 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"


# -- offers ------------------------------------------------------------------------------
def test_a_softphones_default_offer_is_taken_with_g711_in_its_order_and_dtmf():
    verdict = judge_offer("application/sdp", sdp(AUDIO_LINPHONE))
    assert verdict.accepted and verdict.keep == ("0", "8", "101")
    assert verdict.offered[0] == "OPUS"


FRITZBOX = ("m=audio 7078 RTP/AVP 9 8 0 18 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\n"
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\n")


def test_g722_is_taken_on_its_8000_hz_rtp_clock_and_the_answer_keeps_only_the_callers_first_codec():
    verdict = judge_offer("application/sdp", sdp(FRITZBOX))
    assert verdict.accepted and verdict.keep == ("9", "8", "0", "101")
    streams, _ = parse_sdp(filter_offer(sdp(FRITZBOX)).body.decode())
    assert streams[0].payloads == ["9", "101"]                      # G.722 first: the caller's choice
    static_only = sdp("m=audio 7078 RTP/AVP 9 0\r\n")               # RFC 3551 static types, no rtpmap
    assert parse_sdp(filter_offer(static_only).body.decode())[0][0].payloads == ["9"]
    g711_first = sdp("m=audio 7078 RTP/AVP 8 9 0\r\na=rtpmap:9 G722/8000\r\n")
    assert parse_sdp(filter_offer(g711_first).body.decode())[0][0].payloads == ["8"]


def test_without_the_g722_library_g722_is_not_answered():
    g711 = ("PCMU", "PCMA")
    assert parse_sdp(filter_offer(sdp(FRITZBOX), g711).body.decode())[0][0].payloads == ["8", "101"]
    verdict = judge_offer("application/sdp", sdp("m=audio 7078 RTP/AVP 9\r\n"), g711)
    assert verdict.status == 488 and "offered G722" in verdict.reason and "PCMU, PCMA" in verdict.reason


def test_g722_on_a_16000_hz_clock_is_not_the_codec_the_bot_speaks():
    verdict = judge_offer("application/sdp", sdp("m=audio 7078 RTP/AVP 96\r\na=rtpmap:96 G722/16000\r\n"))
    assert verdict.status == 488 and "no codec in common" in verdict.reason


@pytest.mark.parametrize("body, why", [
    (b"", "delayed offer"),
    (sdp("m=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"), "no codec in common: offered G729"),
    (sdp("m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 PCMU/16000\r\n"), "no codec in common"),
    (sdp("m=audio 4000 RTP/AVP 0 8\r\na=inactive\r\n"), "inactive"),
    (sdp("m=audio 4000 RTP/AVP 0\r\n", session="a=inactive\r\n"), "inactive"),
    (sdp("m=audio 0 RTP/AVP 0 8\r\n"), "port 0"),
    (sdp("m=audio 4000 RTP/SAVP 0 8\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n"), "RTP/SAVP"),
    (sdp(VIDEO), "no audio stream"),
    (sdp("m=audio x RTP/AVP 0\r\n"), "could not be read"),
])
def test_offers_the_bot_cannot_take_are_refused_with_488_and_a_reason(body, why):
    verdict = judge_offer("application/sdp", body)
    assert verdict.status == 488 and why in verdict.reason


def test_a_body_that_is_not_sdp_is_refused():
    verdict = judge_offer("application/json", b"{}")
    assert verdict.status == 488 and "application/json" in verdict.reason


def test_filtering_leaves_the_library_only_g711_and_dtmf_and_remembers_the_video():
    filtered = filter_offer(sdp(VIDEO, AUDIO_LINPHONE))
    streams, _ = parse_sdp(filtered.body.decode())
    assert [(s.kind, s.payloads) for s in streams] == [("audio", ["0", "101"])]
    assert "opus" not in filtered.body.decode() and "a=fmtp:101 0-15" in filtered.body.decode()
    assert filtered.disabled == ((0, "video 0 RTP/AVP 96"),)
    answer = "v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 10000 RTP/AVP 0 101\r\na=sendrecv\r\n"
    fixed = with_disabled_streams(answer, filtered.disabled)
    assert [line for line in fixed.split("\r\n") if line.startswith("m=")] == [
        "m=video 0 RTP/AVP 96", "m=audio 10000 RTP/AVP 0 101"]


def test_an_offer_without_a_supported_codec_is_not_rewritten():
    body = sdp("m=audio 4000 RTP/AVP 18\r\n")
    assert filter_offer(body).body == body


# -- trusted sources ---------------------------------------------------------------------
def test_registered_only_the_registrars_address_and_port_may_ring():
    trusted = TrustedSources.for_settings(True, ["127.0.0.1"], 5060, ())
    assert trusted.allows("127.0.0.1", 5060)
    assert not trusted.allows("127.0.0.1", 5070)   # another program on the same host
    assert not trusted.allows("192.168.1.9", 5060)


def test_trusted_sources_add_addresses_ports_and_networks():
    trusted = TrustedSources.for_settings(True, ["10.0.0.1"], 5060,
                                          ("192.168.178.1", "10.1.0.0/16", "[2001:db8::1]:5080"))
    assert trusted.allows("192.168.178.1", 1234)
    assert trusted.allows("10.1.200.3", 5060)
    assert trusted.allows("2001:db8::1", 5080) and not trusted.allows("2001:db8::1", 5060)
    assert trusted.allows("::ffff:192.168.178.1", 5060)  # v4-mapped
    assert not trusted.allows("not an address", 5060)


def test_direct_mode_defaults_to_loopback_and_the_server_on_any_port():
    trusted = TrustedSources.for_settings(False, ["192.168.178.1"], 5060, ())
    assert trusted.allows("127.0.0.5", 40000) and trusted.allows("::1", 1)
    assert trusted.allows("192.168.178.1", 5070)
    assert not trusted.allows("192.168.178.2", 5060)
    listed = TrustedSources.for_settings(False, ["192.168.178.1"], 5060, ("10.0.0.0/8",))
    assert not listed.allows("127.0.0.1", 5060) and listed.allows("10.2.3.4", 5060)


@pytest.mark.parametrize("entry", ["", "fritz.box", "1.2.3.4:x", "1.2.3.4:70000", "[::1]5060", "1.2.3.4/40"])
def test_bad_trusted_entries_are_refused_with_a_reason(entry):
    with pytest.raises(ValueError):
        parse_source(entry)


# -- rate and tally ----------------------------------------------------------------------
def test_the_rate_limit_is_per_source_with_a_burst_of_twice_the_rate():
    rate = RateLimit(5)
    allowed = [rate.allow("10.0.0.1", 0.0) for _ in range(20)]
    assert allowed.count(True) == 10   # the burst
    assert rate.allow("10.0.0.2", 0.0)  # another caller is not affected
    assert rate.allow("10.0.0.1", 0.2)  # 0.2 s later one more token (5/s)
    assert not rate.allow("10.0.0.1", 0.21)
    assert RateLimit(0).allow("x", 0.0)  # 0 = off


def test_the_rate_limiter_forgets_the_oldest_sources_beyond_its_memory():
    rate = RateLimit(1, memory=3)
    for n in range(10):
        rate.allow(f"10.0.0.{n}", 0.0)
    assert len(rate._buckets) == 3


def test_the_tally_logs_the_first_then_a_summary_a_minute_and_budgets_rows():
    tally = Tally(rows_per_minute=3, window=60)
    counted = [tally.count("no codec", t * 0.1) for t in range(10)]
    assert [c.log_now for c in counted] == [True] + [False] * 9
    assert [c.row for c in counted] == [True] * 3 + [False] * 7
    assert tally.due(30) == []                 # the minute is not over
    assert tally.due(60) == [("no codec", 9)]  # one summary line with the rest
    assert tally.due(61) == []
    assert tally.count("no codec", 70).log_now  # a new minute: the first is logged again
    assert tally.total("no codec") == 11 and tally.totals() == {"no codec": 11}
