"""A packet capture on the loopback interface (AF_PACKET, root only; no tcpdump needed).

``LoopbackCapture(ports)`` records every UDP datagram on ``lo`` whose source or destination
port lies in ``ports`` — use it inside a private network namespace, where ``lo`` carries only
the test's own traffic. ``rtp()`` gives the payloads that look like RTP (RFC 7983 first byte
128-191, not RTCP), so a test can tell plain RTP from SRTP by what the packets carry.
"""

from __future__ import annotations

import socket
import struct
import threading

ETH_P_ALL = 0x0003
ETH_HEADER = 14


class LoopbackCapture:
    def __init__(self, ports: range, interface: str = "lo"):
        self.ports = ports
        self.datagrams: list[tuple[int, int, bytes]] = []  # (source port, destination port, UDP payload)
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self._sock.bind((interface, 0))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loopback-capture", daemon=True)

    def __enter__(self) -> "LoopbackCapture":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame, address = self._sock.recvfrom(65535)
            except (socket.timeout, OSError):
                continue
            if address[2] == socket.PACKET_OUTGOING:
                continue  # on lo every packet is seen twice: outgoing and incoming
            ip = frame[ETH_HEADER:]
            if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP:
                continue
            udp = ip[(ip[0] & 0x0F) * 4:]
            source, destination = struct.unpack("!HH", udp[:4])
            if source in self.ports or destination in self.ports:
                self.datagrams.append((source, destination, bytes(udp[8:])))

    def rtp(self) -> list[bytes]:
        """The captured datagrams that are RTP or SRTP packets (not STUN, not RTCP)."""
        return [d for _, _, d in self.datagrams if len(d) >= 12 and 0x80 <= d[0] <= 0xBF
                and not 192 <= d[1] <= 223]
