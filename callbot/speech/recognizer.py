"""Speech recognition of caller turns with Vosk (Kaldi). The only module that imports vosk.

* :class:`SpeechModel` — the Vosk model, loaded once per process at start-up
  (loading takes seconds and hundreds of MB; every turn shares it).
* :class:`Transcriber` — hands out one :class:`RecognizerStream` per caller turn
  (``stream(rate)``: at the call's rate).
* :class:`RecognizerStream` — streaming recognition of one turn: ``feed()`` only
  appends audio (it never blocks the caller's audio thread); the
  transcriber's decoder threads decode it as it arrives, so when the caller
  stops talking only the last fraction of a second is left to decode.
  ``finish()`` returns a ``Future[Transcript]``. It implements the call
  layer's ``TurnStream`` protocol (:mod:`callbot.call.ports`).
* A bounded number of decoder threads (one per CPU core by default) serve
  all turns; a finished turn, whose words somebody waits for, goes
  before turns still being spoken (:mod:`callbot.speech.decoders`).
* :class:`callbot.speech.decoder_process.ProcessTranscriber` runs the same in
  a separate, lowest-priority process: what the bot uses, so decoding never
  stalls the calls' audio.

Audio is callbot's internal format, 16-bit mono PCM at the turn's rate: 8 kHz
for G.711 calls, 16 kHz for G.722 (wideband) calls (:data:`callbot.audio.RATES`).
Each turn's recognizer is told its rate and Vosk resamples to the model's rate
itself (the small Vosk models are 16 kHz models, so wideband audio goes in as
it is). The decoder cuts the audio into fixed 100 ms pieces before decoding,
so the result depends only on the audio, not on how it was fed (Kaldi's online
decoding otherwise varies slightly with the chunking). Vosk's JSON never leaves this module: callers get the plain values
of :mod:`callbot.speech.transcripts`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import vosk

from callbot.audio import SAMPLE_RATE, SAMPLE_WIDTH
from callbot.errors import CallbotError, ModelError, RecognitionError
from callbot.speech.decoders import DecoderPool, PooledTurn, check_rate, default_decoders
from callbot.speech.models import INSTALL_HINT, layout_problems, looks_like_model
from callbot.speech.transcripts import Transcript, Word

log = logging.getLogger(__name__)

vosk.SetLogLevel(-1)  # Kaldi's own INFO/LOG lines; its ERROR lines still reach stderr


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

    def _recognizer(self, rate: int = SAMPLE_RATE) -> "vosk.KaldiRecognizer":
        """A new recognizer for audio at ``rate`` Hz (with word times)."""
        try:
            recognizer = vosk.KaldiRecognizer(self._model, rate)
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


class RecognizerStream(PooledTurn):
    """Streaming recognition of one caller turn, off the caller's audio thread.

    ``feed(pcm)`` never blocks: it appends the bytes to the turn's pending
    audio (16-bit mono PCM at :attr:`rate`). The transcriber's decoder threads
    own the turn's ``KaldiRecognizer(model, rate)`` (with word times) and
    decode it in 100 ms pieces as audio arrives. ``finish()`` -> ``Future[Transcript]``;
    ``cancel()`` drops the turn. Errors while decoding become the future's
    exception (:class:`ModelError`, :class:`RecognitionError`); they never
    raise into ``feed()``. Audio fed after ``finish()``/``cancel()`` or after a
    failure is ignored. Use as a context manager to cancel an unfinished turn.
    Create streams with :meth:`Transcriber.stream`.
    """

    def __init__(self, model: SpeechModel, pool: DecoderPool, rate: int = SAMPLE_RATE):
        super().__init__(pool, rate)
        self.model = model
        # Only touched by the decoder thread holding ``_busy``:
        self._recognizer = None
        self._results: list[str] = []
        self._decode = 0.0

    # -- decoder side (one decoder thread at a time, see DecoderPool) ---------------
    def _decode_piece(self, piece: bytes | None) -> None:
        """Decode ``piece`` of audio, or (None) the end of the turn: deliver the transcript."""
        try:
            if self._recognizer is None:
                started = time.perf_counter()
                self._recognizer = self.model._recognizer(self.rate)
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
                audio_seconds=self._fed / (self.rate * SAMPLE_WIDTH), decode_seconds=self._decode,
            ))
        except CallbotError as exc:
            self._fail(exc)
        except Exception as exc:  # anything vosk or the parsing throws
            error = RecognitionError(f"speech recognition failed: {exc or type(exc).__name__}")
            error.__cause__ = exc
            self._fail(error)

    def _release(self) -> None:
        """The turn is over: free its recognizer (Kaldi memory) and wake join()."""
        self._recognizer = None
        self._results = []
        super()._release()


class TranscriberBase:
    """What every transcriber offers on top of ``stream()`` and ``close()``."""

    def transcribe(self, pcm: bytes, rate: int = SAMPLE_RATE) -> "Future[Transcript]":
        """Recognise a whole recording (16-bit mono PCM at ``rate``): stream + feed all + finish."""
        turn = self.stream(rate)
        turn.feed(pcm)
        return turn.finish()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Transcriber(TranscriberBase):
    """Speech-to-text for caller turns; shares one :class:`SpeechModel` between all of them.

    ``decoders`` threads (default :func:`~callbot.speech.decoders.default_decoders`)
    decode all turns; see :class:`~callbot.speech.decoders.DecoderPool` for which
    turn goes first.
    """

    def __init__(self, model: SpeechModel, *, decoders: int | None = None):
        self.model = model
        self._pool = DecoderPool(decoders or default_decoders())

    @property
    def decoders(self) -> int:
        return self._pool.decoders

    def stream(self, rate: int = SAMPLE_RATE) -> RecognizerStream:
        """A new turn whose audio is 16-bit mono PCM at ``rate`` Hz (8000 or 16000: the call's
        rate; :class:`~callbot.errors.AudioError` for any other). Its recognizer is created by
        the decoder thread that first decodes it."""
        turn = RecognizerStream(self.model, self._pool, check_rate(rate))
        self._pool.add(turn)
        return turn

    def active(self) -> int:
        """Turns not yet delivered, failed or cancelled (or still being wound down)."""
        return self._pool.active()

    def close(self, timeout: float = 5.0) -> None:
        """Cancel unfinished turns and wait (up to ``timeout``) for the decoder threads."""
        self._pool.close(timeout)
