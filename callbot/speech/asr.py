"""Speech recognition of caller turns with Vosk (Kaldi). The only module that imports vosk.

* :class:`SpeechModel` — the Vosk model, loaded once per process at start-up
  (loading takes seconds and hundreds of MB; every turn shares it).
* :class:`Transcriber` — hands out one :class:`TurnStream` per caller turn.
* :class:`TurnStream` — streaming recognition of one turn: ``feed()`` only
  appends audio (it never blocks the caller's audio thread); the
  transcriber's decoder threads decode it as it arrives, so when the caller
  stops talking only the last fraction of a second is left to decode.
  ``finish()`` returns a ``Future[Transcript]``.
* A bounded number of decoder threads (one per CPU core by default) serve
  all turns; a finished turn, whose words somebody waits for, goes
  before turns still being spoken (:class:`_DecoderPool`).
* :class:`ProcessTranscriber` — the same in a separate, lowest-priority
  process: what the bot uses, so decoding never stalls the calls' audio.

Audio is always callbot's internal format (16-bit mono PCM at 8 kHz); the
recognizer is told so and Vosk resamples to the model's rate itself (the
small Vosk models are 16 kHz models). The decoder cuts the audio into fixed
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
from typing import Callable

import vosk

from callbot.audio import SAMPLE_RATE, SAMPLE_WIDTH
from callbot.errors import CallbotError, ModelError, RecognitionError
from callbot.speech.models import INSTALL_HINT, layout_problems, looks_like_model

log = logging.getLogger(__name__)

vosk.SetLogLevel(-1)  # Kaldi's own INFO/LOG lines; its ERROR lines still reach stderr

#: Turns are decoded in pieces of this many bytes (100 ms at 8 kHz); a finished
#: turn can take over a decoder thread after at most one piece of another turn.
DECODE_CHUNK_BYTES = SAMPLE_RATE * SAMPLE_WIDTH // 10
#: Niceness of the decoder process (see :class:`ProcessTranscriber`).
DECODER_NICE = 10
#: The sender thread wakes at most this often (seconds); audio waits at most this long.
SEND_INTERVAL = 0.05
#: How long start-up waits for the decoder process to load the model.
DECODER_START_TIMEOUT = 300.0


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


class TranscriptFuture(Future):
    """``Future[Transcript]`` that tells the decoder when somebody waits for it.

    The first ``result()``/``exception()`` call on an unfinished transcript
    calls ``on_wait`` once: the turn becomes urgent and is decoded before
    turns nobody waits for. ``concurrent.futures.wait()`` and done-callbacks
    do not count (a background saver waiting for every turn should not
    overtake the caller the bot is deciding about).
    """

    def __init__(self, on_wait: Callable[[], None]):
        super().__init__()
        self._on_wait: Callable[[], None] | None = on_wait

    def result(self, timeout: float | None = None):
        self._waiting()
        return super().result(timeout)

    def exception(self, timeout: float | None = None):
        self._waiting()
        return super().exception(timeout)

    def _waiting(self) -> None:
        on_wait, self._on_wait = self._on_wait, None
        if on_wait is not None and not self.done():
            on_wait()


class TurnStream:
    """Streaming recognition of one caller turn, off the caller's audio thread.

    ``feed(pcm)`` never blocks: it appends the bytes to the turn's pending
    audio. The transcriber's decoder threads own the turn's
    ``KaldiRecognizer(model, 8000)`` (with word times) and decode it in 100 ms
    pieces as audio arrives. ``finish()`` -> ``Future[Transcript]``;
    ``cancel()`` drops the turn. Errors while decoding become the future's
    exception (:class:`ModelError`, :class:`RecognitionError`); they never
    raise into ``feed()``. Audio fed after ``finish()``/``cancel()`` or after a
    failure is ignored. Use as a context manager to cancel an unfinished turn.
    Create streams with :meth:`Transcriber.stream`.
    """

    def __init__(self, model: SpeechModel, pool: "_DecoderPool"):
        self.model = model
        self._pool = pool
        self._future = TranscriptFuture(on_wait=self.expedite)
        # Guarded by the pool's lock:
        self._pending = bytearray()
        self._fed = 0
        self._state = _OPEN
        self._finished_at = 0.0
        self._awaited_at: float | None = None  # somebody waits for the words
        self._busy = False  # a decoder thread is working on it
        # Only touched by the decoder thread holding ``_busy``:
        self._recognizer = None
        self._results: list[str] = []
        self._decode = 0.0
        self._retired = threading.Event()

    # -- caller side ------------------------------------------------------------
    def feed(self, pcm: bytes) -> None:
        """Append 16-bit mono 8 kHz PCM (any length); returns at once."""
        if pcm:
            self._pool.feed(self, pcm)

    def finish(self) -> TranscriptFuture:
        """No more audio: the future resolves to the turn's transcript (idempotent).

        A finished turn is decoded before turns the caller is still speaking,
        and one whose ``result()`` somebody waits for before all others.
        """
        self._pool.finish(self)
        return self._future

    def cancel(self) -> bool:
        """Drop the turn (caller hung up ...); True if its result will never be delivered."""
        self._pool.end(self)
        return self._future.cancel()

    def expedite(self) -> None:
        """Decode this turn before all turns nobody waits for (``result()`` does this itself)."""
        self._pool.expedite(self)

    @property
    def future(self) -> TranscriptFuture:
        return self._future

    def join(self, timeout: float | None = None) -> bool:
        """Wait until no decoder thread works on this turn any more; True if none does."""
        return self._retired.wait(timeout)

    def __enter__(self) -> "TurnStream":
        return self

    def __exit__(self, *exc) -> None:
        if not self._future.done() and self._state == _OPEN:
            self.cancel()

    # -- decoder side (one decoder thread at a time, see _DecoderPool) --------------
    def _decode_piece(self, piece: bytes | None) -> None:
        """Decode ``piece`` of audio, or (None) the end of the turn: deliver the transcript."""
        try:
            if self._recognizer is None:
                started = time.perf_counter()
                self._recognizer = self.model._recognizer()
                self._decode += time.perf_counter() - started
            started = time.perf_counter()
            if piece is not None:
                if len(piece) % SAMPLE_WIDTH:  # only the last piece of a turn can be short
                    raise RecognitionError(f"audio is not 16-bit PCM: {self._fed} bytes fed, an odd number")
                if self._recognizer.AcceptWaveform(piece):  # an utterance ended: keep its words
                    self._results.append(self._recognizer.Result())
                self._decode += time.perf_counter() - started
                return
            if not self._future.set_running_or_notify_cancel():
                return
            self._results.append(self._recognizer.FinalResult())
            self._decode += time.perf_counter() - started
            text, words = _parse(self._results)
            confidence = sum(w.confidence for w in words) / len(words) if words else None
            self._future.set_result(Transcript(
                text=text, words=words, confidence=confidence,
                audio_seconds=self._fed / (SAMPLE_RATE * SAMPLE_WIDTH), decode_seconds=self._decode,
            ))
        except CallbotError as exc:
            self._fail(exc)
        except Exception as exc:  # anything vosk or the parsing throws
            error = RecognitionError(f"speech recognition failed: {exc or type(exc).__name__}")
            error.__cause__ = exc
            self._fail(error)

    def _fail(self, exc: BaseException) -> None:
        self._pool.end(self)
        try:
            self._future.set_exception(exc)
        except InvalidStateError:  # cancelled or already resolved
            pass

    def _release(self) -> None:
        """The turn is over: free its recognizer (Kaldi memory) and wake join()."""
        self._recognizer = None
        self._results = []
        self._retired.set()


#: Turn states (TurnStream._state).
_OPEN, _FINISHED, _DONE = "open", "finished", "done"


def default_decoders() -> int:
    """Decoder threads by default: one per CPU core this process may use.

    Fewer leave cores idle while callers wait for their words; more only add
    context switches and cache thrashing next to the calls' audio (measured
    with bench/turn_bench.py on 2 cores and 8 talking callers: bot RTP p99
    20.3 ms with 2 decoder threads, 21.5-24 ms with one thread per turn).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, cores)


