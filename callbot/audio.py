"""Audio helpers: G.711 codecs, resampling, levels, framing and file decoding.

callbot's internal audio format is signed 16-bit little-endian mono PCM,
handled in 20 ms frames: at 8 kHz (G.711 calls; 160 samples, 320 bytes) or at
16 kHz (G.722 wideband calls; 320 samples, 640 bytes) — :data:`RATES`. Everything here is
pure computation on ``bytes`` (numpy only); :func:`decode_file` and
:func:`write_wav` are the only functions that touch the file system.
"""

from __future__ import annotations

import math
import os
import wave
from pathlib import Path

import numpy as np

from callbot.errors import AudioError

SAMPLE_RATE = 8000
SAMPLE_WIDTH = 2
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160
FRAME_BYTES = FRAME_SAMPLES * SAMPLE_WIDTH  # 320
WIDEBAND_RATE = 16000
#: The rates a call's audio can have: narrowband (G.711) and wideband (G.722).
RATES = (SAMPLE_RATE, WIDEBAND_RATE)

SILENCE_FRAME = bytes(FRAME_BYTES)

# 16-bit full scale; the reference for dBFS and for float <-> int conversion.
FULL_SCALE = 32768.0

_PCM_DTYPE = np.dtype("<i2")

# --------------------------------------------------------------------------
# G.711 (ITU-T G.711), bit-exact with the classic Sun / CCITT reference code
# (and with Python's old audioop module). Encoding uses a 65536-entry table
# indexed by the 16-bit sample, decoding a 256-entry table indexed by the code.

_ULAW_BIAS = 0x84  # 132, in 16-bit units
_ULAW_CLIP = 8159  # in 14-bit units
_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
_QUANT_MASK = 0x0F
_SEG_SHIFT = 4
_SIGN_BIT = 0x80


def _all_samples() -> np.ndarray:
    """Every int16 value, ordered by its uint16 bit pattern (table index)."""
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int64)


def _build_ulaw_encode_table() -> np.ndarray:
    pcm = _all_samples() >> 2  # 14-bit
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = np.searchsorted(_ULAW_SEG_END, mag)  # first seg with mag <= end
    mant = (mag >> np.minimum(seg + 1, 8)) & _QUANT_MASK
    code = np.where(seg >= 8, 0x7F, (seg << _SEG_SHIFT) | mant)
    return (code ^ mask).astype(np.uint8)


def _build_ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int64) & 0xFF
    t = ((u & _QUANT_MASK) << 3) + _ULAW_BIAS
    t <<= (u & 0x70) >> _SEG_SHIFT
    return np.where(u & _SIGN_BIT, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(_PCM_DTYPE)


def _build_alaw_encode_table() -> np.ndarray:
    pcm = _all_samples() >> 3  # 13-bit
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = np.searchsorted(_ALAW_SEG_END, mag)
    shift = np.where(seg < 2, 1, np.minimum(seg, 8))
    code = np.where(seg >= 8, 0x7F, (seg << _SEG_SHIFT) | ((mag >> shift) & _QUANT_MASK))
    return (code ^ mask).astype(np.uint8)


def _build_alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int64) ^ 0x55
    t = (a & _QUANT_MASK) << 4
    seg = (a & 0x70) >> _SEG_SHIFT
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & _SIGN_BIT, t, -t).astype(_PCM_DTYPE)


_ULAW_ENCODE = _build_ulaw_encode_table()
_ULAW_DECODE = _build_ulaw_decode_table()
_ALAW_ENCODE = _build_alaw_encode_table()
_ALAW_DECODE = _build_alaw_decode_table()


def _samples(pcm: bytes) -> np.ndarray:
    """View 16-bit PCM bytes as an int16 array (read-only, no copy)."""
    if len(pcm) % SAMPLE_WIDTH:
        raise AudioError(
            f"16-bit PCM must have an even number of bytes, got {len(pcm)}"
        )
    return np.frombuffer(pcm, dtype=_PCM_DTYPE)


def _to_bytes(samples: np.ndarray) -> bytes:
    return samples.astype(_PCM_DTYPE, copy=False).tobytes()


def ulaw_encode(pcm: bytes) -> bytes:
    """Encode 16-bit PCM to G.711 µ-law (one byte per sample)."""
    return _ULAW_ENCODE[_samples(pcm).view("<u2")].tobytes()


