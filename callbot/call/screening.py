"""Screening an unknown caller: the owner's script, step by step, on one answered call.

say → listen (record + transcribe) → branch → … → hang up. At the end the findings
(who, which company, cold call or genuine) go into the call's row.

Saved as soon as heard: the moment a caller turn ends, on the call's own thread
and before the script goes on, its turn row is queued (without words) and then
its WAV written (``<recordings>/<call id>/<seq>-<field>.wav``; a few kB per second
of audio into the page cache, no fsync, nothing waits for the database). A crash
right after the answer keeps both. The transcript is added to the row when it
arrives (an UPDATE, on an I/O worker, :meth:`Screening._add_words`), and the lead
with it; the transcript is waited for on the call's thread only when a branch
needs the words.

The row comes first, so there is never a WAV without a row that points to it. A
WAV that cannot be finished (the disk is full, ENOSPC/EFBIG, or any OSError) is
deleted, the row's ``recording`` set back to NULL, and the failure logged at ERROR
and as an ``error``/``recording`` event once per call (later turns of that call
that fail too are only counted); the call goes on without its audio.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Executor, Future
from pathlib import Path

from callbot.audio import write_wav
from callbot.call.calllog import TIMEOUT_ENDS, CallLog
from callbot.call.later import AfterCallTranscriber, RecordedTurn, record_findings
from callbot.call.conversation import CallerTurn, Conversation
from callbot.call.ports import Clock, InboundCall, Recognizer
from callbot.call.settings import HandoffSettings
from callbot.outcome import Outcome
from callbot.records import TurnFields
from callbot.script.model import CallContext, Listen, Say, Script
from callbot.script.runner import ScriptRunner
from callbot.speech.admission import Admission
from callbot.speech.turns import TurnSettings
from callbot.store.settings import StorageSettings

log = logging.getLogger("callbot.call")

#: How long the end of a call waits for a caller turn's transcript.
TRANSCRIPT_TIMEOUT = 60.0
#: How long a transfer waits for the REFER's answer and the new call's result.
TRANSFER_TIMEOUT = 15.0
#: Said when the words a decision needs are late (an owner-editable prompt like every other).
HOLD_PROMPT = "one_moment"
#: Prompts screening needs besides the script's own.
SCREENING_PROMPTS = (HOLD_PROMPT,)

class Screening:
    """Runs the owner's script on answered calls (one instance serves every call)."""

    def __init__(self, *, storage: StorageSettings, handoff: HandoffSettings, language: str, turns: TurnSettings,
                 recognizer: Recognizer | None, io: Executor, clock: Clock,
                 admission: Admission | None = None, later: AfterCallTranscriber | None = None):
        self.storage = storage      # record, recordings
        self.handoff = handoff      # genuine, transfer_to
        self.language = language
        self.turns = turns
        self.recognizer = recognizer
        self.io = io                # disk and transcript work for finished turns; never on the audio path
        self.clock = clock
        self.admission = admission  # None: every call is transcribed live
        self.later = later          # transcribes the calls the decoders could not follow live
        #: Why a call without a recognizer has no words (the runtime knows: off, or no model installed).
        self.no_words = "no transcript (transcription off)"

    def run(self, call: InboundCall, calllog: CallLog, prompts, script: Script,
            context: Callable[[bool, str], CallContext], start: str | None = None) -> Outcome:
        """Say, listen, branch until the script hangs up or the caller does; returns the outcome."""
        if self.admission is not None:
            self.admission.call_started()
        live = self._admit(calllog)
        try:
            return self._run(call, calllog, prompts, script, context, start, live)
        finally:
            if self.admission is not None:
                self.admission.call_ended()
                if live:
                    self.admission.release()

    def _admit(self, calllog: CallLog) -> bool:
        """Live recognition while the decoders can follow; otherwise record now, transcribe after the call."""
        if self.recognizer is None:
            return False
        if self.admission is None or self.admission.try_admit():
            calllog.event("transcription", "live", "transcribed while the caller speaks")
            return True
        calllog.event("transcription", "after_call", f"the decoders are busy ({self.admission.live} calls live): "
                                                     "recorded now, transcribed after the call")
        return False

    def _run(self, call: InboundCall, calllog: CallLog, prompts, script: Script,
             context: Callable[[bool, str], CallContext], start: str | None, live: bool) -> Outcome:
        runner = ScriptRunner(script, context(self.storage.record, self.language), start=start)
        conversation = Conversation(call, self.clock, prompts, self.turns, self.recognizer if live else None)
        recorded: list[RecordedTurn] = []
        words = _Deadline(conversation, calllog, self.turns)
        saved: list[Future] = []
        recordings = _Recordings(calllog, self.storage)
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
                words.heard()
                calllog.event("heard", action.field, _describe_turn(heard))
                recording = recordings.save(seq, heard)  # row + WAV now, not after the words
                saved.append(self.io.submit(self._add_words, calllog, seq, heard, recording, action.lead))
                if heard.audio and not live and self.recognizer is not None:
                    recorded.append(RecordedTurn(seq, heard.field, heard.audio, heard.rate))
                if heard.end_reason == "hangup":
                    break
                # The words are waited for only when a decision needs them, and not for long.
                text = (lambda heard=heard: words.text(heard)) if heard.transcript is not None else None
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
        texts = dict(job.result() for job in saved)  # the transcripts, late ones too; latest per field
        if recorded and self.later is not None:
            self.later.submit(calllog.call_id, recorded)
            empty = "no transcript yet (transcribed after the call)"
        else:
            empty = "no transcript (nothing said)" if self.recognizer else self.no_words
        record_findings(calllog, {f: t for f, t in texts.items() if t}, self.language, empty)
        calllog.hangup(ended_by)
        if ended_by in TIMEOUT_ENDS:
            return Outcome.TIMEOUT
        if ended_by == "transfer":
            return Outcome(outcome)
        if outcome is None or ended_by == "caller":
            return Outcome.CALLER_HUNG_UP
        return Outcome(outcome)

    def _transcript_of(self, calllog: CallLog, heard: CallerTurn) -> tuple[str | None, float | None]:
        """The turn's transcript for the log (waits up to TRANSCRIPT_TIMEOUT; late words still land)."""
        if heard.transcript is None:
            return None, None
        try:
            result = heard.transcript.result(timeout=TRANSCRIPT_TIMEOUT)
        except Exception as exc:  # recognition failed: keep the audio, say why, carry on without text
            log.warning("call %s: transcription of %s failed: %s", calllog.call_id, heard.field, exc)
            calllog.event("error", "transcription", f"{heard.field}: {exc}")
            return None, None
        return result.text, result.confidence

    def _add_words(self, calllog: CallLog, seq: int, heard: CallerTurn, recording: str | None,
                   lead: bool) -> tuple[str, str | None]:
        """Runs on the I/O worker: wait for the transcript, add it to the turn row (and the lead).

        It waits with ``futures.wait`` first, not ``result()``: only the script asking
        for the words makes a turn urgent for the decoder (see callbot.speech).
        Returns ``(field, transcript)``.
        """
        if heard.transcript is not None:
            futures.wait([heard.transcript], timeout=TRANSCRIPT_TIMEOUT)
        text, confidence = self._transcript_of(calllog, heard)
        if heard.transcript is not None:
            calllog.turn_text(seq, text, confidence)
        if lead and (heard.audio or text):
            calllog.lead(seq, heard.field, text, recording)
        return heard.field, text


