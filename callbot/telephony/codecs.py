"""The audio codecs of callbot's own test and demo caller (:mod:`callbot.telephony.democaller`),
one class per RTP payload: G.711 µ-law and A-law (8 kHz, bit-exact, :mod:`callbot.audio`) and
G.722 (16 kHz wideband, the PyPI ``G722`` library rfcvoip uses for the bot's side too).

Each turns 20 ms of 16-bit PCM at its ``rate`` into one RTP payload and back; ``clock`` is
the RTP timestamp rate (RFC 3551 keeps G.722 on 8000 Hz), so every codec's timestamp
advances 160 per packet.
"""

from __future__ import annotations

import array
import sys

from callbot.audio import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode


class G711U:
    name, payload_type, rate, clock = "PCMU", 0, 8000, 8000

    def encode(self, pcm: bytes) -> bytes:
        return ulaw_encode(pcm)

    def decode(self, payload: bytes) -> bytes:
        return ulaw_decode(payload)


class G711A(G711U):
    name, payload_type = "PCMA", 8

    def encode(self, pcm: bytes) -> bytes:
        return alaw_encode(pcm)

    def decode(self, payload: bytes) -> bytes:
        return alaw_decode(payload)


class G722:
    """64 kbit/s G.722: 320 samples (20 ms at 16 kHz) ↔ 160 payload bytes. One encoder and one
    decoder per instance (ADPCM keeps state), so use one instance per call direction pair."""

    name, payload_type, rate, clock = "G722", 9, 16000, 8000

    def __init__(self):
        import G722 as library  # the same codec library rfcvoip loads for the bot

        self._encoder = library.G722(self.rate, 64000, use_numpy=False)
        self._decoder = library.G722(self.rate, 64000, use_numpy=False)

    def encode(self, pcm: bytes) -> bytes:
        samples = array.array("h", pcm)
        if sys.byteorder != "little":
            samples.byteswap()
        return bytes(self._encoder.encode(samples.tolist()))

    def decode(self, payload: bytes) -> bytes:
        samples = array.array("h", (max(-32768, min(32767, int(s))) for s in self._decoder.decode(payload)))
        if sys.byteorder != "little":
            samples.byteswap()
        return samples.tobytes()


CODECS = {cls.name: cls for cls in (G711U, G711A, G722)}
BY_PAYLOAD = {cls.payload_type: cls for cls in CODECS.values()}

