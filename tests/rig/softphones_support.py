"""Support for the softphone rig: the private network namespace, SDP in client logs,
and what a softphone heard measured against what was played.

All audio is mono 8 kHz (what G.711 carries); 20 ms frames (160 samples).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import re
import socket
import struct
import wave
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = ["private_netns", "netns_unavailable", "sdp_codecs", "sdp_bodies", "sdp_profile", "sdp_crypto",
           "RATE", "read_wav", "pcm_array", "frame_dbfs", "active_span", "align", "local_alignment",
           "Comparison", "compare"]

CLONE_NEWNET = 0x40000000

# --------------------------------------------------------------------------
# The private network namespace
# --------------------------------------------------------------------------


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def netns_unavailable() -> str | None:
    """Why :func:`private_netns` cannot work here (a skip reason), or None."""
    if os.geteuid() != 0:
        return "needs root for a private network namespace (unshare CLONE_NEWNET)"
    if not os.path.exists("/proc/thread-self/ns/net"):
        return "no /proc/thread-self/ns/net"
    pid = os.fork()
    if pid == 0:  # try it in a throw-away child, never in this process
        os._exit(0 if _libc().unshare(CLONE_NEWNET) == 0 else 1)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return "unshare(CLONE_NEWNET) is refused here (container without CAP_SYS_ADMIN?)"
    return None


def _loopback_up() -> None:
    """``ip link set lo up`` without iproute2 (SIOCGIFFLAGS / SIOCSIFFLAGS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(s, 0x8913, ifreq))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sh14x", b"lo", flags | 0x1))


@contextmanager
def private_netns() -> Iterator[None]:
    """Move the calling thread into a new network namespace with only ``lo`` (up).

    Sockets opened and processes/threads started by this thread inside the
    block live in that namespace; 127.0.0.1 there is not the host's. On exit
    the thread goes back; the namespace disappears with its last process.
    Only the calling thread moves (setns/unshare are per thread), so start
    everything that must be reachable from inside the block.
    """
    libc = _libc()
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")
        try:
            _loopback_up()
            yield
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the host's network namespace failed")
    finally:
        os.close(home)


# --------------------------------------------------------------------------
# SDP helpers
# --------------------------------------------------------------------------

_STATIC = {"0": "PCMU", "3": "GSM", "8": "PCMA", "9": "G722", "18": "G729"}


def sdp_codecs(sdp: str) -> list[str]:
    """Encoding names of the audio m= line, in order (``["opus", "PCMU", ...]``)."""
    m = re.search(r"^m=audio \d+ [A-Z/]+ ([\d ]+)", sdp, re.M)
    if not m:
        return []
    names = dict(re.findall(r"^a=rtpmap:(\d+) ([^/\s]+)", sdp, re.M))
    return [names.get(pt, _STATIC.get(pt, pt)) for pt in m.group(1).split()]


def _audio_section(sdp: str) -> str:
    """The SDP's audio media section: from its ``m=audio`` line up to the next ``m=`` line."""
    m = re.search(r"^m=audio .*?(?=^m=|\Z)", sdp, re.M | re.S)
    return m.group(0) if m else ""


def sdp_profile(sdp: str) -> str | None:
    """Transport profile of the audio m= line: ``"RTP/AVP"``, ``"RTP/SAVP"``, ... (None: no audio)."""
    m = re.search(r"^m=audio \d+(?:/\d+)? (\S+)", sdp, re.M)
    return m.group(1) if m else None


def sdp_crypto(sdp: str) -> list[str]:
    """Crypto suites of the audio section's ``a=crypto`` lines (RFC 4568), in order
    (``["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"]``); the keys are not returned."""
    return re.findall(r"^a=crypto:\d+ +(\S+)", _audio_section(sdp), re.M)


def sdp_bodies(log: str, first_line: str) -> list[str]:
    """SIP messages with an audio SDP in a client's log whose first line starts with ``first_line``."""
    out = []
    for m in re.finditer(re.escape(first_line) + r".*?(?=\n\d{4}-\d\d-\d\d \d\d:|\n\x1b|\n#|\Z)", log, re.S):
        message = m.group(0)
        if "m=audio" in message:
            out.append(message)
    return out


# --------------------------------------------------------------------------
# What was heard
# --------------------------------------------------------------------------

RATE = 8000
FRAME = 160  # 20 ms


def pcm_array(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)


def wav_rate(path: Path) -> int:
    with wave.open(str(path), "rb") as w:
        return w.getframerate()


def read_wav(path: Path, rate: int = RATE) -> np.ndarray:
    """16-bit PCM WAV as float samples at ``rate`` (first channel; other rates resampled with
    callbot's windowed-sinc resampler, so no band is lost going down or invented going up)."""
    from callbot.audio import resample

    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: {8 * w.getsampwidth()}-bit samples, expected 16")
        source, channels = w.getframerate(), w.getnchannels()
        x = pcm_array(w.readframes(w.getnframes()))
    x = x[::channels] if channels > 1 else x
    if source != rate and len(x):
        x = pcm_array(resample(x.astype("<i2").tobytes(), source, rate))
    return x


def high_band_share(x: np.ndarray, rate: int, above: float = 4000.0) -> float:
    """Share of the signal's energy above ``above`` Hz: ~0 for narrowband (8 kHz) audio,
    a few percent and more for wideband speech."""
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    total = float(np.sum(spectrum))
    return float(np.sum(spectrum[freqs > above]) / total) if total else 0.0