class _DecoderPool:
    """At most ``decoders`` turns decode at once, in 100 ms pieces.

    Which turn gets the next free decoder thread:

    1. a finished turn somebody waits for (``result()`` was called: the bot
       needs the words to decide), in the order the waits began;
    2. any other finished turn, in the order they finished;
    3. a turn still being spoken, the one with the most audio waiting.

    With more talking callers than the cores can follow, the backlog lands on
    turns nobody waits for yet, instead of delaying every caller's answer
    equally.
    """

    def __init__(self, decoders: int):
        if decoders < 1:
            raise ValueError(f"decoders must be at least 1, not {decoders}")
        self.decoders = decoders
        self._lock = threading.Condition()
        self._turns: list[TurnStream] = []  # not yet released
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"asr-decoder-{i + 1}", daemon=True) for i in range(decoders)
        ]
        for thread in self._threads:
            thread.start()

    # -- called by TurnStream / Transcriber ----------------------------------------
    def add(self, turn: TurnStream) -> None:
        with self._lock:
            if self._closed:
                raise RecognitionError("the transcriber is closed")
            self._turns.append(turn)

    def feed(self, turn: TurnStream, pcm: bytes) -> None:
        with self._lock:
            if turn._state is not _OPEN:
                return
            turn._pending += pcm
            turn._fed += len(pcm)
            if len(turn._pending) >= DECODE_CHUNK_BYTES:
                self._lock.notify()

    def finish(self, turn: TurnStream) -> None:
        with self._lock:
            if turn._state is _OPEN:
                turn._state = _FINISHED
                turn._finished_at = time.monotonic()
                self._lock.notify()

    def expedite(self, turn: TurnStream) -> None:
        with self._lock:
            if turn._awaited_at is None:
                turn._awaited_at = time.monotonic()
                self._lock.notify()

    def end(self, turn: TurnStream) -> None:
        """No more decoding for ``turn`` (cancelled or failed)."""
        with self._lock:
            self._end(turn)

    def active(self) -> int:
        with self._lock:
            return len(self._turns)

    def close(self, timeout: float) -> None:
        """Refuse new turns, cancel the unfinished ones, stop the threads (waits up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._closed = True
            turns = list(self._turns)
            self._lock.notify_all()
        for turn in turns:
            turn.cancel()
        for turn in turns:
            turn.join(max(0.0, deadline - time.monotonic()))
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- decoder threads -----------------------------------------------------------
    def _end(self, turn: TurnStream) -> None:
        """(lock held) No more decoding for ``turn``; release it unless a thread is on it."""
        turn._state = _DONE
        turn._pending = bytearray()
        if not turn._busy and turn in self._turns:
            self._turns.remove(turn)
            turn._release()

    def _next(self) -> tuple[TurnStream, bytes | None] | None:
        """(lock held) The most urgent piece of work: a turn and its next piece (None = the end)."""
        best, best_key = None, None
        for turn in self._turns:
            if turn._busy:
                continue
            if turn._state is _FINISHED:
                key = (0, turn._awaited_at) if turn._awaited_at is not None else (1, turn._finished_at)
            elif turn._state is _OPEN and len(turn._pending) >= DECODE_CHUNK_BYTES:
                key = (2, -len(turn._pending))
            else:
                continue
            if best_key is None or key < best_key:
                best, best_key = turn, key
        if best is None:
            return None
        size = min(len(best._pending), DECODE_CHUNK_BYTES)
        piece = bytes(best._pending[:size]) if size else None
        del best._pending[:size]
        return best, piece

    def _work(self) -> None:
        while True:
            with self._lock:
                job = self._next()
                while job is None:
                    if self._closed:
                        return
                    self._lock.wait()
                    job = self._next()
                turn, piece = job
                turn._busy = True
            turn._decode_piece(piece)
            with self._lock:
                turn._busy = False
                if piece is None and turn._state is not _DONE:
                    turn._state = _DONE  # the end was decoded (or the future was cancelled)
                if turn._state is _DONE:
                    self._end(turn)
                else:
                    self._lock.notify()  # this turn may have more work for another thread


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
    """Speech-to-text for caller turns; shares one :class:`SpeechModel` between all of them.

    ``decoders`` threads (default :func:`default_decoders`) decode all turns;
    see :class:`_DecoderPool` for which turn goes first.
    """

    def __init__(self, model: SpeechModel, *, decoders: int | None = None):
        self.model = model
        self._pool = _DecoderPool(decoders or default_decoders())

    @property
    def decoders(self) -> int:
        return self._pool.decoders

    def stream(self) -> TurnStream:
        """A new turn (its recognizer is created by the decoder thread that first decodes it)."""
        turn = TurnStream(self.model, self._pool)
        self._pool.add(turn)
        return turn

    def active(self) -> int:
        """Turns not yet delivered, failed or cancelled (or still being wound down)."""
        return self._pool.active()

    def close(self, timeout: float = 5.0) -> None:
        """Cancel unfinished turns and wait (up to ``timeout``) for the decoder threads."""
        self._pool.close(timeout)


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

    def __init__(self, model_path: Path, *, decoders: int | None = None, nice: int = DECODER_NICE,
                 start_timeout: float = DECODER_START_TIMEOUT):
        path = Path(model_path).expanduser()
        if not path.is_dir() or layout_problems(path):
            SpeechModel.load(path)  # raises the precise ModelError, without starting a process
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_decoder_main, args=(str(path), child, nice, decoders), name="callbot-asr", daemon=True)
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
        self.name = detail["name"]
        #: Decoder threads in the decoder process (turns decoded at once).
        self.decoders: int = detail["decoders"]
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
            future = TranscriptFuture(on_wait=lambda: self._outbox.put(("urgent", stream_id)))
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

    def __init__(self, owner: ProcessTranscriber, stream_id: int, future: TranscriptFuture):
        self._owner = owner
        self._id = stream_id
        self._future = future
        self._finished = False

    @property
    def future(self) -> TranscriptFuture:
        return self._future

    def feed(self, pcm: bytes) -> None:
        if pcm and not self._finished and not self._future.done():
            self._owner._outbox.put(("audio", self._id, bytes(pcm)))

    def finish(self) -> TranscriptFuture:
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


def _decoder_main(model_path: str, conn, nice: int, decoders: int | None = None) -> None:
    """Entry point of the decoder process: load the model once, serve turns until told to stop."""
    _lower_priority(nice)
    try:
        model = SpeechModel.load(Path(model_path))
    except ModelError as exc:
        conn.send(("error", str(exc)))
        return
    transcriber = Transcriber(model, decoders=decoders)
    streams: dict[int, TurnStream] = {}
    send_lock = threading.Lock()

    def deliver(stream_id: int, future: Future) -> None:
        streams.pop(stream_id, None)
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
        conn.send(("ready", {"name": model.name, "decoders": transcriber.decoders}))
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
                stream = streams[stream_id] = transcriber.stream()
                stream.future.add_done_callback(lambda f, sid=stream_id: deliver(sid, f))
                continue
            stream = streams.get(stream_id)  # (deliver() drops a turn from a decoder thread)
            if stream is None:
                continue
            if kind == "audio":
                stream.feed(message[2])
            elif kind == "end":
                stream.finish()
            elif kind == "urgent":
                stream.expedite()
            elif kind == "cancel":
                streams.pop(stream_id, None)
                stream.cancel()
    transcriber.close()
