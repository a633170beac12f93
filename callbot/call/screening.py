"""Screening an unknown caller: the owner's script, step by step, on one answered call.

say → listen (record + transcribe) → branch → … → hang up. Each caller turn is
saved by an I/O worker (WAV, turn row, lead); the transcript is waited for only
when a branch needs the words. At the end the findings (who, which company, cold
call or genuine) go into the call's row.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Executor, Future
from pathlib import Path

from callbot.audio import write_wav
from callbot.call.calllog import CallLog
from callbot.call.conversation import CallerTurn, Conversation
from callbot.call.ports import Clock, InboundCall, Recognizer
from callbot.call.settings import HandoffSettings
from callbot.outcome import Outcome
from callbot.records import TurnFields
from callbot.script.model import CallContext, Listen, Say, Script
from callbot.script.runner import ScriptRunner
from callbot.speech.turns import TurnSettings
from callbot.store.settings import StorageSettings
from callbot.text.findings import summarize

log = logging.getLogger("callbot.call")

#: How long the end of a call waits for a caller turn's transcript.
TRANSCRIPT_TIMEOUT = 60.0
#: How long a transfer waits for the REFER's answer and the new call's result.
TRANSFER_TIMEOUT = 15.0

class Screening:
    """Runs the owner's script on answered calls (one instance serves every call)."""

    def __init__(self, *, storage: StorageSettings, handoff: HandoffSettings, language: str, turns: TurnSettings,
                 recognizer: Recognizer | None, io: Executor, clock: Clock):
        self.storage = storage      # record, recordings
        self.handoff = handoff      # genuine, transfer_to
        self.language = language
        self.turns = turns
        self.recognizer = recognizer
        self.io = io                # disk and transcript work for finished turns; never on the audio path
        self.clock = clock

    def run(self, call: InboundCall, calllog: CallLog, prompts, script: Script,
            context: Callable[[bool, str], CallContext], start: str | None = None) -> Outcome:
        """Say, listen, branch until the script hangs up or the caller does; returns the outcome."""
        runner = ScriptRunner(script, context(self.storage.record, self.language), start=start)
        conversation = Conversation(call, self.clock, prompts, self.turns, self.recognizer)
        saved: list[Future] = []
        logged = 0
        outcome: str | None = None
        seq = 0
        while call.active:
            action = runner.next_action()
            logged = _log_trace(calllog, runner, logged)
            seq += 1
            if isinstance(action, Say):
                said = conversation.say(action.prompt)
                calllog.event("step", action.step, f"said {action.prompt} ({said.playback.seconds_sent:.1f} s"
                              + ("" if said.playback.completed else ", caller hung up") + ")")
                calllog.turn(TurnFields(seq, "bot", said.started_at, said.playback.seconds_sent,
                                        prompt_id=action.prompt, text=said.text))
                if not said.playback.completed:
                    break
                runner.said()
            elif isinstance(action, Listen):
                heard = conversation.listen(action.field)
                calllog.event("heard", action.field, _describe_turn(heard))
                # The transcript is waited for only when a decision needs the words.
                transcript = _Once(lambda heard=heard: self._transcript_of(calllog, heard))
                saved.append(self.io.submit(self._save_caller_turn, calllog, seq, heard, transcript, action.lead))
                if heard.end_reason == "hangup":
                    break
                text = (lambda t=transcript: t()[0]) if heard.transcript is not None else None
                runner.heard(action.field, text, silent=heard.end_reason == "no_speech")
            else:
                outcome = action.outcome
                break
        _log_trace(calllog, runner, logged)
        if outcome == Outcome.MESSAGE_TAKEN and self.handoff.genuine == "transfer" and call.active:
            result = call.transfer(self.handoff.transfer_to, timeout=TRANSFER_TIMEOUT)
            calllog.event("handoff", "transfer", f"genuine caller: {result.describe()}")
            if result.succeeded:
                outcome = Outcome.TRANSFERRED
        ended_by = call.ended_by or "bot"
        if call.active:
            call.hangup()
        for job in saved:
            job.result()
        self._record_findings(calllog, {f: t for f, t in runner.fields.items() if t})
        calllog.hangup(ended_by)
        if ended_by in ("rtp_timeout", "max_duration"):
            return Outcome.TIMEOUT
        if ended_by == "transfer":
            return Outcome(outcome)
        if outcome is None or ended_by == "caller":
            return Outcome.CALLER_HUNG_UP
        return Outcome(outcome)

    def _transcript_of(self, calllog: CallLog, heard: CallerTurn) -> tuple[str | None, float | None]:
        """Wait for the turn's transcript (the script may branch on it)."""
        if heard.transcript is None:
            return None, None
        try:
            result = heard.transcript.result(timeout=TRANSCRIPT_TIMEOUT)
        except Exception as exc:  # recognition failed: keep the audio, say why, carry on without text
            log.warning("call %s: transcription of %s failed: %s", calllog.call_id, heard.field, exc)
            calllog.event("error", "transcription", f"{heard.field}: {exc}")
            return None, None
        return result.text, result.confidence

    def _save_caller_turn(self, calllog: CallLog, seq: int, heard: CallerTurn, transcript: _Once,
                          lead: bool) -> None:
        """Runs on the I/O worker: wait for the transcript, write the WAV, log the turn (and the lead).

        It waits with ``futures.wait``, not ``result()``: only the script asking
        for the words makes a turn urgent for the decoder (see callbot.speech).
        """
        if heard.transcript is not None:
            futures.wait([heard.transcript], timeout=TRANSCRIPT_TIMEOUT)
        text, confidence = transcript()
        recording = None
        if heard.audio and calllog.call_id is not None and self.storage.record:
            relative = Path(str(calllog.call_id)) / f"{seq:02d}-{heard.field}.wav"
            target = Path(self.storage.recordings) / relative
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                write_wav(target, heard.audio)
                recording = relative.as_posix()
            except OSError as exc:
                log.error("call %s: cannot write recording %s: %s", calllog.call_id, target, exc)
                calllog.event("error", "recording", f"cannot write {target}: {exc.strerror or exc}")
        calllog.turn(TurnFields(seq, "caller", heard.started_at, heard.duration, field=heard.field, text=text,
                                confidence=confidence, recording=recording, end_reason=heard.end_reason))
        if lead and (heard.audio or text):
            calllog.lead(seq, heard.field, text, recording)

    def _record_findings(self, calllog: CallLog, texts: dict[str, str]) -> None:
        if not texts:
            reason = "no transcript (nothing said)" if self.recognizer else "no transcript (transcription off)"
            calllog.event("classify", "unclear", reason)
            calllog.update(label="unclear", label_reasons=reason)
            return
        findings = summarize(texts, self.language)
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


def _log_trace(calllog: CallLog, runner: ScriptRunner, logged: int) -> int:
    """Log the runner's branch decisions (say/listen steps are logged with their timing)."""
    trace = runner.trace
    for entry in trace[logged:]:
        if entry.kind in ("branch", "hangup"):
            calllog.event("step", entry.step, f"{entry.kind}: {entry.detail}")
    return len(trace)


class _Once:
    """Calls ``fn`` the first time it is asked (from any thread) and keeps the result."""

    def __init__(self, fn):
        self._fn = fn
        self._lock = threading.Lock()
        self._done = False
        self._value = None

    def __call__(self):
        with self._lock:
            if not self._done:
                self._value = self._fn()
                self._done = True
            return self._value


def _describe_turn(turn: CallerTurn) -> str:
    what = {
        "speech_stopped": "caller finished (silence)",
        "no_speech": "caller said nothing",
        "max_length": "turn reached turns.max_turn",
        "hangup": "caller hung up",
    }.get(turn.end_reason, turn.end_reason)
    return f"{turn.duration:.2f} s of audio; {what}"
