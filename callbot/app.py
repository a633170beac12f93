"""The running bot: wires configuration, call log, prompts and the SIP endpoint.

One call's path: INVITE → caller identified → row inserted (before answering)
→ policy decision logged → mechanism (433, or answer + prompt + hang up)
→ row finalized in ``finally``, whatever happened.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from callbot.call import policy
from callbot.audio import write_wav
from callbot.call.caller import Caller, identify_raw
from callbot.config import Config
from callbot.errors import ModelError, ScriptError
from callbot.call.policy import Action, Decision
from callbot.prompts import PromptLibrary
from callbot.text.findings import summarize
from callbot.script import CallContext, Listen, Say, Script, ScriptRunner, load_owner_script
from callbot.script import script_path as owner_script_path
from callbot.call.conversation import CallerTurn, Clock, Conversation, MonotonicClock, Recognizer, announce_and_hang_up
from callbot.telephony.endpoint import IncomingCall, SipEndpoint, SipSettings
from callbot.records import CallerFields, TurnFields
from callbot.store import Store
from callbot.speech.turns import TurnSettings

log = logging.getLogger("callbot.app")

#: How long call setup waits for the call row to be written before answering.
ROW_WRITE_TIMEOUT = 2.0
#: Polling step while the call rings (answer_delay), seconds.
RING_POLL = 0.02
#: How long a transfer waits for the REFER's answer and the new call's result.
TRANSFER_TIMEOUT = 15.0
#: The retention rule runs at start and then this often (seconds).
PRUNE_INTERVAL = 24 * 3600.0
#: How long stopping waits for a retention run in progress.
PRUNER_JOIN_TIMEOUT = 60.0
#: How long the end of a call waits for a caller turn's transcript.
TRANSCRIPT_TIMEOUT = 60.0


def _stamp(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def script_path(config: Config) -> Path:
    return owner_script_path(config.prompts.dir, config.prompts.language)


def load_recognizer(config: Config) -> Recognizer | None:
    """The speech recognizer per ``speech.transcription``; the model is loaded once, here.

    ``required``: a missing/broken model raises ModelError (refuse to start).
    ``optional``: log a warning and run without transcripts. ``off``: None.
    """
    mode = config.speech.transcription
    if mode == "off":
        return None
    from callbot.speech.asr import ProcessTranscriber

    try:
        transcriber = ProcessTranscriber(config.speech.model, decoders=config.speech.decoders or None)
    except ModelError as exc:
        if mode == "required":
            raise
        log.warning("transcription off: %s", exc)
        return None
    log.info("speech model %s loaded in the decoder process (%d decoder thread%s)",
             transcriber.name, transcriber.decoders, "" if transcriber.decoders == 1 else "s")
    return transcriber


def sip_settings(config: Config) -> SipSettings:
    s = config.sip
    return SipSettings(
        server=s.server,
        port=s.port,
        username=s.username,
        password=s.password,
        local_ip=s.local_ip,
        local_port=s.local_port,
        rtp_port_min=s.rtp_port_min,
        rtp_port_max=s.rtp_port_max,
        register=s.register,
        register_expires=s.register_expires,
        rtp_timeout=s.rtp_timeout,
        max_call_duration=s.max_call_duration,
        user_agent=s.user_agent,
    )


def caller_fields(caller: Caller, keep_evidence: bool) -> CallerFields:
    evidence = None
    if caller.withheld and keep_evidence and caller.asserted_identities:
        evidence = "; ".join(caller.asserted_identities)
    return CallerFields(
        raw=caller.from_raw,
        display=caller.display_name,
        number=caller.e164,
        dialled=caller.number,
        country=caller.country_code,
        region=caller.region,
        type=caller.number_type,
        description=caller.description,
        valid=caller.valid,
        withheld=caller.withheld,
        number_source=caller.number_source,
        evidence=evidence,
    )


@dataclass
class _CallLog:
    """Writes one call's events; tolerates a call row that could not be written."""

    store: Store
    call_id: int | None

    def event(self, kind: str, rule: str | None, reason: str | None) -> None:
        log.info("call %s: %s %s: %s", self.call_id, kind, rule, reason)
        if self.call_id is not None:
            self.store.add_event(self.call_id, kind, rule, reason)

    def answered(self) -> None:
        if self.call_id is not None:
            self.store.mark_answered(self.call_id)

    def turn(self, turn: TurnFields) -> None:
        if self.call_id is not None:
            self.store.add_turn(self.call_id, turn)

    def finish(self, outcome: str) -> None:
        log.info("call %s: outcome %s", self.call_id, outcome)
        if self.call_id is not None:
            self.store.finish_call(self.call_id, outcome)


