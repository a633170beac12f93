"""The door (issue #16.2/#16.3, #10.5, #11.5): every INVITE leaves a row or a counted line,
only the registrar may ring, scanners learn nothing — over real SIP on loopback.

Refused offers come from SIPp through a Kamailio registrar (so they are from the trusted
source); ghost calls and scanner probes are plain UDP datagrams sent straight to the bot.
"""

from __future__ import annotations

import logging
import random
import re
import socket
import time
from pathlib import Path

import pytest

from rig import Kamailio, RtpSink, kamailio_binary, run_sipp, sipp_binary
from tests.conftest import running_bot
from tests.test_integration_sip import finished_rows, registered_config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (kamailio_binary() and sipp_binary()),
                       reason="needs kamailio and sipp (Debian packages kamailio, sip-tester)"),
]

SDP_HEAD = ["v=0", "o=rig 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0"]


@pytest.fixture
def kam(tmp_path):
    with Kamailio(tmp_path / "kamailio") as k:
        yield k


def refuse(kam: Kamailio, tmp_path: Path, body: list[str] | None, status: int, number: str):
    keys = {"expect_status": status, "sdp_body": "\r\n".join(body) if body else "",
            "content_type": "Content-Type: application/sdp" if body else ""}
    return run_sipp("uac_offer_refused", kam.address, workdir=tmp_path, from_user=number, keys=keys, timeout=20)


OFFERS = {
    "g729": (["m=audio 40000 RTP/AVP 18", "a=rtpmap:18 G729/8000"], "no codec in common: offered G729"),
    "inactive": (["m=audio 40000 RTP/AVP 0 8", "a=inactive"], "inactive"),
    "delayed": (None, "INVITE without SDP (delayed offer)"),
    "srtp": (["m=audio 40000 RTP/SAVP 0", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"
              "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"], "RTP/SAVP"),
    "video only": (["m=video 40000 RTP/AVP 96", "a=rtpmap:96 VP8/90000"], "no audio stream"),
}


@pytest.mark.parametrize("name", list(OFFERS))
def test_an_offer_the_bot_cannot_take_gets_488_before_any_ringing_and_a_row(tmp_path, kam, short_prompts, name):
    media, reason = OFFERS[name]
    with running_bot(registered_config(tmp_path, kam, short_prompts)) as bot:
        assert kam.wait_registered("callbot", timeout=10), kam.log_text()
        res = refuse(kam, tmp_path, SDP_HEAD + media if media else None, 488, "+4930111222")
        [row] = finished_rows(bot)
        events = bot.store.events(row.id)
    assert res.ok, res.describe()  # 488 and no 180 before it
    assert row.outcome == "refused" and row.caller_number == "+4930111222"
    assert row.answered_at is None
    assert any(e.kind == "sip" and "488" in e.reason and reason in e.reason for e in events), events


def test_audio_and_video_is_answered_for_the_audio_with_the_video_refused(tmp_path, kam, short_prompts):
    with running_bot(registered_config(tmp_path, kam, short_prompts)) as bot, RtpSink() as sink:
        assert kam.wait_registered("callbot", timeout=10), kam.log_text()
        media = [f"m=audio {sink.port} RTP/AVP 96 0 8 101", "a=rtpmap:96 opus/48000/2",
                 "a=rtpmap:101 telephone-event/8000", "m=video 40010 RTP/AVP 97", "a=rtpmap:97 VP8/90000"]
        res = run_sipp("uac_offer_call", kam.address, workdir=tmp_path, from_user="+4930111333",
                       keys={"sdp_media": "\r\n".join(media)}, timeout=30)
        [row] = finished_rows(bot)
    assert res.ok, res.describe()
    ok = next(m for m in res.messages() if m.is_response and m.status == 200 and "m=" in m.body)
    lines = [line for line in ok.body.splitlines() if line.startswith("m=")]
    assert re.fullmatch(r"m=audio \d+ RTP/AVP 0( 8)?( 101)?", lines[0]), lines  # G.711 in the offer's order, never Opus
    assert lines[1].startswith("m=video 0 "), lines
    assert row.outcome == "answered"
    assert sink.duration().by_count > 0.5  # the prompt was heard


