"""Record now, transcribe after the call: turns of calls the decoders could not follow live.

When :class:`~callbot.speech.admission.Admission` has no live slot for a call, the
call is screened without words (the script's decisions take their ``unclear`` /
``unknown`` path, nobody waits) and its recorded turns come here. One worker thread
takes the calls oldest first, waits for a free slot, transcribes their turns, and adds
the words to the call log: each turn's text, the findings (who, which company, cold
call or genuine) and an event saying the call was transcribed after it ended.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

from callbot.audio import SAMPLE_RATE, SAMPLE_WIDTH
from callbot.call.calllog import CallLog
from callbot.speech.admission import Admission
from callbot.store.store import Store
from callbot.text.findings import summarize

log = logging.getLogger("callbot.call")

#: How often the worker looks for a free decoder slot (seconds).
POLL = 0.2
#: How long one turn may take to decode before it is given up (seconds).
DECODE_TIMEOUT = 300.0
#: Audio is fed in pieces of this length (seconds); while calls are in progress one piece per
#: its own length — real time, the load of one live caller — so a backlog never saturates the
#: decoders under callers' feet (that made turns end early on 2 cores); with no call, at once.
PIECE = 0.2


@dataclass(frozen=True)
class RecordedTurn:
    seq: int
    field: str
    audio: bytes
    rate: int = SAMPLE_RATE  # of ``audio``: the call's (16 kHz for G.722)


class AfterCallTranscriber:
    """One worker: calls in arrival order, each when the decoders have room."""

    def __init__(self, recognizer, admission: Admission, store: Store, language: str):
        self.recognizer = recognizer
        self.admission = admission
        self.store = store
        self.language = language
        self._queue: queue.Queue[tuple[int, list[RecordedTurn]] | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="callbot-after-call", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def submit(self, call_id: int | None, turns: list[RecordedTurn]) -> None:
        if call_id is not None and turns:
            self._queue.put((call_id, turns))

    def close(self, timeout: float = 10.0) -> None:
        """Stop after the call in progress; calls still queued keep their recordings, no words."""
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout)

    def _work(self) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            if item is None:
                return
            call_id, turns = item
            # A slot like a live caller's; with live_calls = 0 every call comes here, one at a time.
            slot = self.admission.capacity != 0
            while slot and not self.admission.try_admit():
                if self._stop.wait(POLL):
                    return
            try:
                self._transcribe(call_id, turns)
            except Exception:  # the recordings stay; say why the words are missing
                log.exception("call %s: transcription after the call failed", call_id)
                CallLog(self.store, call_id).event("error", "transcription", "transcription after the call failed")
            finally:
                if slot:
                    self.admission.release()

    def _transcribe(self, call_id: int, turns: list[RecordedTurn]) -> None:
        calllog = CallLog(self.store, call_id)
        texts: dict[str, str] = {}
        for turn in turns:
            piece = int(PIECE * turn.rate) * SAMPLE_WIDTH
            stream = self.recognizer.stream(turn.rate)
            for at in range(0, len(turn.audio), piece):
                stream.feed(turn.audio[at:at + piece])
                if self.admission.calls and self._stop.wait(PIECE):
                    stream.cancel()
                    return
            result = stream.finish().result(timeout=DECODE_TIMEOUT)
            calllog.turn_text(turn.seq, result.text, result.confidence)
            if result.text:
                texts[turn.field] = result.text
        calllog.event("transcription", "after_call", f"{len(turns)} turn(s) transcribed after the call")
        record_findings(calllog, texts, self.language, "no transcript (nothing said)")


def record_findings(calllog: CallLog, texts: dict[str, str], language: str, empty_reason: str) -> None:
    """Who called, from which company, cold call or genuine — into the call's row and trail."""
    if not texts:
        calllog.event("classify", "unclear", empty_reason)
        calllog.update(label="unclear", label_reasons=empty_reason)
        return
    findings = summarize(texts, language)
    if findings.person or findings.company:
        calllog.event("extract", "identity",
                      f"person: {findings.person.value if findings.person else '—'}; "
                      f"company: {findings.company.value if findings.company else '—'}")
    calllog.event("classify", findings.label, findings.classification.explain())
    calllog.update(
        person=findings.person.value if findings.person else None,
        company=findings.company.value if findings.company else None,
        transcript=findings.transcript,
        label=findings.label,
        label_reasons=findings.classification.explain(),
    )
