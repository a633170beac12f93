"""RTP helpers for the integration rig: a recording sink, G.711, pcap writer.

Usage::

    from tests.rig.rtp import RtpSink, write_rtp_pcap, free_udp_port, pcm16_tone

    with RtpSink() as sink:                      # 127.0.0.1:<free port>
        ... give sink.port to the caller scenario as key "sink_port" ...
        sink.wait_idle(idle=0.5, timeout=10)     # until the prompt stopped
        print(len(sink.packets), sink.duration())
        pcm = sink.payload_pcm()                 # 16-bit LE mono 8 kHz

    write_rtp_pcap(tmp / "hello.pcap", pcm16_tone(1.0))   # for SIPp play_pcap_audio

Everything binds/sends on 127.0.0.1 only.  The receive thread, the optional
sender thread and all waits are bounded and stop on :meth:`RtpSink.close`.
"""

from __future__ import annotations

import math
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

__all__ = [
    "free_udp_port",
    "RtpPacket",
    "RtpSink",
    "RtpDurations",
    "ulaw_decode",
    "alaw_decode",
    "ulaw_encode",
    "alaw_encode",
    "pcm16_tone",
    "write_rtp_pcap",
    "read_pcap_udp_payloads",
    "PTIME",
]

LOOPBACK = "127.0.0.1"
PTIME = 0.020  # seconds per packet
SAMPLES_PER_PACKET = 160  # 8 kHz * 20 ms

# --------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------

_handed_out: dict[int, float] = {}  # port -> monotonic time handed out
_handed_lock = threading.Lock()
_HANDED_TTL = 120.0  # seconds a handed-out port is not handed out again


def free_udp_port(count: int = 1) -> int:
    """Return a UDP port ``p`` on 127.0.0.1 such that ``p .. p+count-1`` are free.

    Ports are checked by binding (then released, so there is the usual small
    race with other programs).  A port handed out by this process is not
    handed out again for 120 s, so two callers in the same test never get the
    same port even if the first one hasn't bound it yet.  ``count > 1`` gives
    an even base port (SIPp's ``-mp`` needs 4 consecutive ports).  Bounded:
    at most 200 attempts, then RuntimeError.
    """
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((LOOPBACK, 0))
            base = s.getsockname()[1]
        if count > 1:
            base -= base % 2
        ports = range(base, base + count)
        if base < 1024 or ports[-1] > 65535:
            continue
        now = time.monotonic()
        with _handed_lock:
            for p, t in list(_handed_out.items()):
                if now - t > _HANDED_TTL:
                    del _handed_out[p]
            if any(p in _handed_out for p in ports):
                continue
        socks = []
        try:
            for p in ports:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((LOOPBACK, p))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        with _handed_lock:
            for p in ports:
                _handed_out[p] = now
        return base
    raise RuntimeError(f"could not find {count} free consecutive UDP port(s) on 127.0.0.1")


# --------------------------------------------------------------------------
# G.711
# --------------------------------------------------------------------------


def _ulaw_to_linear(u: int) -> int:
    u = ~u & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t <<= (u & 0x70) >> 4
    return (0x84 - t) if (u & 0x80) else (t - 0x84)


def _alaw_to_linear(a: int) -> int:
    a ^= 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t += 0x108
        t <<= seg - 1
    return t if (a & 0x80) else -t


_ULAW_TABLE = [_ulaw_to_linear(i) for i in range(256)]
_ALAW_TABLE = [_alaw_to_linear(i) for i in range(256)]
_ULAW_BYTES = [struct.pack("<h", v) for v in _ULAW_TABLE]
_ALAW_BYTES = [struct.pack("<h", v) for v in _ALAW_TABLE]


def ulaw_decode(data: bytes) -> bytes:
    """G.711 mu-law -> 16-bit little-endian PCM."""
    return b"".join(_ULAW_BYTES[b] for b in data)


def alaw_decode(data: bytes) -> bytes:
    """G.711 A-law -> 16-bit little-endian PCM."""
    return b"".join(_ALAW_BYTES[b] for b in data)


_SEG_UEND = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_SEG_AEND = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _linear_to_ulaw(sample: int) -> int:
    """Sun/CCITT G.711 mu-law encoder (bit-exact with Python's audioop)."""
    val = sample >> 2
    if val < 0:
        val, mask = -val, 0x7F
    else:
        mask = 0xFF
    val = min(val, 8159) + 33
    seg = next((k for k, e in enumerate(_SEG_UEND) if val <= e), 8)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((val >> (seg + 1)) & 0x0F)) ^ mask