class _Recordings:
    """One call's caller turns, saved the moment each ends (see the module docstring)."""

    def __init__(self, calllog: CallLog, storage: StorageSettings):
        self.calllog = calllog
        self.storage = storage
        self.failures = 0

    def save(self, seq: int, heard: CallerTurn) -> str | None:
        """Queue the turn row, then write its WAV; the recording's relative path, or None."""
        calllog = self.calllog
        relative = None
        if heard.audio and calllog.call_id is not None and self.storage.record:
            relative = (Path(str(calllog.call_id)) / f"{seq:02d}-{heard.field}.wav").as_posix()
        # The row first: a WAV on disk always has a row that points to it.
        calllog.turn(TurnFields(seq, "caller", heard.started_at, heard.duration, field=heard.field,
                                recording=relative, end_reason=heard.end_reason))
        if relative is None:
            return None
        target = Path(self.storage.recordings) / relative
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_wav(target, heard.audio, heard.rate)
        except OSError as exc:
            _remove(target)
            calllog.turn_recording(seq, None)
            self._failed(target, exc)
            return None
        return relative

    def _failed(self, target: Path, exc: OSError) -> None:
        self.failures += 1
        if self.failures == 1:  # once per call: a full disk fails every turn after it too
            call_id = self.calllog.call_id
            log.error("call %s: cannot write recording %s (%s); deleted, the call goes on without its audio",
                      call_id, target, exc.strerror or exc)
            self.calllog.event("error", "recording", f"cannot write {target.name}: {exc.strerror or exc}; "
                                                     "recording deleted")
        else:
            log.debug("call %s: recording %s failed too (%s)", self.calllog.call_id, target, exc)


