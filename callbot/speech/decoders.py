"""The bounded pool of decoder threads, and which turn it decodes next.

A bounded number of decoder threads (one per CPU core by default,
:func:`default_decoders`) serve all turns of a transcriber; a finished turn,
whose words somebody waits for, goes before turns still being spoken
(:class:`DecoderPool`). Turns are decoded in fixed 100 ms pieces (at the turn's
own sample rate, :func:`decode_chunk_bytes`), so the result depends only on the
audio, not on how it was fed (Kaldi's online decoding otherwise varies slightly
with the chunking).

:class:`PooledTurn` is one turn as the pool sees it: the audio waiting to be
decoded, its state and its place in the queue, and the caller's side of it
(``feed``/``finish``/``cancel``). What decoding a piece means is left to a
subclass (:class:`callbot.speech.recognizer.RecognizerStream`, the vosk one);
this module never imports vosk.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import InvalidStateError
from numbers import Integral

from callbot.audio import RATES, SAMPLE_RATE, SAMPLE_WIDTH
from callbot.errors import AudioError, RecognitionError
from callbot.speech.transcripts import TranscriptFuture

#: Turns are decoded in pieces of this many seconds of audio; a finished turn can
#: take over a decoder thread after at most one piece of another turn.
DECODE_CHUNK_SECONDS = 0.1


def decode_chunk_bytes(rate: int = SAMPLE_RATE) -> int:
    """Bytes in one decoding piece (:data:`DECODE_CHUNK_SECONDS`) of 16-bit PCM at ``rate``:
    1600 at 8 kHz, 3200 at 16 kHz."""
    return round(rate * DECODE_CHUNK_SECONDS) * SAMPLE_WIDTH


#: One decoding piece of a narrowband (8 kHz) turn: 100 ms, 1600 bytes.
DECODE_CHUNK_BYTES = decode_chunk_bytes(SAMPLE_RATE)


def check_rate(rate: int) -> int:
    """``rate`` as an int if a call's audio can have it (:data:`callbot.audio.RATES`), else
    :class:`AudioError` naming it."""
    if isinstance(rate, bool) or not isinstance(rate, Integral) or int(rate) not in RATES:
        raise AudioError(
            f"unsupported sample rate {rate!r} Hz: a turn's audio must be at one of {RATES} Hz"
        )
    return int(rate)


#: Turn states (PooledTurn._state).
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


class PooledTurn:
    """One turn in a :class:`DecoderPool`: its pending audio, state and future.

    ``feed()`` only appends audio (it never blocks the caller's audio thread);
    the pool's decoder threads call :meth:`_decode_piece` with each 100 ms
    piece (``rate`` sets its size in bytes) and finally with ``None`` (the end
    of the turn), one thread at a time. Subclasses implement
    :meth:`_decode_piece` and resolve :attr:`future`; they call :meth:`_fail`
    on errors.
    """

    def __init__(self, pool: "DecoderPool", rate: int = SAMPLE_RATE):
        self._pool = pool
        #: The turn's sample rate (Hz); it sets the size of a decoding piece.
        self.rate = check_rate(rate)
        self._chunk = decode_chunk_bytes(self.rate)
        self._future = TranscriptFuture(on_wait=self.expedite)
        # Guarded by the pool's lock:
        self._pending = bytearray()
        self._fed = 0
        self._state = _OPEN
        self._finished_at = 0.0
        self._awaited_at: float | None = None  # somebody waits for the words
        self._busy = False  # a decoder thread is working on it
        self._retired = threading.Event()

    # -- caller side ------------------------------------------------------------
    def feed(self, pcm: bytes) -> None:
        """Append 16-bit mono PCM at the turn's :attr:`rate` (any length); returns at once."""
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

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if not self._future.done() and self._state == _OPEN:
            self.cancel()

    # -- decoder side (one decoder thread at a time) ----------------------------
    def _decode_piece(self, piece: bytes | None) -> None:
        """Decode ``piece`` of audio, or (None) the end of the turn: deliver the transcript."""
        raise NotImplementedError

    def _fail(self, exc: BaseException) -> None:
        self._pool.end(self)
        try:
            self._future.set_exception(exc)
        except InvalidStateError:  # cancelled or already resolved
            pass

    def _release(self) -> None:
        """The turn is over: wake join() (subclasses free their decoder first)."""
        self._retired.set()


class DecoderPool:
    """At most ``decoders`` turns decode at once, in 100 ms pieces (each at its turn's rate).

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
        self._turns: list[PooledTurn] = []  # not yet released
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"asr-decoder-{i + 1}", daemon=True) for i in range(decoders)
        ]
        for thread in self._threads:
            thread.start()

    # -- called by PooledTurn / the transcriber ------------------------------------
    def add(self, turn: PooledTurn) -> None:
        with self._lock:
            if self._closed:
                raise RecognitionError("the transcriber is closed")
            self._turns.append(turn)

    def feed(self, turn: PooledTurn, pcm: bytes) -> None:
        with self._lock:
            if turn._state is not _OPEN:
                return
            turn._pending += pcm
            turn._fed += len(pcm)
            if len(turn._pending) >= turn._chunk:
                self._lock.notify()

    def finish(self, turn: PooledTurn) -> None:
        with self._lock:
            if turn._state is _OPEN:
                turn._state = _FINISHED
                turn._finished_at = time.monotonic()
                self._lock.notify()

    def expedite(self, turn: PooledTurn) -> None:
        with self._lock:
            if turn._awaited_at is None:
                turn._awaited_at = time.monotonic()
                self._lock.notify()

    def end(self, turn: PooledTurn) -> None:
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
    def _end(self, turn: PooledTurn) -> None:
        """(lock held) No more decoding for ``turn``; release it unless a thread is on it."""
        turn._state = _DONE
        turn._pending = bytearray()
        if not turn._busy and turn in self._turns:
            self._turns.remove(turn)
            turn._release()

    def _next(self) -> tuple[PooledTurn, bytes | None] | None:
        """(lock held) The most urgent piece of work: a turn and its next piece (None = the end)."""
        best, best_key = None, None
        for turn in self._turns:
            if turn._busy:
                continue
            if turn._state is _FINISHED:
                key = (0, turn._awaited_at) if turn._awaited_at is not None else (1, turn._finished_at)
            elif turn._state is _OPEN and len(turn._pending) >= turn._chunk:
                key = (2, -len(turn._pending))
            else:
                continue
            if best_key is None or key < best_key:
                best, best_key = turn, key
        if best is None:
            return None
        size = min(len(best._pending), best._chunk)
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