def test_over_max_calls_the_next_caller_gets_486_and_a_row(tmp_path, kam, short_prompts):
    config = registered_config(tmp_path, kam, short_prompts, max_calls=1, answer_delay=3.0)
    with running_bot(config) as bot, RtpSink() as sink:
        assert kam.wait_registered("callbot", timeout=10), kam.log_text()
        from rig.sipp import start_sipp
        first = start_sipp("uac_call", kam.address, workdir=tmp_path, from_user="+4930100001",
                           keys={"sink_port": sink.port}, timeout=30, name="first")
        deadline = time.monotonic() + 10
        while bot.endpoint.calls_up() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        res = refuse(kam, tmp_path, SDP_HEAD + ["m=audio 40000 RTP/AVP 0"], 486, "+4930100002")
        first.wait(40)
        rows = finished_rows(bot, 2, timeout=20)
    assert res.ok, res.describe()
    by_number = {r.caller_number: r for r in rows}
    assert by_number["+4930100002"].outcome == "refused"
    assert by_number["+4930100001"].outcome == "answered"


# -- straight to the bot's port: ghost calls and scanners --------------------------------
def datagram(method: str, user: str, bot_port: int, sock: socket.socket, *, body: str = "",
             from_header: str = "<sip:100@127.0.0.1>", call_id: str | None = None) -> bytes:
    lport = sock.getsockname()[1]
    call_id = call_id or f"probe-{random.getrandbits(48):x}"
    lines = [f"{method} sip:{user}@127.0.0.1:{bot_port} SIP/2.0",
             f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{random.getrandbits(40):x};rport",
             "Max-Forwards: 70", f"From: {from_header};tag={random.getrandbits(32):x}",
             f"To: <sip:{user}@127.0.0.1:{bot_port}>", f"Call-ID: {call_id}", f"CSeq: 1 {method}",
             f"Contact: <sip:100@127.0.0.1:{lport}>"]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def exchange(sock: socket.socket, data: bytes, port: int, wait: float = 1.0) -> list[bytes]:
    sock.sendto(data, ("127.0.0.1", port))
    got, deadline = [], time.monotonic() + wait
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recvfrom(65535)[0])
        except (socket.timeout, ConnectionRefusedError):
            continue
    return got


def status_of(message: bytes) -> int:
    return int(message.split(b" ", 2)[1])


def shape(message: bytes) -> list[str]:
    """What an enumerator compares: the status line and the header names and values, with the
    values that differ per request anyway (tags, Call-ID, Via) blanked."""
    head = message.decode(errors="replace").split("\r\n\r\n")[0].split("\r\n")
    out = [head[0]]
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name.lower() in ("via", "call-id", "from", "to", "content-length"):
            value = "*"
        out.append(f"{name.lower()}:{value.strip()}")
    return out


AUDIO = "\r\n".join(SDP_HEAD + ["m=audio 40000 RTP/AVP 0 8", ""])


def test_ghost_calls_get_403_without_ringing_and_leave_no_row(tmp_path, kam, short_prompts, caplog):
    config = registered_config(tmp_path, kam, short_prompts)
    with running_bot(config) as bot, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, \
            caplog.at_level(logging.WARNING, "callbot"):
        sock.bind(("127.0.0.1", 0))
        assert kam.wait_registered("callbot", timeout=10), kam.log_text()
        port = config.sip.local_port
        answers = [exchange(sock, datagram("INVITE", "callbot", port, sock, body=AUDIO), port) for _ in range(5)]
        threads = len([t for t in __import__("threading").enumerate() if t.name.startswith("Phone Call")])
        bot.store.flush()
        assert bot.store.calls(limit=10) == []
    assert all([status_of(m) for m in a] == [403] for a in answers), answers
    assert threads == 0
    warnings = [r.getMessage() for r in caplog.records if "untrusted source" in r.getMessage()]
    assert len(warnings) == 1  # the first is logged, the rest are counted
    assert bot.endpoint.gatekeeper.tally.total("untrusted source") == 5


