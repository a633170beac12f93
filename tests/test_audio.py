"""Tests for callbot.audio: G.711, resampling, levels, framing, file decoding."""

from __future__ import annotations

import math
import warnings
import wave

import numpy as np
import pytest
import soundfile as sf

from callbot import audio
from callbot.audio import (
    FRAME_BYTES,
    SAMPLE_RATE,
    alaw_decode,
    alaw_encode,
    decode_file,
    duration_seconds,
    level_dbfs,
    resample,
    split_frames,
    ulaw_decode,
    ulaw_encode,
    write_wav,
)
from callbot.errors import AudioError


def pcm(values) -> bytes:
    return np.asarray(values, dtype="<i2").tobytes()


def samples(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.int64)


def tone(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 0.5, phase=0.0):
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(amplitude * 32767 * np.sin(2 * np.pi * freq * t + phase)).astype("<i2")


ALL_SAMPLES = pcm(np.arange(-32768, 32768))
ALL_CODES = bytes(range(256))


def test_constants():
    assert audio.SAMPLE_RATE == 8000
    assert audio.SAMPLE_WIDTH == 2
    assert audio.FRAME_MS == 20
    assert audio.FRAME_SAMPLES == 160
    assert audio.FRAME_BYTES == 320
    assert audio.WIDEBAND_RATE == 16000
    assert audio.SILENCE_FRAME == bytes(320)


# ---------------------------------------------------------------- G.711 µ-law


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (0, 0xFF),
        (-1, 0x7E),  # arithmetic shift: -1 is in the first negative step
        (32767, 0x80),
        (-32768, 0x00),
        (32124, 0x80),
        (-32124, 0x00),
        (8, 0xFE),
        (-8, 0x7E),
        (1000, 0xCE),
        (-1000, 0x4E),
    ],
)
def test_ulaw_encode_reference_values(value, code):
    assert ulaw_encode(pcm([value])) == bytes([code])


@pytest.mark.parametrize(
    ("code", "value"),
    [(0xFF, 0), (0x7F, 0), (0x80, 32124), (0x00, -32124), (0xFE, 8), (0x7E, -8), (0xCE, 988)],
)
def test_ulaw_decode_reference_values(code, value):
    assert samples(ulaw_decode(bytes([code])))[0] == value


def test_ulaw_code_round_trip():
    back = ulaw_encode(ulaw_decode(ALL_CODES))
    for code in range(256):
        expected = 0xFF if code == 0x7F else code  # both zeros encode as +0
        assert back[code] == expected, hex(code)


def test_ulaw_decoded_values_are_symmetric_and_monotonic():
    values = samples(ulaw_decode(ALL_CODES))
    positive = values[0x80:][::-1]  # 0xFF (0) .. 0x80 (max)
    negative = values[:0x80][::-1]  # 0x7F (0) .. 0x00 (min)
    assert np.array_equal(positive, -negative)
    assert np.all(np.diff(positive) > 0)


def _ulaw_step(code_values: np.ndarray) -> np.ndarray:
    """Quantisation step of the segment each decoded value lies in (8 .. 1024)."""
    u = ~code_values & 0xFF
    return 8 << ((u >> 4) & 7)


def test_ulaw_round_trip_error_within_segment_step():
    x = samples(ALL_SAMPLES)
    codes = np.frombuffer(ulaw_encode(ALL_SAMPLES), dtype=np.uint8).astype(np.int64)
    y = samples(ulaw_decode(bytes(codes.astype(np.uint8))))
    err = np.abs(y - x)
    step = _ulaw_step(codes)
    in_range = np.abs(x) <= 32124
    # the decoder returns the middle of the step; the 14-bit shift adds < 4
    assert np.all(err[in_range] <= step[in_range] // 2 + 4)
    assert np.all(err[~in_range] <= 32768 - 32124)  # clipped at the top
    assert np.all(np.sign(y) * np.sign(x) >= 0)  # never flips the sign


# ---------------------------------------------------------------- G.711 A-law


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (0, 0xD5),
        (-1, 0x55),
        (32767, 0xAA),
        (-32768, 0x2A),
        (32256, 0xAA),
        (-32256, 0x2A),
        (1000, 0xFA),
        (-1000, 0x7A),
    ],
)
def test_alaw_encode_reference_values(value, code):
    assert alaw_encode(pcm([value])) == bytes([code])


