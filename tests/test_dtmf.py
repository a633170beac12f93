"""Key presses (RFC 4733 telephone-event over real RTP on loopback) become events of the call (#10.1)."""

from __future__ import annotations

import struct
import time

from tests.conftest import loopback_config, running_bot, tone, write_wav
from tests.test_hold import final
from tests.test_sip_adapter import wait_finished
from tests.test_sip_transactions import RawCaller

EVENT_PT = 101


class DtmfCaller(RawCaller):
    def invite(self) -> bytes:
        plain = super().invite().decode()
        head, body = plain.split("\r\n\r\n", 1)
        body = body.replace("RTP/AVP 0\r\n", f"RTP/AVP 0 {EVENT_PT}\r\na=rtpmap:{EVENT_PT} telephone-event/8000\r\n"
                                              f"a=fmtp:{EVENT_PT} 0-16\r\n")
        head = "\r\n".join(line if not line.startswith("Content-Length") else f"Content-Length: {len(body)}"
                           for line in head.split("\r\n"))
        return (head + "\r\n\r\n" + body).encode()

    def press(self, digit: int, bot_rtp: tuple[str, int], seq: int, timestamp: int) -> int:
        """One key press: three event packets (the first with the marker bit), as phones send them."""
        for n, (marker, end, duration) in enumerate(((1, 0, 160), (0, 0, 320), (0, 1, 480))):
            header = struct.pack("!BBHII", 0x80, (marker << 7) | EVENT_PT, seq + n, timestamp, 0x1234)
            payload = struct.pack("!BBH", digit, (end << 7) | 10, duration)
            self.rtp.sendto(header + payload, bot_rtp)
            time.sleep(0.02)
        return seq + 3


def bot_rtp_address(ok: bytes) -> tuple[str, int]:
    port = next(int(line.split()[1]) for line in ok.decode().split("\r\n") if line.startswith("m=audio"))
    return "127.0.0.1", port


def test_each_key_the_caller_presses_is_an_event_of_the_call(tmp_path, short_prompts):
    for lang in ("de", "en"):
        write_wav(short_prompts / lang / "hello.wav", tone(3.0, 660))
    config = loopback_config(tmp_path, short_prompts)
    with running_bot(config) as bot:
        caller = DtmfCaller(config.sip.local_port)
        try:
            caller.send(caller.invite())
            ok = final(caller)
            assert b"telephone-event" in ok  # accepted in the answer
            caller.send(caller.ack(ok))
            target, seq = bot_rtp_address(ok), 1
            for n, digit in enumerate((1, 2, 11)):  # "1", "2", "#"
                seq = caller.press(digit, target, seq, 1000 + n * 2000)
                time.sleep(0.1)
        finally:
            caller.close()
        [row] = wait_finished(bot, 10)
        time.sleep(0.2)
        bot.store.flush()
        events = bot.store.events(row.id)
    assert [e.rule for e in events if e.kind == "dtmf"] == ["1", "2", "#"]
