"""Speech recognition of caller turns with Vosk (Kaldi). The only module that imports vosk.

* :class:`SpeechModel` — the Vosk model, loaded once per process at start-up
  (loading takes seconds and hundreds of MB; every turn shares it).
* :class:`Transcriber` — hands out one :class:`TurnStream` per caller turn.
* :class:`TurnStream` — streaming recognition of one turn: ``feed()`` only
  queues audio (it never blocks the caller's audio thread); a worker thread
  owns the turn's ``KaldiRecognizer`` and decodes as audio arrives, so when
  the caller stops talking only the last fraction of a second is left to
  decode. ``finish()`` returns a ``Future[Transcript]``.

Audio is always callbot's internal format (16-bit mono PCM at 8 kHz); the
recognizer is told so and Vosk resamples to the model's rate itself (the
small Vosk models are 16 kHz models). The worker cuts the audio into fixed
100 ms pieces before decoding, so the result depends only on the audio, not on
how it was fed (Kaldi's online decoding otherwise varies slightly with the
chunking). Vosk's JSON never leaves this module.
"""

from __future__ import annotations

import itertools
import json
import logging
import multiprocessing
import os
import queue
import threading
import time
from concurrent.futures import Future, InvalidStateError
from dataclasses import asdict, dataclass
from pathlib import Path

import vosk

from callbot.audio import SAMPLE_RATE, SAMPLE_WIDTH
from callbot.errors import CallbotError, ModelError, RecognitionError
from callbot.models import INSTALL_HINT, layout_problems, looks_like_model

log = logging.getLogger(__name__)

vosk.SetLogLevel(-1)  # Kaldi's own INFO/LOG lines; its ERROR lines still reach stderr

#: The worker decodes in pieces of this many bytes (100 ms at 8 kHz).
DECODE_CHUNK_BYTES = SAMPLE_RATE * SAMPLE_WIDTH // 10
#: Niceness of the decoder process (see :class:`ProcessTranscriber`).
DECODER_NICE = 10
#: The sender thread wakes at most this often (seconds); audio waits at most this long.
SEND_INTERVAL = 0.05
#: How long start-up waits for the decoder process to load the model.
DECODER_START_TIMEOUT = 300.0

_END = object()
_CANCEL = object()


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # seconds from the start of the turn's audio
    end: float
    confidence: float  # Vosk's word posterior, 0..1


@dataclass(frozen=True)
class Transcript:
    text: str  # words separated by single spaces; "" when nothing was recognised
    words: tuple[Word, ...]
    confidence: float | None  # mean word confidence; None when there are no words
    audio_seconds: float  # audio fed
    decode_seconds: float  # wall time spent inside the recognizer (creation included)

    @property
    def real_time_factor(self) -> float | None:
        """decode_seconds / audio_seconds (below 1 = faster than real time)."""
        return self.decode_seconds / self.audio_seconds if self.audio_seconds else None


class SpeechModel:
    """One vosk.Model per process, loaded once at start-up (never per call).

    :meth:`load` keeps the loaded model for the life of the process: loading
    the same directory again returns the same instance.
    """

    _loaded: dict[Path, "SpeechModel"] = {}
    _load_lock = threading.Lock()

    def __init__(self, path: Path, model: "vosk.Model"):  # use SpeechModel.load()
        self.path = path
        self.name = path.name
        self._model = model

    def __repr__(self) -> str:
        return f"SpeechModel({str(self.path)!r})"

    @classmethod
    def load(cls, path: Path) -> "SpeechModel":
        """Load the Vosk model in directory ``path``; raises :class:`ModelError`."""
        path = Path(path).expanduser()
        if not path.exists():
            raise ModelError(f"no speech model at {path}: the directory does not exist — {INSTALL_HINT}")
        if not path.is_dir():
            raise ModelError(f"speech model path {path} is a file, not a model directory — {INSTALL_HINT}")
        path = path.resolve()
        with cls._load_lock:
            if path in cls._loaded:
                return cls._loaded[path]
            problems = layout_problems(path)
            if problems:
                inner = [p for p in sorted(path.iterdir()) if p.is_dir() and looks_like_model(p)]
                hint = f"did you mean {inner[0]}? " if len(inner) == 1 else ""
                raise ModelError(
                    f"{path} is not a Vosk model ({'; '.join(problems)}) — {hint}point the configuration at the "
                    f"folder that holds am/ and conf/, or {INSTALL_HINT}"
                )
            started = time.perf_counter()
            try:
                model = vosk.Model(str(path))
            except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
                raise ModelError(
                    f"Vosk could not load the model in {path} ({exc}): its files are damaged, incomplete or not "
                    f"for this Vosk version — reinstall it: {INSTALL_HINT}"
                ) from exc
            log.info("loaded speech model %s in %.1f s", path, time.perf_counter() - started)
            loaded = cls._loaded[path] = cls(path, model)
            return loaded

    def _recognizer(self) -> "vosk.KaldiRecognizer":
        try:
            recognizer = vosk.KaldiRecognizer(self._model, SAMPLE_RATE)
        except Exception as exc:
            raise ModelError(f"Vosk could not create a recognizer for the model in {self.path} ({exc})") from exc
        recognizer.SetWords(True)
        return recognizer


