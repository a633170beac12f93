"""Hold and resume mid-prompt over real SIP/RTP on loopback (#10.2): the caller's re-INVITEs
(sendonly, then sendrecv) as linphone sends them; the bot stops sending, then goes on."""

from __future__ import annotations

import random
import socket
import time

from tests.conftest import loopback_config, running_bot, tone, write_wav
from tests.test_sip_adapter import wait_finished
from tests.test_sip_transactions import RawCaller


def reinvite(caller: RawCaller, ok: bytes, cseq: int, direction: str, rtp_port: int | None = None) -> bytes:
    to = next(line for line in ok.decode().split("\r\n") if line.lower().startswith("to:"))
    port = rtp_port or caller.rtp.getsockname()[1]
    body = (f"v=0\r\no=- 1 {cseq} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na={direction}\r\n")
    return (f"INVITE sip:callbot@127.0.0.1:{caller.bot[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{caller.port};branch=z9hG4bK{random.getrandbits(40):x};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:+4930555000@127.0.0.1>;tag={caller.tag}\r\n{to}\r\n"
            f"Call-ID: {caller.call_id}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:caller@127.0.0.1:{caller.port}>\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()


def ack_for(caller: RawCaller, ok: bytes, cseq: int) -> bytes:
    return caller.ack(ok).replace(b"CSeq: 1 ACK", f"CSeq: {cseq} ACK".encode())


def packets(sock: socket.socket, seconds: float) -> list[float]:
    """Arrival times of the bot's RTP packets during ``seconds``."""
    times, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            sock.recvfrom(2048)
            times.append(time.monotonic())
        except socket.timeout:
            pass
    return times


def final(caller: RawCaller, seconds: float = 3.0) -> bytes:
    """The first 200 OK, as soon as it arrives."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for message in caller.receive(0.02):
            if message.startswith(b"SIP/2.0 200"):
                return message
    raise AssertionError("no 200 OK")


def drain(sock: socket.socket) -> None:
    sock.setblocking(False)
    try:
        while True:
            sock.recvfrom(2048)
    except (BlockingIOError, OSError):
        pass
    finally:
        sock.setblocking(True)


def test_hold_mid_prompt_silences_the_bot_and_resume_brings_the_rest_of_the_prompt(tmp_path, short_prompts):
    for lang in ("de", "en"):
        write_wav(short_prompts / lang / "hello.wav", tone(4.0, 660))
    config = loopback_config(tmp_path, short_prompts, rtp_timeout=10)
    with running_bot(config) as bot:
        caller = RawCaller(config.sip.local_port)
        try:
            caller.send(caller.invite())
            ok = final(caller)
            caller.send(caller.ack(ok))
            before = packets(caller.rtp, 1.0)                     # 1 s of the 4 s greeting
            drain(caller.rtp)
            caller.send(reinvite(caller, ok, 2, "sendonly"))      # hold
            hold_ok = final(caller)
            caller.send(ack_for(caller, hold_ok, 2))
            packets(caller.rtp, 0.3)                              # what was already on its way
            during = packets(caller.rtp, 2.0)
            caller.send(reinvite(caller, ok, 3, "sendrecv"))      # resume
            resume_ok = final(caller)
            caller.send(ack_for(caller, resume_ok, 3))
            after = packets(caller.rtp, 5.0)
        finally:
            caller.close()
        [row] = wait_finished(bot, 10)
        events = bot.store.events(row.id)
    assert b"a=recvonly" in hold_ok and b"a=sendrecv" in resume_ok
    assert 40 <= len(before) <= 60 and during == []
    assert 130 <= len(after) <= 170, len(after)  # the remaining ~3 s of the greeting, then BYE
    assert [e.rule for e in events if e.rule in ("hold", "resume")] == ["hold", "resume"]
    assert row.outcome == "answered"


def test_a_reinvite_that_moves_the_media_moves_the_bots_rtp(tmp_path, short_prompts):
    for lang in ("de", "en"):
        write_wav(short_prompts / lang / "hello.wav", tone(3.0, 660))
    config = loopback_config(tmp_path, short_prompts)
    with running_bot(config), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as moved:
        moved.bind(("127.0.0.1", 0))
        caller = RawCaller(config.sip.local_port)
        try:
            caller.send(caller.invite())
            ok = final(caller)
            caller.send(caller.ack(ok))
            assert len(packets(caller.rtp, 0.8)) > 20
            caller.send(reinvite(caller, ok, 2, "sendrecv", rtp_port=moved.getsockname()[1]))
            moved_ok = final(caller)
            caller.send(ack_for(caller, moved_ok, 2))
            packets(caller.rtp, 0.2)
            drain(caller.rtp)
            drain(moved)
            old = packets(caller.rtp, 0.5)
            new = packets(moved, 0.5)
        finally:
            caller.close()
    assert old == [] and len(new) > 15
