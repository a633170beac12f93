"""RFC 3261 transactions over real UDP on loopback (#10.3): a caller made of plain sockets that
loses, repeats or refuses messages the way a lossy network or a strange phone does."""

from __future__ import annotations

import random
import socket
import time

import pytest

from tests.conftest import loopback_config, running_bot, tone, write_wav
from tests.test_sip_adapter import wait_finished

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n"


class RawCaller:
    """One UDP socket that speaks just enough SIP to misbehave on purpose."""

    def __init__(self, bot_port: int):
        self.bot = ("127.0.0.1", bot_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.call_id = f"raw-{random.getrandbits(48):x}@127.0.0.1"
        self.tag = f"{random.getrandbits(32):x}"
        self.branch = f"z9hG4bK{random.getrandbits(48):x}"

    def close(self):
        self.sock.close()
        self.rtp.close()

    def invite(self) -> bytes:
        body = SDP.format(port=self.rtp.getsockname()[1])
        return (f"INVITE sip:callbot@127.0.0.1:{self.bot[1]} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={self.branch};rport\r\nMax-Forwards: 70\r\n"
                f"From: <sip:+4930555000@127.0.0.1>;tag={self.tag}\r\nTo: <sip:callbot@127.0.0.1>\r\n"
                f"Call-ID: {self.call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:{self.port}>\r\n"
                f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()

    def send(self, data: bytes):
        self.sock.sendto(data, self.bot)

    def receive(self, seconds: float) -> list[bytes]:
        got, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                got.append(self.sock.recvfrom(65535)[0])
            except (socket.timeout, ConnectionRefusedError):
                pass
        return got

    def ack(self, ok: bytes) -> bytes:
        to = next(line for line in ok.decode().split("\r\n") if line.lower().startswith("to:"))
        return (f"ACK sip:callbot@127.0.0.1:{self.bot[1]} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{random.getrandbits(40):x};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:+4930555000@127.0.0.1>;tag={self.tag}\r\n{to}\r\n"
                f"Call-ID: {self.call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n").encode()


def answer_to(request: bytes, status: int, reason: str) -> bytes:
    lines = request.decode().split("\r\n")
    keep = [line for line in lines[1:] if line.split(":", 1)[0].lower() in ("via", "from", "to", "call-id", "cseq")]
    return (f"SIP/2.0 {status} {reason}\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n").encode()


def statuses(messages: list[bytes]) -> list[int]:
    return [int(m.split(b" ", 2)[1]) for m in messages if m.startswith(b"SIP/2.0 ")]


@pytest.fixture
def caller_and_bot(tmp_path, short_prompts):
    config = loopback_config(tmp_path, short_prompts, answer_delay=1.0)
    with running_bot(config) as bot:
        caller = RawCaller(config.sip.local_port)
        try:
            yield caller, bot
        finally:
            caller.close()


def test_a_retransmitted_invite_gets_the_same_answers_and_makes_one_call(caller_and_bot):
    caller, bot = caller_and_bot
    invite = caller.invite()
    caller.send(invite)
    first = caller.receive(0.3)
    caller.send(invite)  # the caller did not hear the 180: it sends the INVITE again while ringing
    again = caller.receive(0.3)
    assert 180 in statuses(first) and statuses(again) == [180]
    caller.send(invite)
    later = caller.receive(2.0)
    ok = next(m for m in later if m.startswith(b"SIP/2.0 200"))
    caller.send(caller.ack(ok))
    caller.send(invite)  # a late retransmission after the answer: the 200 again, no second call
    assert 200 in statuses(caller.receive(0.5))
    [row] = wait_finished(bot, 15)
    assert row.outcome == "answered"


def test_the_200_is_retransmitted_until_the_ack_and_a_missing_ack_ends_the_call(caller_and_bot):
    caller, bot = caller_and_bot
    caller.send(caller.invite())
    seen = caller.receive(4.5)  # 1 s ringing, then 200 at 0, 0.5, 1.5, 3.5 s (never ACKed)
    oks = [m for m in seen if m.startswith(b"SIP/2.0 200")]
    assert len(oks) >= 3, statuses(seen)
    caller.send(caller.ack(oks[0]))  # ACK now: the retransmissions stop
    after = caller.receive(4.5)
    assert not [m for m in after if m.startswith(b"SIP/2.0 200")]


def test_without_any_ack_the_bot_ends_the_half_open_call_after_32_s(tmp_path, short_prompts):
    """The ACK never comes (lost, or a broken phone): a 40 s greeting would play to nobody; the
    bot gives up on the call at 64·T1 = 32 s with a BYE and says why."""
    for lang in ("de", "en"):
        write_wav(short_prompts / lang / "hello.wav", tone(40.0, 660))
    config = loopback_config(tmp_path, short_prompts, rtp_timeout=120, max_call_duration=120)
    with running_bot(config) as bot:
        caller = RawCaller(config.sip.local_port)
        try:
            caller.send(caller.invite())
            deadline = time.monotonic() + 45
            byes = []
            while time.monotonic() < deadline and not byes:
                byes = [m for m in caller.receive(1.0) if m.startswith(b"BYE ")]
        finally:
            caller.close()
        [row] = wait_finished(bot, 10)
        events = bot.store.events(row.id)
    assert byes, "the bot never ended the call"
    assert row.outcome == "timeout"
    assert any("no ACK" in (e.reason or "") for e in events), events


def test_a_bye_the_caller_refuses_is_logged_as_failed_not_as_sent(caller_and_bot):
    caller, bot = caller_and_bot
    caller.send(caller.invite())
    seen = caller.receive(1.5)
    ok = next(m for m in seen if m.startswith(b"SIP/2.0 200"))
    caller.send(caller.ack(ok))
    bye = None
    deadline = time.monotonic() + 10
    while bye is None and time.monotonic() < deadline:  # hello (1.5 s), then the bot's BYE
        bye = next((m for m in caller.receive(0.5) if m.startswith(b"BYE ")), None)
    assert bye is not None
    caller.send(answer_to(bye, 404, "Not Found"))  # linphone's anonymous Contact did this
    assert not [m for m in caller.receive(1.2) if m.startswith(b"BYE ")]  # answered: no retransmission
    [row] = wait_finished(bot, 10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        bot.store.flush()
        events = bot.store.events(row.id)
        if any(e.rule == "bye_failed" for e in events):
            break
        time.sleep(0.05)
    failed = [e for e in events if e.rule == "bye_failed"]
    assert failed and "404" in failed[0].reason, events


def test_a_bye_nobody_answers_is_retransmitted(caller_and_bot):
    caller, bot = caller_and_bot
    caller.send(caller.invite())
    ok = next(m for m in caller.receive(1.5) if m.startswith(b"SIP/2.0 200"))
    caller.send(caller.ack(ok))
    byes, deadline = [], time.monotonic() + 8
    while time.monotonic() < deadline and len(byes) < 3:
        byes += [m for m in caller.receive(0.5) if m.startswith(b"BYE ")]
    assert len(byes) >= 3 and len(set(byes)) == 1  # the same BYE again (T1, 2·T1 …)
    caller.send(answer_to(byes[0], 200, "OK"))
    assert not [m for m in caller.receive(2.5) if m.startswith(b"BYE ")]