def _parse(results: list[str]) -> tuple[str, tuple[Word, ...]]:
    """Vosk result JSON documents (one per utterance) -> text and words."""
    texts: list[str] = []
    words: list[Word] = []
    for raw in results:
        try:
            doc = json.loads(raw)
            text = str(doc.get("text", "")).strip()
            for item in doc.get("result", ()):
                words.append(Word(
                    text=str(item["word"]), start=float(item["start"]), end=float(item["end"]),
                    confidence=min(1.0, max(0.0, float(item.get("conf", 0.0)))),
                ))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise RecognitionError(f"unexpected result from Vosk ({exc}): {raw[:200]!r}") from exc
        if text:
            texts.append(text)
    return " ".join(" ".join(texts).split()), tuple(words)


class TurnStream:
    """Streaming recognition of one caller turn, off the caller's audio thread.

    ``feed(pcm)`` never blocks: it puts the bytes on a queue. A worker thread
    owns one ``KaldiRecognizer(model, 8000)`` (with word times) and decodes as
    audio arrives. ``finish()`` -> ``Future[Transcript]``; ``cancel()`` drops
    the turn. Errors in the worker become the future's exception
    (:class:`ModelError`, :class:`RecognitionError`); they never raise into
    ``feed()``. Audio fed after ``finish()``/``cancel()`` or after a failure
    is ignored. Use as a context manager to cancel an unfinished turn.
    """

    def __init__(self, model: SpeechModel, *, _on_exit=None):
        self.model = model
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._future: Future = Future()
        self._accepting = True
        self._cancelled = False
        self._lock = threading.Lock()
        self._on_exit = _on_exit
        self._thread = threading.Thread(target=self._run, name="asr-turn", daemon=True)
        self._thread.start()

    # -- caller side ------------------------------------------------------------
    def feed(self, pcm: bytes) -> None:
        """Queue 16-bit mono 8 kHz PCM (any length); returns at once."""
        if self._accepting and pcm:
            self._queue.put(bytes(pcm))

    def finish(self) -> "Future[Transcript]":
        """No more audio: the future resolves to the turn's transcript (idempotent)."""
        with self._lock:
            if self._accepting:
                self._accepting = False
                self._queue.put(_END)
        return self._future

    def cancel(self) -> bool:
        """Drop the turn (caller hung up ...); True if its result will never be delivered."""
        with self._lock:
            self._accepting = False
            self._cancelled = True
            self._queue.put(_CANCEL)
        return self._future.cancel()

    @property
    def future(self) -> "Future[Transcript]":
        return self._future

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker thread to end; True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def __enter__(self) -> "TurnStream":
        return self

    def __exit__(self, *exc) -> None:
        if not self._future.done():
            with self._lock:
                finished = not self._accepting and not self._cancelled
            if not finished:
                self.cancel()

    # -- worker -----------------------------------------------------------------
    def _run(self) -> None:
        recognizer = None
        try:
            started = time.perf_counter()
            recognizer = self.model._recognizer()
            decode = time.perf_counter() - started
            results: list[str] = []
            pending = bytearray()
            fed = 0
            while True:
                item = self._queue.get()
                if item is _CANCEL or self._cancelled:
                    return
                last = item is _END
                if not last:
                    pending += item
                    fed += len(item)
                while len(pending) >= DECODE_CHUNK_BYTES or (last and pending):
                    if self._cancelled:
                        return
                    size = min(len(pending), DECODE_CHUNK_BYTES)
                    if last and size % SAMPLE_WIDTH:
                        raise RecognitionError(
                            f"audio is not 16-bit PCM: {fed} bytes fed, an odd number")
                    chunk = bytes(pending[:size])
                    del pending[:size]
                    t = time.perf_counter()
                    if recognizer.AcceptWaveform(chunk):  # an utterance ended: keep its words
                        results.append(recognizer.Result())
                    decode += time.perf_counter() - t
                if last:
                    break
            if not self._future.set_running_or_notify_cancel():
                return
            t = time.perf_counter()
            results.append(recognizer.FinalResult())
            decode += time.perf_counter() - t
            text, words = _parse(results)
            confidence = sum(w.confidence for w in words) / len(words) if words else None
            self._future.set_result(Transcript(
                text=text, words=words, confidence=confidence,
                audio_seconds=fed / (SAMPLE_RATE * SAMPLE_WIDTH), decode_seconds=decode,
            ))
        except CallbotError as exc:
            self._fail(exc)
        except Exception as exc:  # anything vosk or the parsing throws
            error = RecognitionError(f"speech recognition failed: {exc or type(exc).__name__}")
            error.__cause__ = exc
            self._fail(error)
        finally:
            self._accepting = False
            del recognizer  # freed on the worker thread that used it
            if self._on_exit:
                self._on_exit(self)

    def _fail(self, exc: BaseException) -> None:
        self._accepting = False
        try:
            self._future.set_exception(exc)
        except InvalidStateError:  # cancelled or already resolved
            pass


