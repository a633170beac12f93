"""What an uploaded prompt recording may be, checked from its header before any decoding.

Decoding resamples to 8 kHz, so a file's header decides the cost: a WAV that claims a
sample rate of 1 Hz makes 8000 output samples of every input sample (a 1 MB file
would become tens of GiB), a long or high-rate file takes seconds of CPU per minute.
So :func:`check_recording` reads only the header (libsndfile's ``info``; for WAV also
the RIFF chunk sizes) and refuses, with a message for the page:

* a sample rate outside 8 000 - 192 000 Hz (:data:`MIN_RATE`, :data:`MAX_RATE`),
* more than 120 s of audio (:data:`MAX_SECONDS`) or more than 8 channels,
* more decoded data than :data:`MAX_DECODED_BYTES` (what decoding holds in memory),
* a WAV whose header claims more audio than the file holds (damaged, or not finished).

The size of the upload itself is capped before this (``MAX_UPLOAD``, and the request
body limit of :class:`~callbot.web.middleware.BodyLimitMiddleware`, 413). Decoding then
runs in a worker thread (:func:`callbot.web.views.prompts.prompt_upload`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

MIN_RATE = 8_000
MAX_RATE = 192_000
MAX_SECONDS = 120.0
MAX_CHANNELS = 8
MAX_DECODED_BYTES = 128 * 1024 * 1024  # float64 samples of all channels, as decoding holds them
_MAX_CHUNKS = 64


class RecordingRefused(Exception):
    """The upload is no usable prompt recording; the message says why (for the page).
    ``status``: 400 for a file outside the bounds, None for one that is no audio at all."""

    def __init__(self, message: str, status: int | None = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class AudioHeader:
    rate: int
    channels: int
    frames: int
    format: str

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


def _wav_data_claim(path: Path) -> tuple[int, int] | None:
    """``(claimed, available)`` bytes of a RIFF WAV's data chunk; None when the file is no
    plain RIFF WAV (RF64, damaged ...: left to libsndfile)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        offset = 12
        for _ in range(_MAX_CHUNKS):
            f.seek(offset)
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"data":
                return length, size - offset - 8
            offset += 8 + length + (length & 1)
            if offset >= size:
                return None
    return None


def check_recording(path: Path, shown: str) -> AudioHeader:
    """The header of the audio file ``path`` (shown to the user as ``shown``), if it is a
    usable prompt recording; else :class:`RecordingRefused`."""
    import soundfile  # only the upload needs libsndfile here

    claim = _wav_data_claim(path)
    if claim is not None and claim[0] > claim[1] + 1:
        raise RecordingRefused(
            f"{shown}: the WAV header says it holds {claim[0]:,} bytes of audio but the file has only "
            f"{max(0, claim[1]):,} — the file is damaged or was not finished; export it again")
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as exc:
        reason = str(exc).strip().removeprefix(f"Error opening {str(path)!r}: ") or type(exc).__name__
        if "does not exist" in reason:  # libsndfile's words for unparseable MP3 data
            reason = "unrecognised format or corrupt data"
        raise RecordingRefused(f"{shown}: not a readable audio file ({reason})", status=None) from None
    header = AudioHeader(int(info.samplerate), int(info.channels), int(info.frames), str(info.format))
    if not MIN_RATE <= header.rate <= MAX_RATE:
        raise RecordingRefused(
            f"{shown}: the sample rate is {header.rate:,} Hz; a recording needs {MIN_RATE:,} to {MAX_RATE:,} Hz "
            f"— export it again at e.g. 16,000 or 44,100 Hz")
    if not 1 <= header.channels <= MAX_CHANNELS:
        raise RecordingRefused(f"{shown}: {header.channels} channels; a recording may have 1 to {MAX_CHANNELS}")
    if header.frames <= 0:
        raise RecordingRefused(f"{shown}: contains no audio samples", status=None)
    if header.seconds > MAX_SECONDS:
        raise RecordingRefused(
            f"{shown}: the recording is {_duration(header.seconds)} long; a prompt may be at most "
            f"{MAX_SECONDS:.0f} s — shorten it")
    if header.frames * header.channels * 8 > MAX_DECODED_BYTES:
        raise RecordingRefused(
            f"{shown}: too much audio to convert ({header.channels} channels at {header.rate:,} Hz for "
            f"{header.seconds:.0f} s) — export it as mono, or at a lower sample rate")
    return header


def _duration(seconds: float) -> str:
    if seconds < 600:
        return f"{seconds:.0f} s"
    if seconds < 48 * 3600:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 86400:,.0f} days"