def ulaw_decode(data: bytes) -> bytes:
    """Decode G.711 µ-law to 16-bit PCM."""
    return _ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)].tobytes()


def alaw_encode(pcm: bytes) -> bytes:
    """Encode 16-bit PCM to G.711 A-law (one byte per sample)."""
    return _ALAW_ENCODE[_samples(pcm).view("<u2")].tobytes()


def alaw_decode(data: bytes) -> bytes:
    """Decode G.711 A-law to 16-bit PCM."""
    return _ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)].tobytes()


# --------------------------------------------------------------------------
# Resampling: Kaiser-windowed sinc evaluated at the exact output positions
# (polyphase table when the rate ratio is small), so any rate ratio works.
# The low-pass sits at ROLLOFF * the lower Nyquist frequency: for 8 kHz the
# pass band is flat to ~3.4 kHz and 4 kHz is already > 60 dB down.

RESAMPLE_ZERO_CROSSINGS = 32  # filter half-width, in samples of the lower rate
RESAMPLE_KAISER_BETA = 8.0  # ~80 dB stop-band attenuation
RESAMPLE_ROLLOFF = 0.92  # cutoff as a fraction of the lower Nyquist frequency
_MAX_PHASES = 4096  # above this, taps are interpolated from a fine kernel table
_FINE_STEPS = 512  # fine kernel table resolution, points per input sample
_CHUNK_ELEMENTS = 1 << 21  # bounds the (outputs x taps) working matrix


def _kernel(t: np.ndarray, cutoff: float, half_width: float) -> np.ndarray:
    """Windowed-sinc low-pass at offsets ``t`` (input samples); unit DC gain."""
    x = np.clip(t / half_width, -1.0, 1.0)
    window = np.i0(RESAMPLE_KAISER_BETA * np.sqrt(1.0 - x * x)) / np.i0(RESAMPLE_KAISER_BETA)
    h = 2.0 * cutoff * np.sinc(2.0 * cutoff * t) * window
    return np.where(np.abs(t) < half_width, h, 0.0)


