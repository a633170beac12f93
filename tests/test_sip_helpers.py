"""Pure helpers of the SIP adapter: tel: rewrite, granted expiry, refresh and backoff."""

from callbot.call.caller import identify_raw
from callbot.telephony.registration import backoff_delay, granted_expiry, refresh_delay, REGISTER_BACKOFF_MAX
from callbot.telephony.routes import tel_to_sip

INVITE_TEL = (
    b"INVITE sip:callbot@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
    b"From: <tel:+493012345678>;tag=abc\r\n"
    b"To: <sip:callbot@127.0.0.1>\r\n"
    b"Call-ID: 1@x\r\nCSeq: 1 INVITE\r\nContent-Length: 3\r\n\r\ntel"
)


def test_tel_from_is_rewritten_for_the_library_only():
    fixed = tel_to_sip(INVITE_TEL)
    assert b"From: <sip:+493012345678@tel.invalid;user=phone>;tag=abc" in fixed
    assert fixed.endswith(b"\r\n\r\ntel")  # the body is untouched
    # callbot itself still reads the original: a tel: caller with its number.
    assert identify_raw(INVITE_TEL).e164 == "+493012345678"


def test_bare_tel_uri_and_compact_header():
    raw = INVITE_TEL.replace(b"From: <tel:+493012345678>;tag=abc", b"f: tel:+493012345678;tag=abc")
    assert b"f: sip:+493012345678@tel.invalid;tag=abc" in tel_to_sip(raw)


def test_messages_without_tel_are_unchanged():
    raw = INVITE_TEL.replace(b"<tel:+493012345678>", b"<sip:+493012345678@h>")
    assert tel_to_sip(raw) == raw


def test_granted_expiry_prefers_our_contact_param():
    response = (
        "SIP/2.0 200 OK\r\n"
        "Contact: <sip:other@10.0.0.9:5060>;expires=3600\r\n"
        "Contact: <sip:callbot@127.0.0.1:5062>;expires=60\r\n"
        "Expires: 300\r\n\r\n"
    )
    assert granted_expiry(response, "@127.0.0.1:5062", 300) == 60


def test_granted_expiry_falls_back_to_header_then_to_the_request():
    assert granted_expiry("SIP/2.0 200 OK\r\nExpires: 120\r\n\r\n", "@127.0.0.1:5062", 300) == 120
    assert granted_expiry("SIP/2.0 200 OK\r\n\r\n", "@127.0.0.1:5062", 300) == 300


def test_refresh_at_half_the_granted_expiry_with_a_floor():
    assert refresh_delay(600) == 300
    assert refresh_delay(20) == 10
    assert refresh_delay(4) == 5


def test_backoff_doubles_up_to_a_cap():
    delays = [backoff_delay(n) for n in range(1, 10)]
    assert delays[:4] == [1, 2, 4, 8]
    assert max(delays) == REGISTER_BACKOFF_MAX
    assert delays == sorted(delays)


def test_the_bots_own_name_replaces_the_librarys_user_agent():
    from callbot.telephony.routes import with_user_agent

    request = b"REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nUser-Agent: rfcvoip 2.10.3\r\nContent-Length: 0\r\n\r\n"
    out = with_user_agent(request, "Praxis Bot")
    assert b"rfcvoip" not in out and b"\r\nUser-Agent: Praxis Bot\r\n" in out and out.endswith(b"\r\n\r\n")
    response = b"SIP/2.0 200 OK\r\nUser-Agent: rfcvoip 2.10.3\r\nContent-Length: 3\r\n\r\nabc"
    out = with_user_agent(response, "callbot")
    assert out == b"SIP/2.0 200 OK\r\nServer: callbot\r\nContent-Length: 3\r\n\r\nabc"  # a response names a Server
    assert b"User-Agent" not in with_user_agent(request, "") and b"Server" not in with_user_agent(response, "")
    assert with_user_agent(request, "a\r\nEvil: 1").count(b"\r\nEvil") == 0  # no header injection
    sdp = b"v=0\r\no=rfcvoip 12 14 IN IP4 127.0.0.1\r\ns=rfcvoip 2.10.3\r\nc=IN IP4 127.0.0.1\r\n"
    offer = b"SIP/2.0 200 OK\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n" % len(sdp) + sdp
    out = with_user_agent(offer, "callbot")
    head, _, body = out.partition(b"\r\n\r\n")
    assert b"rfcvoip" not in out and b"o=- 12 14 IN IP4" in body and b"\r\ns=-\r\n" in body
    assert b"Content-Length: %d" % len(body) in head


def test_a_real_answer_from_the_bot_carries_the_configured_name(tmp_path, short_prompts):
    import socket as socketlib
    import uuid

    from dataclasses import replace

    from tests.conftest import loopback_config, running_bot

    config = loopback_config(tmp_path, short_prompts)
    config = replace(config, sip=replace(config.sip, user_agent="Kanzlei Telefonassistent"))
    with running_bot(config), socketlib.socket(socketlib.AF_INET, socketlib.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        probe.settimeout(5)
        port = probe.getsockname()[1]
        call_id = uuid.uuid4().hex
        probe.sendto((f"OPTIONS sip:callbot@127.0.0.1:{config.sip.local_port} SIP/2.0\r\n"
                      f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{call_id[:10]};rport\r\n"
                      f"From: <sip:probe@127.0.0.1:{port}>;tag=1\r\nTo: <sip:callbot@127.0.0.1>\r\n"
                      f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                      f"Contact: <sip:probe@127.0.0.1:{port}>\r\nContent-Length: 0\r\n\r\n").encode(),
                     ("127.0.0.1", config.sip.local_port))
        answer = probe.recv(65535)
    assert answer.startswith(b"SIP/2.0 ")
    assert b"\r\nServer: Kanzlei Telefonassistent\r\n" in answer
    assert b"rfcvoip" not in answer.lower()
