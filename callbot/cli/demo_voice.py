"""The demo callers' voice: what each bundled recording says (:data:`WORDS`, the one table of
those words), and :class:`DemoRecognizer`, which `callbot demo` hands to the bot when no
speech model is installed.

The recordings in ``callbot/demo_audio/<recording>-<language>.wav`` were spoken once by
espeak-ng from :data:`WORDS` (:func:`make_recordings`). The demo recognizer knows these
recordings and nothing else: it tells which one a caller turn was by its loudness contour
(20 ms frames) and gives back that recording's words, lower case and without punctuation as
Vosk prints them. It recognises no speech. Only `callbot demo` uses it, and the demo marks
every transcript it made in the call's trail as :data:`DEMO_MARK`.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import Future
from pathlib import Path

import numpy as np

from callbot.audio import FRAME_SAMPLES, SAMPLE_RATE, decode_file, duration_seconds, resample, write_wav
from callbot.speech.transcripts import Transcript

#: How the call log marks a transcript the demo attached instead of recognising it.
DEMO_MARK = "demo transcript (no speech model installed)"
#: Where the recordings live.
AUDIO_DIR = Path(__file__).resolve().parents[1] / "demo_audio"

#: What each demo recording says, by language and recording name
#: (``callbot/demo_audio/<name>-<language>.wav``; numbers as words, as a recognizer writes them).
WORDS: dict[str, dict[str, str]] = {
    "de": {
        "identity": "Guten Tag, mein Name ist Thomas Müller von der Firma Vergleichsportal GmbH.",
        "purpose": "Ich möchte Ihnen ein unverbindliches Angebot für günstigeren Strom machen.",
        "website": "Nein, haben wir nicht.",
        "contact": "Gern. Thomas Müller, Telefon null drei null, eins zwei drei vier fünf sechs sieben acht.",
        "genuine-identity": "Guten Tag, hier ist Petra Schmidt von der Firma Schmidt Bau GmbH.",
        "genuine-purpose": "Es geht um meine Rechnung vom letzten Monat, Kundennummer vier zwei.",
    },
    "en": {
        "identity": "Hello, my name is John Smith from Acme Limited.",
        "purpose": "I would like to make you a free offer for cheaper electricity.",
        "website": "No, we don't have one.",
        "contact": "Sure. John Smith, phone zero three zero, one two three four five six seven eight.",
        "genuine-identity": "Hello, this is Petra Schmidt from Schmidt Construction Limited.",
        "genuine-purpose": "It is about my invoice from last month, customer number four two.",
    },
}
#: What the screened demo callers say, one recording per `listen` of the default script, in order.
COLD_CALLER = ("identity", "purpose", "website", "contact")
GENUINE_CALLER = ("genuine-identity", "genuine-purpose")

#: The espeak-ng voice and speed the recordings were made with.
VOICES = {"de": "de", "en": "en"}
SPEED = 150

#: The loudness contour: frames below FLOOR_DBFS count as FLOOR_DBFS; the speech in a turn runs
#: from its first to its last frame at or above SPEECH_DBFS.
FLOOR_DBFS = -60.0
SPEECH_DBFS = -40.0
#: A turn is a recording when their contours differ by at most this much on average (dB), after
#: shifting one against the other by up to MAX_SHIFT frames (a late or early start).
MAX_DISTANCE_DB = 6.0
MAX_SHIFT = 4


def recording_path(name: str, language: str) -> Path:
    return AUDIO_DIR / f"{name}-{language}.wav"


def vosk_style(text: str) -> str:
    """``text`` as a recognizer writes it: lower case, no punctuation ("don't" stays)."""
    words = re.sub(r"[^\w\s']", " ", text.lower()).split()
    return " ".join(word.strip("'") for word in words if word.strip("'"))


def make_recordings(language: str | None = None, *, overwrite: bool = False) -> list[Path]:
    """Speak :data:`WORDS` with espeak-ng into ``callbot/demo_audio`` (8 kHz, 16-bit mono).

    Run once when a text is added or changed (existing files are kept unless ``overwrite``)."""
    from callbot.speech.tts import EspeakNg

    made = []
    for lang in [language] if language else sorted(WORDS):
        engine = EspeakNg(VOICES[lang], SPEED)
        for name, text in WORDS[lang].items():
            path = recording_path(name, lang)
            if overwrite or not path.exists():
                write_wav(path, engine.synthesize(text))
                made.append(path)
    return made


def contour(pcm: bytes) -> np.ndarray:
    """Loudness per 20 ms frame (dBFS, at least FLOOR_DBFS), from the first to the last loud frame."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64) / 32768.0
    count = len(samples) // FRAME_SAMPLES
    if count == 0:
        return np.zeros(0)
    frames = samples[: count * FRAME_SAMPLES].reshape(count, FRAME_SAMPLES)
    levels = np.maximum(10 * np.log10(np.mean(frames**2, axis=1) + 1e-12), FLOOR_DBFS)
    loud = np.nonzero(levels >= SPEECH_DBFS)[0]
    return levels[loud[0] : loud[-1] + 1] if len(loud) else np.zeros(0)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two contours (dB) at the best shift; the shorter is padded with the floor."""
    if len(a) == 0 or len(b) == 0:
        return float("inf")
    best = float("inf")
    for shift in range(-MAX_SHIFT, MAX_SHIFT + 1):
        x = np.concatenate([np.full(max(shift, 0), FLOOR_DBFS), a])
        y = np.concatenate([np.full(max(-shift, 0), FLOOR_DBFS), b])
        length = max(len(x), len(y))
        x = np.pad(x, (0, length - len(x)), constant_values=FLOOR_DBFS)
        y = np.pad(y, (0, length - len(y)), constant_values=FLOOR_DBFS)
        best = min(best, float(np.mean(np.abs(x - y))))
    return best


class DemoRecognizer:
    """A :class:`callbot.call.ports.Recognizer` for `callbot demo` only: the known words of the
    demo recording it hears, "" for anything else (it recognises no speech)."""

    def __init__(self, language: str):
        self.language = language
        self._known = [(contour(decode_file(recording_path(name, language))), vosk_style(text))
                       for name, text in WORDS[language].items()]

    def words_for(self, pcm: bytes) -> str:
        """The words of the recording ``pcm`` sounds like, or "" when it is none of them."""
        heard = contour(pcm)
        scored = sorted((distance(heard, known), words) for known, words in self._known)
        return scored[0][1] if scored and scored[0][0] <= MAX_DISTANCE_DB else ""

    def stream(self, rate: int = SAMPLE_RATE) -> _DemoStream:
        return _DemoStream(self, rate)


class _DemoStream:
    """One caller turn (16-bit PCM at ``rate`` Hz): the audio is collected, and matched (at
    8 kHz, the recordings' rate) when the turn is finished."""

    def __init__(self, recognizer: DemoRecognizer, rate: int = SAMPLE_RATE):
        self._recognizer = recognizer
        self.rate = rate
        self._audio = bytearray()
        self._lock = threading.Lock()

    def feed(self, pcm: bytes) -> None:
        with self._lock:
            self._audio += pcm

    def finish(self) -> Future:
        with self._lock:
            audio = bytes(self._audio)
        future: Future = Future()
        heard = audio[: len(audio) // 2 * 2]
        if self.rate != SAMPLE_RATE:  # the recordings' contours are at 8 kHz
            heard = resample(heard, self.rate, SAMPLE_RATE)
        text = self._recognizer.words_for(heard)
        future.set_result(Transcript(text=text, words=(), confidence=None,
                                     audio_seconds=duration_seconds(audio, self.rate), decode_seconds=0.0))
        return future

    def cancel(self) -> None:
        with self._lock:
            self._audio.clear()