class Bot:
    def __init__(
        self,
        config: Config,
        store: Store | None = None,
        prompts: PromptLibrary | None = None,
        clock: Clock | None = None,
        recognizer: Recognizer | None = None,
    ):
        self.config = config
        self.store = store or Store(config.storage.database, default_region=config.phone.default_region)
        self._prompts_injected = prompts is not None
        self.prompts = prompts or PromptLibrary.from_config(config, required=policy.POLICY_PROMPTS)
        self.clock = clock or MonotonicClock()
        self.script: Script | None = None
        self._script_stamp: tuple | None = None
        if config.calls.unknown == "screen" or config.calls.blocked == "counter_offer":
            self._script_stamp = _stamp(script_path(config))
            self.script = load_owner_script(config.prompts.dir, config.prompts.language, self.prompts.ids())
            if config.calls.blocked == "counter_offer" and config.calls.counter_offer_step not in self.script.steps:
                raise ScriptError([f"calls.counter_offer_step: the script has no step named "
                                   f"{config.calls.counter_offer_step!r}"], str(script_path(config)))
        self.turn_settings = TurnSettings(**dataclasses.asdict(config.turns))
        self.recognizer = recognizer
        self._recognizer_injected = recognizer is not None
        # Disk and transcript work for finished turns; never on the audio path.
        self._io = ThreadPoolExecutor(max_workers=2, thread_name_prefix="callbot-io")
        self._pruner_stop = threading.Event()
        self._pruner: threading.Thread | None = None
        self.endpoint = SipEndpoint(sip_settings(config), self.handle_call)

    def start(self) -> None:
        if not self._recognizer_injected:
            self.recognizer = load_recognizer(self.config)
        self.store.start()
        interrupted = self.store.finalize_interrupted()
        if interrupted:
            log.warning("finalized %d call(s) left open by an earlier run as 'interrupted'", interrupted)
        try:
            self.endpoint.start()
        except Exception:
            self.store.close()
            raise
        self._pruner_stop.clear()
        self._pruner = threading.Thread(target=self._prune_daily, name="callbot-retention", daemon=True)
        self._pruner.start()

    def _prune_daily(self) -> None:
        """Apply the retention rule now and once a day (``[retention] days``)."""
        from callbot.privacy import prune

        retention = self.config.retention
        while True:
            if retention.days:
                try:
                    report = prune(self.store, self.config.storage.recordings, retention.days,
                                   keep_call_rows=retention.keep_call_rows)
                    if report.calls:
                        log.info("retention: erased what was said in %d call(s) older than %d days "
                                 "(%d recordings)", report.calls, retention.days, report.recordings)
                    for problem in report.problems:
                        log.warning("retention: %s", problem)
                except Exception:
                    log.exception("retention run failed; trying again in a day")
            if self._pruner_stop.wait(PRUNE_INTERVAL):
                return

    def stop(self) -> None:
        self._pruner_stop.set()
        try:
            self.endpoint.stop()
        finally:
            if self._pruner is not None:
                self._pruner.join(PRUNER_JOIN_TIMEOUT)  # a running prune finishes its writes first
            self._io.shutdown(wait=True)
            close = getattr(self.recognizer, "close", None)
            if close and not self._recognizer_injected:
                close()
            self.store.close()

    def __enter__(self) -> "Bot":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- one call -----------------------------------------------------------
    def refresh(self) -> None:
        """Pick up edited prompts and an edited script (between calls; no restart).

        A broken edit is logged and the last good prompts and script stay in use.
        """
        prompts = self.prompts if self._prompts_injected else self.prompts.refreshed()
        script = self.script
        if script is not None:
            stamp = _stamp(script_path(self.config))
            if prompts is not self.prompts or stamp != self._script_stamp:
                try:
                    script = load_owner_script(self.config.prompts.dir, self.config.prompts.language, prompts.ids())
                    log.info("script %s reloaded", script_path(self.config))
                except ScriptError as exc:
                    if stamp != self._script_stamp:
                        log.error("the edited script is not used (the previous one stays): %s", exc)
                    self._script_stamp = stamp
                    return
                self._script_stamp = stamp
        self.prompts, self.script = prompts, script

    def handle_call(self, call: IncomingCall) -> None:
        """Runs on the call's own thread from INVITE to the final log write."""
        try:
            self.refresh()
        except Exception:  # never let a reload problem cost a call
            log.exception("reloading prompts/script failed; using the loaded ones")
        caller = identify_raw(call.raw_invite, self.config.phone.default_region)
        calllog = _CallLog(self.store, self._insert_row(call, caller))
        outcome = "error"
        try:
            calls = self.config.calls
            decision = policy.decide(
                caller, calls.withheld, calls.unknown, listed=self._listed(caller),
                blocked_mode=calls.blocked, handoff_mode=self.config.handoff.mode,
            )
            calllog.event("decision", decision.rule, decision.reason)
            outcome = self._carry_out(call, decision, calllog)
        except Exception as exc:
            log.exception("call %s failed", calllog.call_id)
            calllog.event("error", type(exc).__name__, str(exc))
            if call.active or call.ringing:
                call.hangup()
        finally:
            calllog.finish(outcome)

    def _listed(self, caller: Caller) -> policy.Listed | None:
        """The caller's allow/block entry, if any (withheld callers are never looked up)."""
        if caller.withheld:
            return None
        try:
            from callbot.lists import match
        except ImportError:  # lists not available in this build
            return None
        try:
            found = match(self.store.active_list_entries(), caller.e164 or caller.number, caller.display_name)
        except Exception:  # a list problem must not cost the call: screen instead, and say why
            log.exception("caller lists could not be read; treating the caller as unknown")
            return None
        return None if found is None else policy.Listed(found.entry.list, found.reason)

    def _insert_row(self, call: IncomingCall, caller: Caller) -> int | None:
        fields = caller_fields(caller, self.config.calls.keep_withheld_evidence)
        try:
            return self.store.start_call(fields, call.sip_call_id).result(timeout=ROW_WRITE_TIMEOUT)
        except Exception:
            # The call is still served; the failure itself is in the log.
            log.exception("could not write the call row for %s", call.sip_call_id)
            return None

    def _carry_out(self, call: IncomingCall, decision: Decision, calllog: _CallLog) -> str:
        if decision.action is Action.REJECT_WITHHELD:
            call.reject(policy.ANONYMITY_DISALLOWED)
            calllog.event("sip", "reject", f"{policy.ANONYMITY_DISALLOWED} Anonymity Disallowed sent, not answered")
            return "withheld_rejected"
        if decision.action is Action.HANDOFF_REJECT:
            status = self.config.handoff.reject_status
            call.reject(status)
            calllog.event("handoff", "reject", f"{status} sent, not answered: the PBX moves on")
            return "rejected"
        if decision.action is Action.HANDOFF_IGNORE:
            calllog.event("handoff", "ignore", "not answered: the PBX keeps ringing the other phones")
            deadline = call.received_at + self.config.sip.max_call_duration
            while not call.cancelled and time.monotonic() < deadline:
                time.sleep(RING_POLL * 5)
            if not call.cancelled:
                call.hangup()  # 480: nobody took it within the maximum call length
                calllog.event("sip", "timeout", "nobody took the call; 480 sent")
                return "timeout"
            calllog.event("sip", "cancel", "the caller was taken elsewhere or gave up (CANCEL)")
            return "handed_off"

        if not self._ring(call):
            calllog.event("sip", "cancel", "caller hung up before the bot answered (CANCEL → 487)")
            return "cancelled"
        call.answer()
        calllog.answered()
        calllog.event("sip", "answer", f"200 OK after {1000 * (time.monotonic() - call.received_at):.0f} ms")

        if decision.action is Action.SCREEN:
            return self._screen(call, calllog)
        if decision.action is Action.COUNTER_BLOCKED:
            return self._screen(call, calllog, start=self.config.calls.counter_offer_step)
        if decision.action is Action.HANDOFF_TRANSFER:
            result = call.transfer(self.config.handoff.transfer_to, timeout=TRANSFER_TIMEOUT)
            calllog.event("handoff", "transfer", result.describe())
            if result.succeeded:
                return "transferred"
            if not call.active:
                return "caller_hung_up"
            calllog.event("handoff", "fallback", "transfer failed: screening the caller instead")
            return self._screen(call, calllog)

        prompt = self.prompts.get(decision.prompt)
        playback = announce_and_hang_up(call, prompt.frames(), self.clock)
        calllog.event(
            "prompt", prompt.id,
            f"played {playback.seconds_sent:.2f} s of {prompt.duration:.2f} s",
        )
        ended_by = call.ended_by or "bot"
        calllog.event("hangup", ended_by, _HANGUP_REASONS.get(ended_by, ended_by))
        if ended_by in ("rtp_timeout", "max_duration"):
            return "timeout"
        if not playback.completed or ended_by == "caller":
            return "caller_hung_up"
        return {Action.ANNOUNCE_WITHHELD: "withheld_rejected", Action.ANNOUNCE_BLOCKED: "blocked"}.get(
            decision.action, "answered")

    def _screen(self, call: IncomingCall, calllog: _CallLog, start: str | None = None) -> str:
        """Run the owner's script: say, listen (record + transcribe), branch, hang up."""
        recording = self.config.storage.record
        runner = ScriptRunner(self.script, CallContext(recording=recording, language=self.config.prompts.language),
                              start=start)
        conversation = Conversation(call, self.clock, self.prompts, self.turn_settings, self.recognizer)
        saved: list[Future] = []
        logged = 0
        outcome = None
        seq = 0
        while call.active:
            action = runner.next_action()
            logged = self._log_trace(calllog, runner, logged)
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
                saved.append(self._io.submit(self._save_caller_turn, calllog, seq, heard, transcript, action.lead))
                if heard.end_reason == "hangup":
                    break
                text = (lambda t=transcript: t()[0]) if heard.transcript is not None else None
                runner.heard(action.field, text, silent=heard.end_reason == "no_speech")
            else:
                outcome = action.outcome
                break
        self._log_trace(calllog, runner, logged)
        if outcome == "message_taken" and self.config.handoff.genuine == "transfer" and call.active:
            result = call.transfer(self.config.handoff.transfer_to, timeout=TRANSFER_TIMEOUT)
            calllog.event("handoff", "transfer", f"genuine caller: {result.describe()}")
            if result.succeeded:
                outcome = "transferred"
        ended_by = call.ended_by or "bot"
        if call.active:
            call.hangup()
        for job in saved:
            job.result()
        self._record_findings(calllog, {f: t for f, t in runner.fields.items() if t})
        calllog.event("hangup", ended_by, _HANGUP_REASONS.get(ended_by, ended_by))
        if ended_by in ("rtp_timeout", "max_duration"):
            return "timeout"
        if ended_by == "transfer":
            return outcome
        if outcome is None or ended_by == "caller":
            return "caller_hung_up"
        return outcome

    @staticmethod
    def _log_trace(calllog: _CallLog, runner: ScriptRunner, logged: int) -> int:
        """Log the runner's branch decisions (say/listen steps are logged with their timing)."""
        trace = runner.trace
        for entry in trace[logged:]:
            if entry.kind in ("branch", "hangup"):
                calllog.event("step", entry.step, f"{entry.kind}: {entry.detail}")
        return len(trace)

    def _transcript_of(self, calllog: _CallLog, heard: CallerTurn) -> tuple[str | None, float | None]:
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

    def _save_caller_turn(self, calllog: _CallLog, seq: int, heard: CallerTurn, transcript: "_Once",
                          lead: bool) -> None:
        """Runs on the I/O worker: wait for the transcript, write the WAV, log the turn (and the lead).

        It waits with ``futures.wait``, not ``result()``: only the script asking
        for the words makes a turn urgent for the decoder (see callbot.speech.asr).
        """
        if heard.transcript is not None:
            futures.wait([heard.transcript], timeout=TRANSCRIPT_TIMEOUT)
        text, confidence = transcript()
        recording = None
        if heard.audio and calllog.call_id is not None and self.config.storage.record:
            relative = Path(str(calllog.call_id)) / f"{seq:02d}-{heard.field}.wav"
            target = Path(self.config.storage.recordings) / relative
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                write_wav(target, heard.audio)
                recording = relative.as_posix()
            except OSError as exc:
                log.error("call %s: cannot write recording %s: %s", calllog.call_id, target, exc)
                calllog.event("error", "recording", f"cannot write {target}: {exc.strerror or exc}")
        calllog.turn(TurnFields(seq, "caller", heard.started_at, heard.duration, field=heard.field, text=text,
                                confidence=confidence, recording=recording, end_reason=heard.end_reason))
        if lead and (heard.audio or text) and calllog.call_id is not None:
            calllog.store.add_lead(calllog.call_id, seq, heard.field, text, recording)

    def _record_findings(self, calllog: _CallLog, texts: dict[str, str]) -> None:
        if not texts:
            reason = "no transcript (nothing said)" if self.recognizer else "no transcript (transcription off)"
            calllog.event("classify", "unclear", reason)
            if calllog.call_id is not None:
                self.store.update_call(calllog.call_id, label="unclear", label_reasons=reason)
            return
        findings = summarize(texts, self.config.prompts.language)
        if findings.person or findings.company:
            calllog.event("extract", "identity",
                          f"person: {findings.person.value if findings.person else '—'}; "
                          f"company: {findings.company.value if findings.company else '—'}")
        calllog.event("classify", findings.label, findings.classification.explain())
        if calllog.call_id is not None:
            self.store.update_call(
                calllog.call_id,
                person=findings.person.value if findings.person else None,
                company=findings.company.value if findings.company else None,
                transcript=findings.transcript,
                label=findings.label,
                label_reasons=findings.classification.explain(),
            )

    def _ring(self, call: IncomingCall) -> bool:
        """Let the call ring for ``answer_delay``; False if the caller gave up."""
        deadline = call.received_at + self.config.sip.answer_delay
        while time.monotonic() < deadline and not call.cancelled:
            time.sleep(RING_POLL)
        return not call.cancelled


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


_HANGUP_REASONS = {
    "bot": "bot sent BYE after the prompt",
    "caller": "caller sent BYE",
    "transfer": "bot handed the call to a person (REFER) and left",
    "rtp_timeout": "no RTP from the caller within sip.rtp_timeout",
    "max_duration": "call reached sip.max_call_duration",
}
