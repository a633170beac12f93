"""Speech recognition in its own, lowest-priority process: what the bot uses.

* :class:`ProcessTranscriber` — a :class:`~callbot.speech.recognizer.Transcriber`
  running in a separate decoder process, so decoding never stalls the calls' audio.
* :class:`RemoteRecognizerStream` — one caller turn recognised there (the call
  layer's ``TurnStream``): ``feed()`` only enqueues, one sender thread writes
  the pipe in batches, one receiver thread resolves the futures.
* :func:`_decoder_main` — the decoder process itself: loads the model once and
  serves turns with an in-process :class:`~callbot.speech.recognizer.Transcriber`.

Stopping: the decoder process ignores SIGINT and SIGTERM (Ctrl-C in a terminal and
systemd signal the whole process group or cgroup, and a decoder killed first loses
the turns in progress). Only the bot ends it: :meth:`ProcessTranscriber.drain`
waits for the turns handed over, then :meth:`ProcessTranscriber.close`. If the
bot itself dies, the pipe closes and the decoder process exits on its own.

Everything that needs vosk goes through :mod:`callbot.speech.recognizer`; what
crosses the pipe is plain data (stream ids, PCM bytes, a transcript as a dict).
The bot sends batches (lists) of messages: ``("open", id, rate)`` (a new turn whose
audio is 16-bit PCM at ``rate`` Hz), ``("audio", id, pcm)``, ``("end", id)``,
``("urgent", id)``, ``("cancel", id)`` and ``("stop",)``; the decoder process answers
``("ready", info)`` once, then ``("result", id, transcript)`` or ``("error", id, message)``
per turn.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from concurrent.futures import Future, InvalidStateError
from dataclasses import asdict
from pathlib import Path

from callbot.audio import SAMPLE_RATE
from callbot.errors import CallbotError, ModelError, RecognitionError
from callbot.speech.decoders import check_rate
from callbot.speech.models import layout_problems
from callbot.speech.recognizer import RecognizerStream, SpeechModel, Transcriber, TranscriberBase
from callbot.speech.transcripts import Transcript, TranscriptFuture, Word

log = logging.getLogger("callbot.speech")

#: Signals only the bot's own orderly stop answers (the decoder process ignores them).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: How often :meth:`ProcessTranscriber.drain` looks whether the turns are done (seconds).
DRAIN_POLL = 0.05
#: Niceness of the decoder process (see :class:`ProcessTranscriber`).
DECODER_NICE = 10
#: The sender thread wakes at most this often (seconds); audio waits at most this long.
SEND_INTERVAL = 0.05
#: How long start-up waits for the decoder process to load the model.
DECODER_START_TIMEOUT = 300.0


class ProcessTranscriber(TranscriberBase):
    """A :class:`Transcriber` running in a separate decoder process.

    Kaldi decodes without the GIL, but every decoder thread still runs Python
    between chunks; on a busy machine a preempted decoder thread holding the
    GIL stalls the threads that pace the calls' RTP (measured: p99 packet
    interval 30–43 ms with 8 streams decoding in-process, 20.1 ms without).
    In its own process, at the lowest priority (SCHED_IDLE on Linux, else
    nice +10), decoding can only take CPU time the audio does not need. The model is loaded once, in that
    process, at start-up; a missing or broken model is a :class:`ModelError`
    here. ``stream(rate)`` has the same interface as :meth:`Transcriber.stream`: the
    rate goes to the decoder process with the new turn.
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
        # Blocked from its first instruction on (the mask survives fork and exec): a Ctrl-C
        # while Python starts up in the child cannot kill it before _decoder_main ignores it.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            self._process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
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

    def stream(self, rate: int = SAMPLE_RATE) -> "RemoteRecognizerStream":
        """A new turn whose audio is 16-bit mono PCM at ``rate`` Hz (8000 or 16000;
        :class:`~callbot.errors.AudioError` for any other, before anything is sent)."""
        rate = check_rate(rate)
        with self._lock:
            if self._closed:
                raise RecognitionError("the transcriber is closed")
            stream_id = next(self._ids)
            future = TranscriptFuture(on_wait=lambda: self._outbox.put(("urgent", stream_id)))
            self._futures[stream_id] = future
        self._outbox.put(("open", stream_id, rate))
        return RemoteRecognizerStream(self, stream_id, future, rate)

    def active(self) -> int:
        with self._lock:
            return len(self._futures)

    @property
    def pid(self) -> int | None:
        """The decoder process's id."""
        return self._process.pid

    def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` s until every turn handed to the decoder process has its
        result (or failed, or was cancelled); returns how many are still pending.

        The bot's orderly stop calls it after the calls ended, before :meth:`close`.
        """
        deadline = time.monotonic() + timeout
        pending = self.active()
        if pending:
            log.info("waiting up to %.0f s for %d transcription(s) in progress", timeout, pending)
        while pending and time.monotonic() < deadline and self._process.is_alive():
            time.sleep(DRAIN_POLL)
            pending = self.active()
        if pending:
            log.warning("%d transcription(s) not finished after %.0f s: given up", pending, timeout)
        return pending

    def close(self, timeout: float = 5.0) -> None:
        """Stop the decoder process (turns not yet delivered fail); waits up to ``timeout``,
        then kills it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._outbox.put(("stop",))
        self._outbox.put(None)
        self._process.join(timeout)
        if self._process.is_alive():
            log.warning("the speech decoder process did not stop within %.0f s: killed", timeout)
            self._process.kill()
            self._process.join(timeout)
        log.info("speech decoder process %s stopped (exit code %s)", self._process.pid, self._process.exitcode)
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


class RemoteRecognizerStream:
    """One caller turn recognised in the decoder process (see :class:`~callbot.speech.recognizer.RecognizerStream`)."""

    def __init__(self, owner: ProcessTranscriber, stream_id: int, future: TranscriptFuture,
                 rate: int = SAMPLE_RATE):
        self._owner = owner
        self._id = stream_id
        #: The turn's sample rate (Hz), as the decoder process was told.
        self.rate = rate
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


def _ignore_stop_signals() -> None:
    """SIGINT/SIGTERM reach the whole process group (Ctrl-C) or cgroup (systemd): ignore them
    here; the bot stops this process itself once the turns in progress are transcribed."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # (pending ones are dropped: ignored)


def _decoder_main(model_path: str, conn, nice: int, decoders: int | None = None) -> None:
    """Entry point of the decoder process: load the model once, serve turns until told to stop."""
    _ignore_stop_signals()
    _lower_priority(nice)
    try:
        model = SpeechModel.load(Path(model_path))
    except ModelError as exc:
        conn.send(("error", str(exc)))
        return
    transcriber = Transcriber(model, decoders=decoders)
    streams: dict[int, RecognizerStream] = {}
    send_lock = threading.Lock()

    def reply(message: tuple) -> None:
        with send_lock:
            try:
                conn.send(message)
            except (OSError, ValueError):
                pass

    def deliver(stream_id: int, future: Future) -> None:
        streams.pop(stream_id, None)
        if future.cancelled():
            return
        error = future.exception()
        reply(("error", stream_id, str(error)) if error else ("result", stream_id, asdict(future.result())))

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
                try:
                    stream = transcriber.stream(message[2] if len(message) > 2 else SAMPLE_RATE)
                except CallbotError as exc:  # a bad rate: that turn fails, the others go on
                    reply(("error", stream_id, str(exc)))
                    continue
                streams[stream_id] = stream
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