class _Transcribing:
    """What every transcriber offers on top of ``stream()`` and ``close()``."""

    def transcribe(self, pcm: bytes) -> "Future[Transcript]":
        """Recognise a whole recording: stream + feed all + finish."""
        turn = self.stream()
        turn.feed(pcm)
        return turn.finish()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Transcriber(_Transcribing):
    """Speech-to-text for caller turns; shares one :class:`SpeechModel` between all of them."""

    def __init__(self, model: SpeechModel):
        self.model = model
        self._streams: set[TurnStream] = set()
        self._lock = threading.Lock()
        self._closed = False

    def stream(self) -> TurnStream:
        """A new turn with its own recognizer (created on the turn's worker thread)."""
        with self._lock:
            if self._closed:
                raise RecognitionError("the transcriber is closed")
            turn = TurnStream(self.model, _on_exit=self._forget)
            self._streams.add(turn)  # (_forget waits for this lock, so it runs after the add)
            return turn

    def active(self) -> int:
        """Turns whose worker is still running."""
        with self._lock:
            return len(self._streams)

    def close(self, timeout: float = 5.0) -> None:
        """Cancel unfinished turns and wait (up to ``timeout``) for their workers."""
        with self._lock:
            self._closed = True
            streams = list(self._streams)
        for turn in streams:
            turn.cancel()
        deadline = time.monotonic() + timeout
        for turn in streams:
            turn.join(max(0.0, deadline - time.monotonic()))

    def _forget(self, turn: TurnStream) -> None:
        with self._lock:
            self._streams.discard(turn)



# -- recognition in its own process -------------------------------------------------


class ProcessTranscriber(_Transcribing):
    """A :class:`Transcriber` running in a separate decoder process.

    Kaldi decodes without the GIL, but every decoder thread still runs Python
    between chunks; on a busy machine a preempted decoder thread holding the
    GIL stalls the threads that pace the calls' RTP (measured: p99 packet
    interval 30–43 ms with 8 streams decoding in-process, 20.1 ms without).
    In its own process, at the lowest priority (SCHED_IDLE on Linux, else
    nice +10), decoding can only take CPU time the audio does not need. The model is loaded once, in that
    process, at start-up; a missing or broken model is a :class:`ModelError`
    here. ``stream()`` has the same interface as :meth:`Transcriber.stream`.
    """

    def __init__(self, model_path: Path, *, nice: int = DECODER_NICE,
                 start_timeout: float = DECODER_START_TIMEOUT):
        path = Path(model_path).expanduser()
        if not path.is_dir() or layout_problems(path):
            SpeechModel.load(path)  # raises the precise ModelError, without starting a process
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_decoder_main, args=(str(path), child, nice), name="callbot-asr", daemon=True)
        self._process.start()
        child.close()
        if not self._conn.poll(start_timeout):
            self._process.kill()
            raise ModelError(f"the speech model {path} did not load within {start_timeout:.0f} s")
        try:
            kind, detail = self._conn.recv()
        except EOFError:
            raise ModelError(f"the speech recognizer process died while loading {path}") from None
        if kind != "ready":
            self._process.join(5)
            raise ModelError(detail)
        self.name = detail
        self._ids = itertools.count(1)
        self._futures: dict[int, Future] = {}
        self._lock = threading.Lock()
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._sender = threading.Thread(target=self._send_loop, name="callbot-asr-send", daemon=True)
        self._receiver = threading.Thread(target=self._receive_loop, name="callbot-asr-recv", daemon=True)
        self._sender.start()
        self._receiver.start()

    def stream(self) -> "RemoteTurnStream":
        with self._lock:
            if self._closed:
                raise RecognitionError("the transcriber is closed")
            stream_id = next(self._ids)
            future: Future = Future()
            self._futures[stream_id] = future
        self._outbox.put(("open", stream_id))
        return RemoteTurnStream(self, stream_id, future)

    def active(self) -> int:
        with self._lock:
            return len(self._futures)

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._outbox.put(("stop",))
        self._outbox.put(None)
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout)
        self._fail_all(RecognitionError("the transcriber was closed"))


    # -- plumbing ---------------------------------------------------------------------
    def _send_loop(self) -> None:
        """The only writer of the pipe; callers of feed() only enqueue (never block).

        Whatever queued up meanwhile goes as one batch: one pickle and one
        write per wake-up instead of one per 20 ms frame and call.
        """
        while True:
            batch = [self._outbox.get()]
            while len(batch) < 256:
                try:
                    batch.append(self._outbox.get_nowait())
                except queue.Empty:
                    break
            stop = None in batch
            batch = [m for m in batch if m is not None]
            try:
                if batch:
                    self._conn.send(batch)
            except (OSError, ValueError) as exc:
                self._fail_all(RecognitionError(f"the speech recognizer process is gone: {exc}"))
                return
            if stop:
                return
            time.sleep(SEND_INTERVAL)

    def _receive_loop(self) -> None:
        while True:
            try:
                kind, stream_id, payload = self._conn.recv()
            except (EOFError, OSError):
                self._fail_all(RecognitionError("the speech recognizer process stopped"))
                return
            with self._lock:
                future = self._futures.pop(stream_id, None)
            if future is None or future.cancelled():
                continue
            try:
                if kind == "result":
                    words = tuple(Word(**w) for w in payload.pop("words"))
                    future.set_result(Transcript(words=words, **payload))
                else:
                    future.set_exception(RecognitionError(payload))
            except InvalidStateError:
                pass

    def _fail_all(self, error: RecognitionError) -> None:
        with self._lock:
            futures, self._futures = list(self._futures.values()), {}
        for future in futures:
            try:
                future.set_exception(error)
            except InvalidStateError:
                pass

    def _forget(self, stream_id: int) -> None:
        with self._lock:
            self._futures.pop(stream_id, None)