def _linear_to_alaw(sample: int) -> int:
    """Sun/CCITT G.711 A-law encoder (bit-exact with Python's audioop)."""
    val = sample >> 3
    if val >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        val = -val - 1
    seg = next((k for k, e in enumerate(_SEG_AEND) if val <= e), 8)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= ((val >> 1) if seg < 2 else (val >> seg)) & 0x0F
    return aval ^ mask


_ENC_TABLES: dict[str, bytes] = {}


def _enc_table(kind: str) -> bytes:
    """65536-entry table indexed by the unsigned 16-bit sample value."""
    table = _ENC_TABLES.get(kind)
    if table is None:
        fn = _linear_to_ulaw if kind == "u" else _linear_to_alaw
        table = bytes(fn(i - 65536 if i >= 32768 else i) for i in range(65536))
        _ENC_TABLES[kind] = table
    return table


def _encode(pcm16: bytes, kind: str) -> bytes:
    n = len(pcm16) // 2
    table = _enc_table(kind)
    return bytes(table[s] for s in struct.unpack(f"<{n}H", pcm16[: 2 * n]))


def ulaw_encode(pcm16: bytes) -> bytes:
    """16-bit little-endian PCM -> G.711 mu-law."""
    return _encode(pcm16, "u")


def alaw_encode(pcm16: bytes) -> bytes:
    """16-bit little-endian PCM -> G.711 A-law."""
    return _encode(pcm16, "a")


def pcm16_tone(seconds: float, freq: float = 440.0, amplitude: float = 0.3, rate: int = 8000) -> bytes:
    """A sine tone as 16-bit LE mono PCM (handy test audio)."""
    n = int(round(seconds * rate))
    amp = int(32767 * amplitude)
    return struct.pack(
        f"<{n}h", *(int(amp * math.sin(2 * math.pi * freq * i / rate)) for i in range(n))
    )


# --------------------------------------------------------------------------
# RTP parsing / building
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class RtpPacket:
    """One received RTP packet.

    ``arrival`` is ``time.monotonic()`` when the sink's thread read it;
    ``kernel_arrival`` is the kernel's receive timestamp (SO_TIMESTAMPNS, wall
    clock, seconds) or None where the platform has none. On loopback the kernel
    stamps the packet while the sender is still in ``sendto()``, so intervals of
    ``kernel_arrival`` are the sender's packet intervals, free of the sink's own
    scheduling delays.
    """

    arrival: float
    seq: int
    timestamp: int
    ssrc: int
    payload_type: int
    marker: bool
    payload: bytes
    source: tuple[str, int]
    kernel_arrival: float | None = None


def parse_rtp(data: bytes, arrival: float, source: tuple[str, int],
              kernel_arrival: float | None = None) -> RtpPacket | None:
    """Parse an RTP packet (RFC 3550); None if it isn't RTP version 2."""
    if len(data) < 12 or (data[0] >> 6) != 2:
        return None
    b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
    offset = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension
        if len(data) < offset + 4:
            return None
        ext_len = struct.unpack("!H", data[offset + 2 : offset + 4])[0]
        offset += 4 + 4 * ext_len
    end = len(data)
    if b0 & 0x20 and end > offset:  # padding
        end -= data[-1]
    if end < offset:
        return None
    return RtpPacket(arrival, seq, ts, ssrc, b1 & 0x7F, bool(b1 & 0x80), data[offset:end], source,
                     kernel_arrival)


def build_rtp(seq: int, timestamp: int, ssrc: int, payload: bytes, payload_type: int = 0, marker: bool = False) -> bytes:
    return struct.pack(
        "!BBHII", 0x80, (0x80 if marker else 0) | (payload_type & 0x7F), seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc
    ) + payload


class RtpDurations(NamedTuple):
    """Audio duration estimates in seconds.

    ``by_count``: packets * 20 ms (audio packets only, i.e. PT 0/8);
    ``by_arrival``: last arrival - first arrival + 20 ms (wall clock);
    ``by_timestamp``: RTP timestamp span / 8000 + 20 ms (first SSRC).
    """

    by_count: float
    by_arrival: float
    by_timestamp: float