def test_an_enumerator_sees_the_same_answer_for_the_bots_user_and_any_other(tmp_path, kam, short_prompts):
    """svwar -m INVITE: the bot's extension must not stand out from made-up ones."""
    config = registered_config(tmp_path, kam, short_prompts, user_agent="")
    with running_bot(config), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        assert kam.wait_registered("callbot", timeout=10), kam.log_text()
        port = config.sip.local_port
        seen = {user: exchange(sock, datagram("INVITE", user, port, sock, body=AUDIO), port)
                for user in ("callbot", "100", "admin", "nobody-here")}
        options = exchange(sock, datagram("OPTIONS", "callbot", port, sock), port)
    shapes = {user: [shape(m) for m in answers] for user, answers in seen.items()}
    assert len({repr(s) for s in shapes.values()}) == 1, shapes
    assert [status_of(m) for m in seen["callbot"]] == [403]
    assert options == []  # OPTIONS from a stranger: no answer at all
    assert b"User-Agent" not in seen["callbot"][0] and b"Server:" not in seen["callbot"][0]


def test_the_registrars_options_get_a_bare_200_without_codecs(tmp_path, kam, short_prompts):
    config = registered_config(tmp_path, kam, short_prompts)
    with running_bot(config):
        assert kam.wait_registered("callbot", timeout=10), kam.log_text()
        from rig.kamailio import sip_request
        answer = sip_request(kam.port, "OPTIONS", kam.uri("callbot"), timeout=3)  # routed to the bot
    assert answer is not None and answer.status == 200, answer
    body = answer.raw.split("\r\n\r\n", 1)[1]
    assert "m=audio" not in body and "PCMU" not in body
    assert answer.header("server") == "callbot"


def test_a_stray_200_is_never_acked(tmp_path, kam, short_prompts):
    """A 200 OK to an INVITE the bot never sent, naming a foreign Contact: dropped, no ACK."""
    config = registered_config(tmp_path, kam, short_prompts)
    with running_bot(config), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as victim:
        sock.bind(("127.0.0.1", 0))
        victim.bind(("127.0.0.1", 0))
        assert kam.wait_registered("callbot", timeout=10), kam.log_text()
        vport = victim.getsockname()[1]
        stray = ("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKstray\r\n"
                 "From: <sip:callbot@127.0.0.1>;tag=a\r\nTo: <sip:x@127.0.0.1>;tag=b\r\nCall-ID: stray-1\r\n"
                 "CSeq: 1 INVITE\r\nContact: <sip:victim@127.0.0.1:%d>\r\nContent-Length: 0\r\n\r\n"
                 % (config.sip.local_port, vport)).encode()
        sock.sendto(stray, ("127.0.0.1", config.sip.local_port))
        victim.settimeout(1.5)
        with pytest.raises(socket.timeout):
            victim.recvfrom(65535)


def test_a_flood_from_one_address_is_turned_away_with_503_and_counted(tmp_path, short_prompts):
    """Direct mode (loopback trusted): 60 INVITEs at once from one address; beyond the burst 503."""
    from tests.conftest import loopback_config
    config = loopback_config(tmp_path, short_prompts, invite_rate=5, max_calls=100)
    with running_bot(config) as bot, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = config.sip.local_port
        for _ in range(60):
            sock.sendto(datagram("INVITE", "callbot", port, sock, body=AUDIO), ("127.0.0.1", port))
        statuses, deadline = [], time.monotonic() + 3
        while time.monotonic() < deadline:
            sock.settimeout(0.2)
            try:
                message = sock.recvfrom(65535)[0]
            except (socket.timeout, ConnectionRefusedError):
                continue
            if message.startswith(b"SIP/2.0 "):  # the admitted calls are answered (and BYE'd)
                statuses.append(status_of(message))
        refused = bot.endpoint.gatekeeper.tally.total("over sip.invite_rate")
    assert statuses.count(503) == refused >= 45
    assert refused < 60  # the burst got through