class RemoteTurnStream:
    """One caller turn recognised in the decoder process (see :class:`TurnStream`)."""

    def __init__(self, owner: ProcessTranscriber, stream_id: int, future: Future):
        self._owner = owner
        self._id = stream_id
        self._future = future
        self._finished = False

    @property
    def future(self) -> "Future[Transcript]":
        return self._future

    def feed(self, pcm: bytes) -> None:
        if pcm and not self._finished and not self._future.done():
            self._owner._outbox.put(("audio", self._id, bytes(pcm)))

    def finish(self) -> "Future[Transcript]":
        if not self._finished:
            self._finished = True
            self._owner._outbox.put(("end", self._id))
        return self._future

    def cancel(self) -> bool:
        self._finished = True
        self._owner._outbox.put(("cancel", self._id))
        self._owner._forget(self._id)
        return self._future.cancel()


def _lower_priority(nice: int) -> None:
    """Run this process (and the threads it starts) only on CPU time audio does not need.

    Linux: SCHED_IDLE (threads inherit it); elsewhere, or if refused, nice +``nice``.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return
    except (AttributeError, OSError):  # pragma: no cover - platform dependent
        pass
    try:
        os.nice(nice)
    except OSError:  # pragma: no cover - not permitted: decode at normal priority
        pass


def _decoder_main(model_path: str, conn, nice: int) -> None:
    """Entry point of the decoder process: load the model once, serve turns until told to stop."""
    _lower_priority(nice)
    try:
        model = SpeechModel.load(Path(model_path))
    except ModelError as exc:
        conn.send(("error", str(exc)))
        return
    transcriber = Transcriber(model)
    streams: dict[int, TurnStream] = {}
    send_lock = threading.Lock()

    def deliver(stream_id: int, future: Future) -> None:
        if future.cancelled():
            return
        error = future.exception()
        message = ("error", stream_id, str(error)) if error else ("result", stream_id, asdict(future.result()))
        with send_lock:
            try:
                conn.send(message)
            except (OSError, ValueError):
                pass

    with send_lock:
        conn.send(("ready", model.name))
    running = True
    while running:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            break
        for message in batch:
            kind = message[0]
            if kind == "stop":
                running = False
                break
            stream_id = message[1]
            if kind == "open":
                stream = transcriber.stream()
                streams[stream_id] = stream
                stream.future.add_done_callback(lambda f, sid=stream_id: deliver(sid, f))
            elif kind == "audio" and stream_id in streams:
                streams[stream_id].feed(message[2])
            elif kind == "end" and stream_id in streams:
                streams.pop(stream_id).finish()
            elif kind == "cancel" and stream_id in streams:
                streams.pop(stream_id).cancel()
    transcriber.close()