# --------------------------------------------------------------------------
# Sink
# --------------------------------------------------------------------------


#: Linux socket option / control message for nanosecond receive timestamps
#: (asm-generic/socket.h; the socket module does not export it).
SO_TIMESTAMPNS = 35
_TIMESTAMP_CMSG_SPACE = socket.CMSG_SPACE(16)


def _enable_kernel_timestamps(sock: socket.socket) -> bool:
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        return True
    except OSError:  # not Linux
        return False


def _kernel_timestamp(ancillary) -> float | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanos = struct.unpack("qq", data[:16])
            return seconds + nanos / 1e9
    return None


class RtpSink:
    """UDP socket on 127.0.0.1 that records every RTP packet it receives.

    Put ``sink.port`` into the caller's SDP (``m=audio <port> RTP/AVP 0 8 101``,
    ``c=IN IP4 127.0.0.1``) -- the bot then sends its prompt here.

    * ``packets`` -- list copy of :class:`RtpPacket` (arrival order);
    * ``audio_packets()`` -- only PCMU/PCMA/G.722 packets (PT 0/8/9);
    * ``payload_pcm()`` -- decoded 16-bit LE 8 kHz PCM of the audio packets;
    * ``first_arrival`` / ``last_arrival`` -- ``time.monotonic()`` values or None;
    * ``duration()`` -- :class:`RtpDurations`;
    * ``wait_for_packets(n, timeout)`` / ``wait_idle(idle, timeout)`` -- bounded waits;
    * ``send_to(addr, pcm)`` -- send paced PCMU back from the same socket
      (symmetric RTP), so the "caller" can talk;
    * ``close()`` -- stops threads, closes the socket (also via ``with``).
    """

    def __init__(self, port: int | None = None, host: str = LOOPBACK) -> None:
        if not host.startswith("127."):
            raise ValueError("RtpSink binds loopback only")
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        if port is None:
            self._sock.bind((host, 0))
        else:
            self._sock.bind((host, port))
        self.port: int = self._sock.getsockname()[1]
        self._sock.settimeout(0.05)
        self._kernel_stamps = _enable_kernel_timestamps(self._sock)
        self._packets: list[RtpPacket] = []
        self._junk = 0  # non-RTP datagrams
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._sender: threading.Thread | None = None
        self._thread = threading.Thread(target=self._run, name=f"RtpSink:{self.port}", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, ancillary, _flags, src = self._sock.recvmsg(4096, _TIMESTAMP_CMSG_SPACE)
            except socket.timeout:
                continue
            except OSError:
                break
            arrival = time.monotonic()
            stamp = _kernel_timestamp(ancillary) if self._kernel_stamps else None
            pkt = parse_rtp(data, arrival, src, stamp)
            with self._cond:
                if pkt is None:
                    self._junk += 1
                else:
                    self._packets.append(pkt)
                self._cond.notify_all()

    # -- results ----------------------------------------------------------
    @property
    def packets(self) -> list[RtpPacket]:
        with self._lock:
            return list(self._packets)

    @property
    def non_rtp_datagrams(self) -> int:
        with self._lock:
            return self._junk

    def audio_packets(self) -> list[RtpPacket]:
        return [p for p in self.packets if p.payload_type in (0, 8, 9)]

    def clear(self) -> None:
        with self._lock:
            self._packets.clear()
            self._junk = 0

    @property
    def first_arrival(self) -> float | None:
        pk = self.packets
        return pk[0].arrival if pk else None

    @property
    def last_arrival(self) -> float | None:
        pk = self.packets
        return pk[-1].arrival if pk else None

    def payload_pcm(self, *, sort_by_seq: bool = True) -> bytes:
        """Decode PCMU (PT 0) / PCMA (PT 8) payloads to 16-bit LE PCM @ 8 kHz.

        Other payload types (e.g. 9 G.722, 101 telephone-event, 13 CN) are skipped.
        With ``sort_by_seq`` packets are ordered by (SSRC first-seen order,
        extended sequence number) so reordering on the wire doesn't matter.
        """
        pkts = [p for p in self.audio_packets() if p.payload_type in (0, 8)]
        if sort_by_seq:
            pkts = _sort_by_seq(pkts)
        out = bytearray()
        for p in pkts:
            out += ulaw_decode(p.payload) if p.payload_type == 0 else alaw_decode(p.payload)
        return bytes(out)

    def duration(self) -> RtpDurations:
        pkts = self.audio_packets()
        if not pkts:
            return RtpDurations(0.0, 0.0, 0.0)
        by_count = len(pkts) * PTIME
        by_arrival = pkts[-1].arrival - pkts[0].arrival + PTIME
        first = [p for p in pkts if p.ssrc == pkts[0].ssrc]
        ts = [p.timestamp for p in first]
        span = (max(ts) - min(ts)) & 0xFFFFFFFF
        return RtpDurations(by_count, by_arrival, span / 8000.0 + PTIME)

    def wait_for_packets(self, n: int, timeout: float) -> bool:
        """Block until at least ``n`` packets arrived (bounded by ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._packets) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.1))
            return True

    def wait_idle(self, idle: float = 0.5, timeout: float = 10.0, *, need_packets: bool = True) -> bool:
        """Block until no packet arrived for ``idle`` s (after the first one if
        ``need_packets``); False if ``timeout`` hit first."""
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            last = self.last_arrival
            if last is not None and now - last >= idle:
                return True
            if last is None and not need_packets:
                return True
            if now >= deadline:
                return False
            time.sleep(min(0.05, max(0.0, deadline - now)))

    # -- talking back -----------------------------------------------------
    def send_to(
        self,
        addr: tuple[str, int],
        pcm16_8k: bytes,
        *,
        payload_type: int = 0,
        block: bool = True,
        max_seconds: float = 120.0,
        ssrc: int | None = None,
    ) -> threading.Thread | None:
        """Send ``pcm16_8k`` as PCMU RTP (20 ms packets, absolute-deadline pacing)
        from this sink's socket to ``addr`` (must be loopback).

        Only payload type 0 (PCMU) is encoded.  ``block=False`` returns the
        sender thread (stopped by :meth:`close`).  Bounded by ``max_seconds``.
        """
        host, port = addr
        if not str(host).startswith("127."):
            raise ValueError(f"rig sends RTP to loopback only, not {host!r}")
        if payload_type != 0:
            raise ValueError("send_to encodes PCMU (payload type 0) only")
        payload = ulaw_encode(pcm16_8k)
        frames = [payload[i : i + SAMPLES_PER_PACKET] for i in range(0, len(payload), SAMPLES_PER_PACKET)]
        frames = frames[: int(max_seconds / PTIME)]
        ssrc = random.getrandbits(32) if ssrc is None else ssrc
        seq0 = random.getrandbits(16)
        ts0 = random.getrandbits(32)

        def run() -> None:
            start = time.monotonic()
            for i, frame in enumerate(frames):
                if self._stop.is_set():
                    return
                due = start + i * PTIME
                delay = due - time.monotonic()
                if delay > 0:
                    if self._stop.wait(delay):
                        return
                pkt = build_rtp(seq0 + i, ts0 + i * SAMPLES_PER_PACKET, ssrc, frame, 0, marker=(i == 0))
                try:
                    self._sock.sendto(pkt, (host, port))
                except OSError:
                    return

        if block:
            run()
            return None
        t = threading.Thread(target=run, name=f"RtpSend:{self.port}", daemon=True)
        self._sender = t
        t.start()
        return t

    # -- lifecycle --------------------------------------------------------
    def close(self) -> None:
        self._stop.set()
        if self._sender is not None:
            self._sender.join(timeout=2.0)
        self._thread.join(timeout=2.0)
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RtpSink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RtpSink 127.0.0.1:{self.port} packets={len(self._packets)}>"


def _sort_by_seq(pkts: list[RtpPacket]) -> list[RtpPacket]:
    order: dict[int, int] = {}
    ext: list[tuple[int, int, int, RtpPacket]] = []
    last: dict[int, int] = {}
    for idx, p in enumerate(pkts):
        order.setdefault(p.ssrc, len(order))
        prev = last.get(p.ssrc)
        if prev is None:
            e = p.seq
        else:
            # unwrap relative to the previous extended seq of this SSRC
            delta = ((p.seq - (prev & 0xFFFF) + 0x8000) & 0xFFFF) - 0x8000
            e = prev + delta
        last[p.ssrc] = e if prev is None or e > prev else prev
        ext.append((order[p.ssrc], e, idx, p))
    ext.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in ext]


# --------------------------------------------------------------------------
# pcap writer (for SIPp <exec play_pcap_audio="..."/>)
# --------------------------------------------------------------------------


def _ip_checksum(header: bytes) -> int:
    if len(header) % 2:
        header += b"\0"
    s = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def write_rtp_pcap(
    path: Path | str,
    pcm16_8k: bytes,
    payload_type: int = 0,
    *,
    src: tuple[str, int] = (LOOPBACK, 16000),
    dst: tuple[str, int] = (LOOPBACK, 16002),
    ssrc: int = 0x1234ABCD,
    start_time: float = 1_700_000_000.0,
) -> int:
    """Write ``pcm16_8k`` (16-bit LE mono 8 kHz) as an RTP/PCMU (PT 0) or
    PCMA (PT 8) libpcap file and return the number of packets.

    Layout: classic pcap (magic ``a1b2c3d4``, v2.4, LINKTYPE_ETHERNET),
    each frame Ethernet + IPv4 (valid header checksum) + UDP (valid checksum)
    + RTP (12-byte header, 160-byte payload = 20 ms; the last frame is padded
    with silence), pcap timestamps 20 ms apart.  SIPp's ``play_pcap_audio``
    replays the UDP payloads with the pcap timing and rewrites addresses and
    ports to the call's media endpoints.  A trailing partial frame is padded.
    """
    if payload_type == 0:
        payload = ulaw_encode(pcm16_8k)
        silence = 0xFF
    elif payload_type == 8:
        payload = alaw_encode(pcm16_8k)
        silence = 0xD5
    else:
        raise ValueError("payload_type must be 0 (PCMU) or 8 (PCMA)")
    if len(payload) % SAMPLES_PER_PACKET:
        payload += bytes([silence]) * (SAMPLES_PER_PACKET - len(payload) % SAMPLES_PER_PACKET)
    src_ip = socket.inet_aton(src[0])
    dst_ip = socket.inet_aton(dst[0])
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    n = len(payload) // SAMPLES_PER_PACKET
    for i in range(n):
        frame = payload[i * SAMPLES_PER_PACKET : (i + 1) * SAMPLES_PER_PACKET]
        rtp = build_rtp(i, i * SAMPLES_PER_PACKET, ssrc, frame, payload_type, marker=(i == 0))
        udp_len = 8 + len(rtp)
        pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, 17, udp_len)
        udp_hdr = struct.pack("!HHHH", src[1], dst[1], udp_len, 0)
        csum = _ip_checksum(pseudo + udp_hdr + rtp) or 0xFFFF
        udp = struct.pack("!HHHH", src[1], dst[1], udp_len, csum) + rtp
        ip_hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0x4000, 64, 17, 0, src_ip, dst_ip)
        ip_hdr = ip_hdr[:10] + struct.pack("!H", _ip_checksum(ip_hdr)) + ip_hdr[12:]
        eth = b"\x00\x00\x00\x00\x00\x02" + b"\x00\x00\x00\x00\x00\x01" + b"\x08\x00"
        pkt = eth + ip_hdr + udp
        t = start_time + i * PTIME
        sec = int(t)
        usec = int(round((t - sec) * 1_000_000))
        if usec >= 1_000_000:
            sec, usec = sec + 1, usec - 1_000_000
        out += struct.pack("<IIII", sec, usec, len(pkt), len(pkt)) + pkt
    Path(path).write_bytes(bytes(out))
    return n


def read_pcap_udp_payloads(path: Path | str) -> list[tuple[float, bytes]]:
    """Read a classic little-endian Ethernet/IPv4 pcap: ``[(ts, udp_payload)]``.

    Small helper to check :func:`write_rtp_pcap` output (and tshark/tcpdump
    captures of loopback taken with ``-F pcap`` on an Ethernet-type link).
    """
    data = Path(path).read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", data[:24])
    if magic != 0xA1B2C3D4:
        raise ValueError("only little-endian microsecond pcap supported")
    if linktype != 1:
        raise ValueError(f"unsupported linktype {linktype}")
    off = 24
    out = []
    while off + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack("<IIII", data[off : off + 16])
        pkt = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 14 + 20 + 8 or pkt[12:14] != b"\x08\x00":
            continue
        ihl = (pkt[14] & 0x0F) * 4
        if pkt[14 + 9] != 17:
            continue
        udp = pkt[14 + ihl :]
        ulen = struct.unpack("!H", udp[4:6])[0]
        out.append((sec + usec / 1e6, udp[8:ulen]))
    return out