def test_no_free_rtp_port_gets_486_before_ringing_and_a_row(tmp_path, kam, short_prompts):
    """Two RTP ports, two calls ringing: the third caller is refused at once, with a row —
    the library used to wait for a port on the receive thread (the bot went deaf)."""
    config = registered_config(tmp_path, kam, short_prompts, answer_delay=4.0)
    low = config.sip.rtp_port_min
    config = registered_config(tmp_path, kam, short_prompts, answer_delay=4.0, rtp_port_min=low,
                               rtp_port_max=low + 1)
    from rig.sipp import start_sipp
    with running_bot(config) as bot, RtpSink() as sink:
        assert kam.wait_registered("callbot", timeout=10), kam.log_text()
        ringing = [start_sipp("uac_call", kam.address, workdir=tmp_path, from_user=f"+49301000{n}",
                              keys={"sink_port": sink.port}, timeout=30, name=f"ring{n}") for n in (1, 2)]
        deadline = time.monotonic() + 10
        while bot.endpoint.calls_up() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        res = refuse(kam, tmp_path, SDP_HEAD + ["m=audio 40000 RTP/AVP 0"], 486, "+4930100003")
        for proc in ringing:
            proc.wait(40)
        rows = finished_rows(bot, 3, timeout=20)
        events = {r.caller_number: bot.store.events(r.id) for r in rows}
    assert res.ok, res.describe()
    outcomes = {r.caller_number: r.outcome for r in rows}
    assert outcomes == {"+493010001": "answered", "+493010002": "answered", "+4930100003": "refused"}, outcomes
    assert any("no free RTP port" in (e.reason or "") for e in events["+4930100003"])


def test_a_sipp_flood_through_the_proxy_leaves_threads_bounded_rows_closed_and_the_next_call_served(
        tmp_path, kam, short_prompts):
    """200 INVITEs in 2 s through Kamailio, sip.max_calls = 4: the bot takes what it may, turns the
    rest away on its receive thread (no thread per request), closes every row it opened, and the
    next normal call after the flood is served."""
    import threading

    config = registered_config(tmp_path, kam, short_prompts, max_calls=4, invite_rate=20)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.wait(0.02):
            peak[0] = max(peak[0], threading.active_count())

    with running_bot(config) as bot, RtpSink() as sink:
        assert kam.wait_registered("callbot", timeout=10), kam.log_text()
        base = threading.active_count()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        flood = run_sipp("uac_call", kam.address, workdir=tmp_path, from_user="+4930999000", calls=200,
                         rate=100, concurrent=200, keys={"sink_port": sink.port, "answer_timeout_ms": "5000"},
                         timeout=40, name="flood")
        done.set()
        sampler.join()
        rows = finished_rows(bot, flood.successful, timeout=30)
        normal = run_sipp("uac_call", kam.address, workdir=tmp_path, from_user="+4930999001",
                          keys={"sink_port": sink.port}, timeout=30, name="after")
        after = finished_rows(bot, len(rows) + 1, timeout=20)
    assert 0 < flood.successful < 200 and flood.failed > 0, flood.describe()
    # each call up has a handful of threads (call, RTP in/out); 4 calls at most, never 200
    assert peak[0] - base <= 4 * 6, (base, peak[0])
    assert all(r.outcome for r in after)
    assert normal.ok, normal.describe()
    assert [r.caller_number for r in after if r.caller_number == "+4930999001"]