@pytest.mark.parametrize(
    ("code", "value"),
    [(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256), (0xFA, 1008), (0x7A, -1008)],
)
def test_alaw_decode_reference_values(code, value):
    assert samples(alaw_decode(bytes([code])))[0] == value


def test_alaw_code_round_trip_is_identity():
    assert alaw_encode(alaw_decode(ALL_CODES)) == ALL_CODES


def test_alaw_round_trip_error_within_segment_step():
    x = samples(ALL_SAMPLES)
    codes = np.frombuffer(alaw_encode(ALL_SAMPLES), dtype=np.uint8).astype(np.int64)
    y = samples(alaw_decode(bytes(codes.astype(np.uint8))))
    seg = ((codes ^ 0x55) >> 4) & 7
    step = np.where(seg == 0, 16, 16 << np.maximum(seg - 1, 0))
    in_range = np.abs(x) <= 32256
    assert np.all(np.abs(y - x)[in_range] <= step[in_range] // 2)
    assert np.all(np.abs(y - x)[~in_range] <= 32768 - 32256)


def test_g711_matches_audioop_bit_exact():
    """Python <= 3.12 ships the classic reference implementation: compare all."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    assert ulaw_encode(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES, 2)
    assert alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES, 2)
    assert ulaw_decode(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)
    assert alaw_decode(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


def test_g711_lengths_and_empty_input():
    assert ulaw_encode(b"") == b"" and alaw_encode(b"") == b""
    assert ulaw_decode(b"") == b"" and alaw_decode(b"") == b""
    assert len(ulaw_encode(bytes(FRAME_BYTES))) == 160
    assert len(alaw_decode(bytes(160))) == FRAME_BYTES


def test_odd_length_pcm_is_rejected():
    with pytest.raises(AudioError, match="even"):
        ulaw_encode(b"\x00\x00\x00")
    with pytest.raises(AudioError):
        level_dbfs(b"\x01")


# ---------------------------------------------------------------- resampling


def _peak_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def _middle(x: np.ndarray) -> np.ndarray:
    return x[len(x) // 8 : len(x) - len(x) // 8]  # skip the filter's edge effects


def test_resample_8k_16k_8k_keeps_frequency_and_level():
    x = tone(1000, 8000)
    up = resample(x.tobytes(), 8000, 16000)
    assert len(up) == 2 * x.nbytes
    down = resample(up, 16000, 8000)
    assert len(down) == x.nbytes

    up_s, down_s = samples(up), samples(down)
    assert _peak_frequency(_middle(up_s), 16000) == pytest.approx(1000, abs=2)
    assert _peak_frequency(_middle(down_s), 8000) == pytest.approx(1000, abs=2)
    # a 1 kHz tone crosses zero 2000 times a second
    crossings = np.count_nonzero(np.diff(np.signbit(_middle(up_s))))
    assert crossings == pytest.approx(2000 * len(_middle(up_s)) / 16000, abs=3)

    ref = level_dbfs(_middle(x).tobytes())
    assert abs(level_dbfs(pcm(_middle(up_s))) - ref) < 0.5
    assert abs(level_dbfs(pcm(_middle(down_s))) - ref) < 0.5
    # and the waveform itself survives, not just its level
    assert np.max(np.abs(_middle(down_s) - _middle(x))) < 20


@pytest.mark.parametrize("freq", [4000, 4500, 6000, 7500])
def test_resample_16k_to_8k_removes_tones_above_4k(freq):
    x = tone(freq, 16000, phase=0.3)  # phase: a 4 kHz sine would hit zeros only
    y = samples(resample(x.tobytes(), 16000, 8000))
    attenuation = level_dbfs(_middle(x).tobytes()) - level_dbfs(pcm(_middle(y)))
    assert attenuation >= 30


def test_resample_16k_to_8k_passes_speech_band():
    for freq in (300, 1000, 2000, 3000, 3400):
        x = tone(freq, 16000)
        y = samples(resample(x.tobytes(), 16000, 8000))
        change = level_dbfs(pcm(_middle(y))) - level_dbfs(_middle(x).tobytes())
        assert abs(change) < 0.5, freq
    x = tone(3500, 16000)  # inside the transition band: somewhat attenuated
    y = samples(resample(x.tobytes(), 16000, 8000))
    assert level_dbfs(pcm(_middle(y))) < level_dbfs(_middle(x).tobytes())


@pytest.mark.parametrize(("src", "dst"), [(44100, 8000), (22050, 8000), (48000, 8000),
                                          (11025, 8000), (8000, 44100), (44101, 8000)])
def test_resample_arbitrary_ratios(src, dst):
    x = tone(1000, src, seconds=0.5)
    y = samples(resample(x.tobytes(), src, dst))
    assert len(y) == math.ceil(len(x) * dst / src)
    assert _peak_frequency(_middle(y), dst) == pytest.approx(1000, abs=dst / len(y) * 1.5)
    assert abs(level_dbfs(pcm(_middle(y))) - level_dbfs(_middle(x).tobytes())) < 0.1


def test_resample_alias_from_44k1():
    x = tone(10000, 44100, seconds=0.5)  # would alias to 2 kHz without filtering
    y = samples(resample(x.tobytes(), 44100, 8000))
    assert level_dbfs(pcm(_middle(y))) < level_dbfs(_middle(x).tobytes()) - 60


def test_resample_trivial_cases():
    x = tone(440, 8000, seconds=0.1).tobytes()
    assert resample(x, 8000, 8000) == x
    assert resample(b"", 8000, 16000) == b""
    assert len(resample(pcm([1000]), 8000, 16000)) == 4
    assert len(resample(pcm([1, 2, 3]), 16000, 8000)) == 4  # ceil(3 / 2) samples
    with pytest.raises(AudioError):
        resample(x, 0, 8000)
    with pytest.raises(AudioError):
        resample(x, 8000, -1)


def test_resample_full_scale_does_not_wrap():
    x = np.full(2000, 32767, dtype="<i2")
    x[1000:] = -32768  # a step overshoots (Gibbs) and has to clip
    y = samples(resample(x.tobytes(), 8000, 16000))
    assert np.all(y[:1995] > 0) and np.all(y[2005:] < 0)  # a wrap would flip signs
    assert y.max() == 32767 and y.min() == -32768


# ---------------------------------------------------------------- levels, frames


def test_level_dbfs():
    assert level_dbfs(tone(1000, 8000, amplitude=1.0).tobytes()) == pytest.approx(-3.01, abs=0.01)
    assert level_dbfs(tone(1000, 8000, amplitude=0.5).tobytes()) == pytest.approx(-9.03, abs=0.01)
    assert level_dbfs(pcm([-32768] * 10)) == pytest.approx(0.0)
    assert level_dbfs(bytes(FRAME_BYTES)) == float("-inf")
    assert level_dbfs(b"") == float("-inf")


def test_split_frames():
    assert split_frames(b"") == []
    frames = split_frames(bytes(range(200)) * 4)  # 800 bytes
    assert [len(f) for f in frames] == [320, 320, 320]
    assert b"".join(frames)[:800] == bytes(range(200)) * 4
    assert frames[-1][160:] == bytes(160)
    assert split_frames(bytes(640)) == [bytes(320)] * 2
    assert split_frames(b"\x01\x02\x03\x04", 2) == [b"\x01\x02", b"\x03\x04"]
    assert split_frames(b"\x01", 4) == [b"\x01\x00\x00\x00"]
    with pytest.raises(ValueError):
        split_frames(b"\x00", 0)


def test_duration_seconds():
    assert duration_seconds(bytes(16000)) == 1.0
    assert duration_seconds(bytes(16000), 16000) == 0.5
    assert duration_seconds(b"") == 0.0
    assert duration_seconds(bytes(FRAME_BYTES)) == pytest.approx(0.02)


# ---------------------------------------------------------------- files


def _stereo_tone(rate: int, seconds: float, freq: float = 1000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    left = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([left, left], axis=1)  # identical channels: level survives the mix


def _check_tone(data: bytes, seconds: float, level: float, freq: float = 1000):
    assert len(data) % 2 == 0
    assert duration_seconds(data) == pytest.approx(seconds, abs=0.001)
    y = samples(data)
    assert _peak_frequency(_middle(y), SAMPLE_RATE) == pytest.approx(freq, abs=5)
    assert level_dbfs(pcm(_middle(y))) == pytest.approx(level, abs=0.3)


def test_write_wav_round_trip(tmp_path):
    x = tone(1000, 8000, seconds=0.5).tobytes()
    path = tmp_path / "out.wav"
    write_wav(path, x)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert w.readframes(w.getnframes()) == x
    assert decode_file(path) == x
    write_wav(tmp_path / "wide.wav", resample(x, 8000, 16000), 16000)
    with wave.open(str(tmp_path / "wide.wav")) as w:
        assert w.getframerate() == 16000
    with pytest.raises(AudioError):
        write_wav(tmp_path / "odd.wav", b"\x00")


def test_decode_44k1_stereo_24bit(tmp_path):
    path = tmp_path / "stereo.wav"
    sf.write(path, _stereo_tone(44100, 1.5), 44100, subtype="PCM_24")
    _check_tone(decode_file(path), 1.5, -9.03)


def test_decode_stereo_is_averaged(tmp_path):
    data = _stereo_tone(8000, 0.5)
    data[:, 1] = 0.0  # right channel silent: the mix is half as loud
    path = tmp_path / "left_only.wav"
    sf.write(path, data, 8000, subtype="PCM_16")
    _check_tone(decode_file(path), 0.5, -9.03 - 6.02)


def test_decode_16k_float(tmp_path):
    path = tmp_path / "float.wav"
    sf.write(path, _stereo_tone(16000, 1.0)[:, 0], 16000, subtype="FLOAT")
    _check_tone(decode_file(path), 1.0, -9.03)


def test_decode_8k_ulaw_wav(tmp_path):
    path = tmp_path / "ulaw.wav"
    sf.write(path, _stereo_tone(8000, 1.0)[:, 0], 8000, subtype="ULAW")
    _check_tone(decode_file(path), 1.0, -9.03)


def test_decode_8k_pcm16_is_exact(tmp_path):
    x = tone(1000, 8000, seconds=0.3)
    path = tmp_path / "exact.wav"
    sf.write(path, x, 8000, subtype="PCM_16")
    assert decode_file(path) == x.tobytes()


def test_decode_flac(tmp_path):
    path = tmp_path / "tone.flac"
    sf.write(path, _stereo_tone(48000, 1.0), 48000, format="FLAC", subtype="PCM_16")
    _check_tone(decode_file(path), 1.0, -9.03)


@pytest.mark.parametrize(
    ("suffix", "fmt", "subtype"), [(".ogg", "OGG", "VORBIS"), (".mp3", "MP3", "MPEG_LAYER_III")]
)
def test_decode_lossy(tmp_path, suffix, fmt, subtype):
    if subtype not in sf.available_subtypes(fmt):
        pytest.skip(f"libsndfile cannot write {fmt}/{subtype}")
    path = tmp_path / f"tone{suffix}"
    sf.write(path, _stereo_tone(22050, 2.0), 22050, format=fmt, subtype=subtype)
    data = decode_file(path)
    # lossy codecs add encoder delay / padding, so be lenient with the length
    assert duration_seconds(data) == pytest.approx(2.0, abs=0.1)
    y = samples(data)
    assert _peak_frequency(_middle(y), SAMPLE_RATE) == pytest.approx(1000, abs=5)
    assert level_dbfs(pcm(_middle(y))) == pytest.approx(-9.03, abs=1.0)


def test_decode_garbage_names_file(tmp_path):
    path = tmp_path / "garbage.wav"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioError, match="garbage.wav"):
        decode_file(path)


def test_decode_text_file_names_file(tmp_path):
    path = tmp_path / "notes.ogg"
    path.write_text("this is not audio\n")
    with pytest.raises(AudioError, match="notes.ogg"):
        decode_file(path)


def test_decode_truncated_wav(tmp_path):
    good = tmp_path / "good.wav"
    write_wav(good, tone(1000, 8000).tobytes())
    bad = tmp_path / "truncated.wav"
    bad.write_bytes(good.read_bytes()[:30])  # header cut before the data chunk
    with pytest.raises(AudioError, match="truncated.wav"):
        decode_file(bad)


def test_decode_empty_wav(tmp_path):
    path = tmp_path / "empty.wav"
    write_wav(path, b"")
    with pytest.raises(AudioError, match="empty.wav.*no audio"):
        decode_file(path)


def test_decode_zero_byte_file(tmp_path):
    path = tmp_path / "zero.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match="zero.wav.*empty"):
        decode_file(path)


def test_decode_missing_file(tmp_path):
    with pytest.raises(AudioError, match="missing.wav.*not found"):
        decode_file(tmp_path / "missing.wav")