def dbfs(rms: np.ndarray | float) -> np.ndarray | float:
    return 20 * np.log10(np.maximum(rms, 1e-9) / 32768.0)


def frame_dbfs(x: np.ndarray, rate: int = RATE) -> np.ndarray:
    """Level of each whole 20 ms frame, dBFS."""
    frame = rate // 50
    n = len(x) // frame
    if n == 0:
        return np.zeros(0)
    return dbfs(np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)))


def active_span(x: np.ndarray, threshold_dbfs: float = -45.0, rate: int = RATE) -> tuple[float, float]:
    """(start, end) in seconds of the frames louder than the threshold; (0, 0) for silence."""
    loud = np.nonzero(frame_dbfs(x, rate) > threshold_dbfs)[0]
    if not len(loud):
        return 0.0, 0.0
    frame = rate // 50
    return loud[0] * frame / rate, (loud[-1] + 1) * frame / rate


def align(ref: np.ndarray, rec: np.ndarray) -> tuple[int, float]:
    """Offset (samples) of ``ref`` inside ``rec`` by FFT cross-correlation, and the
    normalized correlation there (1.0 = identical up to gain)."""
    if not len(ref) or not len(rec):
        return 0, 0.0
    n = 1 << int(np.ceil(np.log2(len(rec) + len(ref))))
    c = np.fft.irfft(np.fft.rfft(rec, n) * np.conj(np.fft.rfft(ref, n)), n)
    lag = int(np.argmax(c))
    lag = lag if lag < n // 2 else lag - n
    a, b = _overlap(ref, rec, lag)
    denom = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return lag, float(np.dot(a, b) / denom) if denom else 0.0


def _overlap(ref: np.ndarray, rec: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    start_rec, start_ref = max(lag, 0), max(-lag, 0)
    n = max(0, min(len(ref) - start_ref, len(rec) - start_rec))
    return ref[start_ref:start_ref + n], rec[start_rec:start_rec + n]


def local_alignment(ref: np.ndarray, rec: np.ndarray, lag: int, rate: int = RATE) -> tuple[float, float, int]:
    """Each 1 s window of the reference aligned on its own (best lag within +-100 ms of
    ``lag``), tolerant of a jitter buffer that stretches or drops a few ms: the median
    correlation, the share of the reference's loud 20 ms frames also loud in the
    recording (>= ref - 10 dB), and the count of those that are not (drop-outs)."""
    window, search = rate, rate // 10
    scores, kept = [], []
    for start in range(0, len(ref) - window + 1, window // 2):
        chunk = ref[start:start + window]
        if np.sqrt(np.mean(chunk ** 2)) < 32768 * 10 ** (-40 / 20):
            continue  # silent: nothing to compare
        lo = max(0, lag + start - search)
        seg = rec[lo:lag + start + window + search]
        if len(seg) < window:
            continue
        dots = np.correlate(seg, chunk, mode="valid")
        energy = np.convolve(seg ** 2, np.ones(window), mode="valid")
        score = dots / np.sqrt(np.maximum(energy, 1e-9) * np.dot(chunk, chunk))
        best = int(np.argmax(score))
        scores.append(float(score[best]))
        fa, fb = frame_dbfs(chunk, rate), frame_dbfs(seg[best:best + window], rate)
        loud = fa > -40
        kept.extend(fb[loud] >= fa[loud] - 10)
    if not scores:
        return 0.0, 0.0, 0
    return float(np.median(scores)), float(np.mean(kept)) if kept else 0.0, int(len(kept) - np.sum(kept))


@dataclass
class Comparison:
    lag: float              # seconds into the recording where the reference starts
    correlation: float      # normalized, at that lag
    local: float            # median correlation of 1 s windows, each aligned on its own (+-100 ms)
    ref_dbfs: float         # level of the reference (whole)
    rec_dbfs: float         # level of the aligned part of the recording
    heard_seconds: float    # span of the recording's loud frames
    continuity: float       # share of the reference's loud frames also loud (>= ref - 10 dB), window-aligned
    gaps: int               # loud reference frames heard > 10 dB quieter (drop-outs, bursts), window-aligned

    def describe(self) -> str:
        return (f"lag {self.lag:.3f}s corr {self.correlation:.3f} local {self.local:.3f} level {self.rec_dbfs:.1f} dBFS "
                f"(played {self.ref_dbfs:.1f}) heard {self.heard_seconds:.2f}s "
                f"continuity {self.continuity:.3f} gaps {self.gaps}")


def compare(ref: np.ndarray, rec: np.ndarray, rate: int = RATE) -> Comparison:
    """Align ``ref`` (what was played) inside ``rec`` (what was heard), both at ``rate``, and measure."""
    lag, corr = align(ref, rec)
    _, b = _overlap(ref, rec, lag)
    local, continuity, gaps = local_alignment(ref, rec, lag, rate)
    start, end = active_span(rec, rate=rate)
    return Comparison(
        lag=lag / rate, correlation=corr, local=local,
        ref_dbfs=float(dbfs(np.sqrt(np.mean(ref ** 2)))) if len(ref) else -200.0,
        rec_dbfs=float(dbfs(np.sqrt(np.mean(b ** 2)))) if len(b) else -200.0,
        heard_seconds=end - start, continuity=continuity, gaps=gaps,
    )