def _resample_float(x: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Resample float samples; output length is ceil(len(x) * dst / src)."""
    if src_rate == dst_rate or len(x) == 0:
        return np.array(x, dtype=np.float64)
    g = math.gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    n_out = -(-len(x) * up // down)
    scale = min(1.0, up / down)  # lower rate / input rate
    cutoff = 0.5 * scale * RESAMPLE_ROLLOFF  # cycles per input sample
    half_width = RESAMPLE_ZERO_CROSSINGS / scale  # input samples
    k = int(math.ceil(half_width))
    offsets = np.arange(-k + 1, k + 1)  # taps relative to floor(position)
    padded = np.concatenate([np.zeros(k), np.asarray(x, dtype=np.float64), np.zeros(k + 1)])

    table = fine = None
    if up <= _MAX_PHASES:  # one row of taps per output phase
        phases = np.arange(up)[:, None] / up
        table = _kernel(offsets[None, :] - phases, cutoff, half_width)
        table /= table.sum(axis=1, keepdims=True)
    else:  # odd ratios: interpolate a finely sampled kernel
        fine = _kernel(np.arange(k * _FINE_STEPS + 2) / _FINE_STEPS, cutoff, half_width)

    out = np.empty(n_out)
    chunk = max(1, _CHUNK_ELEMENTS // len(offsets))
    for start in range(0, n_out, chunk):
        n = np.arange(start, min(start + chunk, n_out), dtype=np.int64)
        base, phase = np.divmod(n * down, up)
        if table is not None:
            taps = table[phase]
        else:
            pos = np.abs(offsets[None, :] - (phase / up)[:, None]) * _FINE_STEPS
            idx = pos.astype(np.int64)
            frac = pos - idx
            taps = fine[idx] * (1.0 - frac) + fine[idx + 1] * frac
            taps /= taps.sum(axis=1, keepdims=True)
        window = padded[(base + k)[:, None] + offsets[None, :]]
        out[start : start + len(n)] = np.einsum("ij,ij->i", taps, window)
    return out


def _quantize(x: np.ndarray) -> bytes:
    """Float samples (full scale = 1.0) to 16-bit PCM bytes, clipping."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0, posinf=1.0, neginf=-1.0)
    return _to_bytes(np.clip(np.rint(x * FULL_SCALE), -32768, 32767))


def _check_rate(rate: int, name: str) -> int:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise AudioError(f"{name} must be a positive integer in Hz, got {rate!r}")
    return int(rate)


def resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Convert 16-bit mono PCM from ``src_rate`` to ``dst_rate`` (any ratio).

    Band-limited (anti-aliasing low-pass below the lower Nyquist frequency),
    zero delay, output length ``ceil(n * dst_rate / src_rate)`` samples, so
    8 kHz <-> 16 kHz is exactly 1:2.
    """
    src_rate = _check_rate(src_rate, "source rate")
    dst_rate = _check_rate(dst_rate, "target rate")
    samples = _samples(pcm)
    if src_rate == dst_rate:
        return bytes(pcm)
    return _quantize(_resample_float(samples / FULL_SCALE, src_rate, dst_rate))


# --------------------------------------------------------------------------
# Levels and framing


def level_dbfs(pcm: bytes) -> float:
    """RMS level in dBFS (full-scale sine = -3.01); silence or empty -> -inf."""
    samples = _samples(pcm)
    if samples.size == 0:
        return float("-inf")
    mean_square = float(np.mean(np.square(samples, dtype=np.float64)))
    if mean_square == 0.0:
        return float("-inf")
    return 10.0 * math.log10(mean_square / (FULL_SCALE * FULL_SCALE))


def split_frames(pcm: bytes, frame_bytes: int = FRAME_BYTES) -> list[bytes]:
    """Cut PCM into frames of ``frame_bytes``; the last one is zero-padded."""
    if frame_bytes <= 0:
        raise ValueError(f"frame_bytes must be positive, got {frame_bytes}")
    frames = [bytes(pcm[i : i + frame_bytes]) for i in range(0, len(pcm), frame_bytes)]
    if frames and len(frames[-1]) < frame_bytes:
        frames[-1] = frames[-1] + bytes(frame_bytes - len(frames[-1]))
    return frames


def duration_seconds(pcm: bytes, rate: int = SAMPLE_RATE) -> float:
    """Duration of 16-bit mono PCM at ``rate``."""
    return len(pcm) / (SAMPLE_WIDTH * rate)


# --------------------------------------------------------------------------
# Files


def frame_bytes(rate: int = SAMPLE_RATE) -> int:
    """Bytes in one 20 ms frame of 16-bit mono PCM at ``rate`` (320 at 8 kHz, 640 at 16 kHz)."""
    return _check_rate(rate, "sample rate") * FRAME_MS // 1000 * SAMPLE_WIDTH


def decode_file(path: str | os.PathLike, target: int = SAMPLE_RATE) -> bytes:
    """Read any audio file libsndfile understands into internal PCM.

    WAV (integer, float, µ-law, A-law ...), FLAC, OGG/Vorbis, MP3 and more, at
    any sample rate; multi-channel audio is mixed down by averaging. Returns
    16-bit mono PCM at ``target`` Hz (default :data:`SAMPLE_RATE`). Raises :class:`AudioError` naming
    the file when it is missing, unreadable, corrupt or empty.
    """
    import soundfile  # imported lazily: only file decoding needs libsndfile

    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if not path.is_file():
        raise AudioError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")
    try:
        data, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as exc:
        reason = str(exc).strip() or type(exc).__name__
        reason = reason.removeprefix(f"Error opening {str(path)!r}: ")  # named already
        if "does not exist" in reason:  # libsndfile's words for unparseable MP3 data
            reason = "unrecognised format or corrupt data"
        raise AudioError(f"{path}: not a readable audio file ({reason})") from exc
    if data.size == 0 or data.shape[0] == 0:
        raise AudioError(f"{path}: contains no audio samples")
    if rate <= 0:
        raise AudioError(f"{path}: invalid sample rate {rate}")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return _quantize(_resample_float(mono, int(rate), _check_rate(target, "sample rate")))


def write_wav(path: str | os.PathLike, pcm: bytes, rate: int = SAMPLE_RATE) -> None:
    """Write 16-bit mono PCM as a WAV file."""
    rate = _check_rate(rate, "sample rate")
    _samples(pcm)  # validates the length
    with wave.open(os.fspath(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(rate)
        wav.writeframes(pcm)