def _remove(target: Path) -> None:
    """Delete an unfinished WAV (no audio file without a row that points to it)."""
    try:
        target.unlink(missing_ok=True)
    except OSError as exc:
        log.error("cannot delete the unfinished recording %s: %s", target, exc.strerror or exc)


def _log_trace(calllog: CallLog, runner: ScriptRunner, logged: int) -> int:
    """Log the runner's branch decisions (say/listen steps are logged with their timing)."""
    trace = runner.trace
    for entry in trace[logged:]:
        if entry.kind in ("branch", "hangup"):
            calllog.event("step", entry.step, f"{entry.kind}: {entry.detail}")
    return len(trace)


class _Deadline:
    """The words a branch needs, within a deadline (issue: no caller waits in silence).

    Wait ``turns.max_wait`` after the caller stopped talking; if the transcript is not
    there, say the hold phrase and wait at most ``turns.max_hold`` more; then decide
    without the words (the answer counts as not transcribed: ``answer is unknown``, and
    the label is made of what else was said, ``unclear`` when nothing). The transcript
    still lands in the log when it comes. Each step is an event in the call's trail.
    """

    def __init__(self, conversation: Conversation, calllog: CallLog, turns: TurnSettings):
        self.conversation = conversation
        self.calllog = calllog
        self.turns = turns
        self._listens = 0           # caller turns heard so far
        self._held_for = -1         # … when the hold phrase was last said (once per decision)
        self._hold_deadline = 0.0

    def heard(self) -> None:
        """A new caller turn: the next decision may say the hold phrase again."""
        self._listens += 1

    def text(self, heard: CallerTurn) -> str | None:
        future = heard.transcript
        if future is None:
            return None
        if not future.done():
            _mark_urgent(future)
            clock = self.conversation.clock
            ended = heard.speech_ended_at if heard.speech_ended_at is not None else clock.now()
            if not self.conversation.wait_for(future, ended + self.turns.max_wait):
                self.calllog.event("wait", heard.field, f"waited {self.turns.max_wait:.1f} s for the words")
                if not self._hold(future):
                    self.calllog.event("decided", heard.field, "decided without words (the transcript came too "
                                                               "late; it is added to the log when it arrives)")
                    return None
        try:
            return future.result(timeout=0).text
        except Exception:  # a failed recognition: logged with the turn; decide without words
            return None

    def _hold(self, future: Future) -> bool:
        """Say the hold phrase (once per decision), then wait up to max_hold; True when the words came."""
        if not self.conversation.call.active:
            return False
        if self._held_for != self._listens:
            said = self.conversation.say(HOLD_PROMPT)
            self.calllog.event("hold", HOLD_PROMPT, f"hold phrase ({said.playback.seconds_sent:.1f} s)")
            self._held_for = self._listens
            self._hold_deadline = self.conversation.clock.now() + self.turns.max_hold
        return self.conversation.wait_for(future, self._hold_deadline)


def _mark_urgent(future: Future) -> None:
    """The script waits for these words: a TranscriptFuture tells its decoder on the first result()."""
    try:
        future.result(timeout=0)
    except Exception:  # TimeoutError while pending (the usual case); failures are read later
        pass


def _describe_turn(turn: CallerTurn) -> str:
    what = {
        "speech_stopped": "caller finished (silence)",
        "no_speech": "caller said nothing",
        "max_length": "turn reached turns.max_turn",
        "hangup": "caller hung up",
    }.get(turn.end_reason, turn.end_reason)
    return f"{turn.duration:.2f} s of audio; {what}"
