"""The running bot: composes the SIP endpoint, the call handler, the recognizer, the store and the
daily retention pass from the configuration. The per-call work lives in :mod:`callbot.call`.

Before anything is opened, :func:`callbot.preflight.preflight` checks what the bot needs (call log,
folders, disk space, prompts, script, speech model, SIP address): the bot refuses to start with
every error it finds at once — the same list `callbot check` prints.

One call's path: the endpoint hands each INVITE to :meth:`Bot.handle_call` on the call's own
thread → :class:`callbot.call.handler.CallHandler` (row, decision, mechanism, final row).
Nothing in front of the 200 OK waits for a file or the database: prompts and script are
re-read by a timer thread (:meth:`Bot.refresh` every ``RELOAD_INTERVAL``), the caller lists
come from :class:`callbot.store.listindex.ListIndex`, the call row is only queued.

Stopping (:meth:`Bot.stop`, what SIGTERM/Ctrl-C to `callbot run` do), in this order, each
wait bounded (together at most ``STOP_TIMEOUT``): new INVITEs get 503 → the endpoint ends
the calls that are up (BYE, outcome ``stopped``) and their handler threads write their rows
→ unregister → the transcriptions in progress finish in the decoder process (which ignores
the signals itself) → the decoder process is closed → the store is closed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from callbot.audio import decode_file
from callbot.botstatus import BotStatus, status_path, write_status
from callbot.call.handler import CallHandler
from callbot.call.later import AfterCallTranscriber
from callbot.call.ports import Clock, MonotonicClock, Recognizer
from callbot.call.screening import Screening
from callbot.config.model import Config
from callbot.errors import ScriptError
from callbot.notify.rules import Planner
from callbot.notify.worker import OutboxWorker
from callbot.preflight import load_recognizer, preflight
from callbot.prompts.library import PromptLibrary
from callbot.script.loading import load_owner_script
from callbot.script.loading import script_path as owner_script_path
from callbot.script.model import Script
from callbot.speech.admission import Admission, capacity_for, measure_rtf
from callbot.store.listindex import ListIndex
from callbot.store.store import Store
from callbot.telephony.call import IncomingCall
from callbot.telephony.endpoint import SipEndpoint
from callbot.telephony.registration import RegistrationState

log = logging.getLogger("callbot.app")

#: The retention rule runs at start and then this often (seconds).
PRUNE_INTERVAL = 24 * 3600.0
#: How long stopping waits for a retention run in progress.
PRUNER_JOIN_TIMEOUT = 60.0
#: Edited prompts and script are looked for this often (seconds), off the INVITE path.
RELOAD_INTERVAL = 1.0
#: Stopping: how long the calls that are up get to end and write their rows (seconds).
STOP_CALLS_TIMEOUT = 15.0
#: Stopping: how long transcriptions in progress get to finish before the decoder is closed.
STOP_TRANSCRIPTS_TIMEOUT = 10.0
#: Stopping: how long closing the decoder process (then killing it) may take.
STOP_DECODER_TIMEOUT = 5.0
#: Stopping: unregistering and closing the SIP sockets (the endpoint's own bound).
STOP_SIP_TIMEOUT = 5.0
#: Stopping: how long a notification being sent gets (within the retention run's wait, which it shares).
STOP_NOTIFY_TIMEOUT = 10.0
#: Stopping: how long the store's writer gets to write what is queued.
STOP_STORE_TIMEOUT = 10.0
#: The longest an orderly stop takes, every bounded wait of stop() added up (the systemd unit's
#: TimeoutStopSec is above it): calls, SIP + reload timer, transcriptions, decoder close (join,
#: kill) + the last call handlers, retention run, store.
STOP_TIMEOUT = (STOP_CALLS_TIMEOUT + 2 * STOP_SIP_TIMEOUT + STOP_TRANSCRIPTS_TIMEOUT + 3 * STOP_DECODER_TIMEOUT
                + PRUNER_JOIN_TIMEOUT + STOP_STORE_TIMEOUT)
#: SIP status for an INVITE that arrives while the bot stops.
STOPPING_STATUS = 503
#: The demo caller's recordings: real speech to measure the recognizer with at start.
DEMO_AUDIO = Path(__file__).resolve().parent / "demo_audio"


def _stamp(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def script_path(config: Config) -> Path:
    return owner_script_path(config.prompts.dir, config.prompts.language)


def bundled_speech() -> bytes:
    """A few seconds of real speech shipped with callbot (the demo caller's), to time the recognizer."""
    return b"".join(decode_file(DEMO_AUDIO / name) for name in ("identity-de.wav", "purpose-de.wav"))


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
        # Everything the bot would refuse to start with, at once (what `callbot check` reports):
        # PreflightError lists every error; warnings are logged. The prompts and script it
        # loaded are the ones used.
        stamp = _stamp(script_path(config))
        report = preflight(config, prompts=prompts, speech=recognizer is None, database=store is None)
        for warning in report.warnings:
            log.warning("%s", warning)
        report.raise_errors(config.source)
        self.store = store or Store(config.storage.database, default_region=config.phone.default_region)
        self._prompts_injected = prompts is not None
        self.prompts = prompts if prompts is not None else report.prompts
        self.clock = clock or MonotonicClock()
        self.script: Script | None = report.script
        self._script_stamp: tuple | None = stamp if report.script is not None else None
        self.recognizer = recognizer
        self._recognizer_injected = recognizer is not None
        # Disk and transcript work for finished turns; never on the audio path.
        self._io = ThreadPoolExecutor(max_workers=2, thread_name_prefix="callbot-io")
        self._pruner_stop = threading.Event()
        self._pruner: threading.Thread | None = None
        #: What a new call uses: (prompts, script), swapped as one by refresh().
        self._loaded = (self.prompts, self.script)
        self._refresh_lock = threading.Lock()
        #: Completed refresh() passes (tests wait for the next one after an edit).
        self.reloads = 0
        self._reloader_stop = threading.Event()
        self._reloader: threading.Thread | None = None
        self.lists = ListIndex(self.store)
        #: Set by stop(): new INVITEs are refused (STOPPING_STATUS).
        self.stopping = threading.Event()
        #: Calls whose handler thread is running (handle_call), guarded by _calls_done.
        self._calls_running = 0
        self._calls_done = threading.Condition()
        #: The notification rules and their sender (callbot.notify), only when a rule can fire.
        self.planner = Planner(config.notify) if config.notify.active else None
        self.notifier: OutboxWorker | None = None
        self.handler = self._handler()
        self.status = BotStatus(pid=os.getpid(), started=time.time(), register=config.sip.register,
                                registrar=f"{config.sip.server}:{config.sip.port}")
        self.endpoint = SipEndpoint(config.sip, self.handle_call, on_refused=self.handler.refused,
                                    on_registration=self._registration_changed)

    def _handler(self) -> CallHandler:
        config = self.config
        screening = Screening(storage=config.storage, handoff=config.handoff, language=config.prompts.language,
                              turns=config.turns, recognizer=self.recognizer,
                              io=self._io, clock=self.clock)
        return CallHandler(calls=config.calls, handoff=config.handoff, sip=config.sip, phone=config.phone,
                           store=self.store, screening=screening, clock=self.clock,
                           list_entries=self.lists.entries, notify=self.planner)

    def start(self) -> None:
        if not self._recognizer_injected:
            self.recognizer = self.handler.screening.recognizer = load_recognizer(self.config)
            if self.recognizer is None and self.config.speech.transcription != "off":
                self.handler.screening.no_words = "no transcript (no speech model installed)"
        self.store.start()
        self._admit_live_calls()
        try:
            self.store.claim_call_ids()  # refuses a second bot on the same database
        except Exception:
            self.store.close()
            raise
        interrupted = self.store.finalize_interrupted()
        if interrupted:
            log.warning("finalized %d call(s) left open by an earlier run as 'interrupted'", interrupted)
        self.lists.start()
        try:
            self.endpoint.start()
        except Exception:
            self.lists.stop()
            self.store.close()
            raise
        self._write_status()
        if self.planner is not None:  # sends what the calls put into the outbox (and what an earlier run left)
            self.notifier = OutboxWorker(self.store, self.config.notify, self.config.storage.recordings,
                                         self.planner.wake, transcripts=self.recognizer is not None)
            self.notifier.start()
        self._reloader_stop.clear()
        self._reloader = threading.Thread(target=self._reload_loop, name="callbot-reload", daemon=True)
        self._reloader.start()
        self._pruner_stop.clear()
        self._pruner = threading.Thread(target=self._prune_daily, name="callbot-retention", daemon=True)
        self._pruner.start()

    def _registration_changed(self, state: RegistrationState) -> None:
        """Keep status.json (``callbot status``, the web page) in step with the registration."""
        self.status.registered, self.status.since = state.registered, state.since
        self.status.last_failure, self.status.last_error = state.last_failure, state.last_error
        self.status.next_try, self.status.granted_expires = state.next_try, state.granted_expires
        self._write_status()

    def _write_status(self) -> None:
        try:
            write_status(status_path(self.config.storage.database), self.status)
        except OSError as exc:
            log.warning("could not write the bot's status file: %s", exc)

    def _admit_live_calls(self) -> None:
        """How many callers the decoders follow live (``speech.live_calls``; auto = measured now)."""
        screening, recognizer = self.handler.screening, self.recognizer
        if recognizer is None:
            return
        live = self.config.speech.live_calls
        if live is None:
            if self._recognizer_injected:  # a recognizer handed in (tests): every call live
                return
            rtf = measure_rtf(recognizer, bundled_speech())
            decoders = getattr(recognizer, "decoders", 1)
            live = capacity_for(rtf, decoders)
            log.info("speech model real-time factor %.2f on %d decoder%s: live recognition for up to %d caller%s "
                     "at once; more are recorded now and transcribed after the call",
                     rtf, decoders, "" if decoders == 1 else "s", live, "" if live == 1 else "s")
        else:
            log.info("live recognition for up to %d caller(s) at once (speech.live_calls)", live)
        admission = Admission(live)
        screening.admission = admission
        screening.later = AfterCallTranscriber(recognizer, admission, self.store, self.config.prompts.language)

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
        """Stop in order (see the module docstring); every wait is bounded, each step runs
        even if an earlier one failed, and what is left undone is logged."""
        self.stopping.set()
        self._pruner_stop.set()
        self._reloader_stop.set()
        try:
            self.end_calls(STOP_CALLS_TIMEOUT)
        finally:
            try:
                self.endpoint.stop(STOP_SIP_TIMEOUT)  # unregister, close the sockets
            finally:
                self._stop_rest()

    def _stop_rest(self) -> None:
        if self._reloader is not None:
            self._reloader.join(STOP_SIP_TIMEOUT)
        self.lists.stop()
        self.finish_transcriptions(STOP_TRANSCRIPTS_TIMEOUT)
        self.close_recognizer()
        self.wait_calls(STOP_DECODER_TIMEOUT)  # handlers that waited for words the decoder no longer gives
        started = time.monotonic()
        if self.notifier is not None:  # an attempt under way ends and is recorded (else: settled at next start)
            self.notifier.stop(STOP_NOTIFY_TIMEOUT)
        if self._pruner is not None:  # a running prune finishes its writes first
            self._pruner.join(max(0.0, PRUNER_JOIN_TIMEOUT - (time.monotonic() - started)))
        self._io.shutdown(wait=True)
        self.store.close(STOP_STORE_TIMEOUT)
        self.status.running = False
        self._write_status()

    def end_calls(self, timeout: float) -> int:
        """End the calls that are up (the endpoint sends BYE; they end with outcome ``stopped``)
        and wait up to ``timeout`` s for their handler threads to write their rows.
        Returns how many calls the endpoint ended."""
        started, ended = time.monotonic(), 0
        try:
            ended = self.endpoint.end_calls()
        except Exception:
            log.exception("ending the calls failed")
        left = self.wait_calls(max(0.0, timeout - (time.monotonic() - started)))
        if left:
            log.warning("stopping: %d call(s) still writing after %.0f s", left, timeout)
        elif ended:
            log.info("stopping: %d call(s) ended and logged in %.1f s", ended, time.monotonic() - started)
        return ended

    def calls_running(self) -> int:
        """Calls whose handler thread has not finished (it writes the final row last)."""
        with self._calls_done:
            return self._calls_running

    def wait_calls(self, timeout: float) -> int:
        """Wait up to ``timeout`` s until no call handler runs; returns how many still do."""
        with self._calls_done:
            self._calls_done.wait_for(lambda: self._calls_running == 0, timeout)
            return self._calls_running

    def finish_transcriptions(self, timeout: float) -> int:
        """Let the transcriptions in progress finish (up to ``timeout`` s in all): the call being
        transcribed after its end, then every turn in the decoder process; returns how many were left."""
        deadline = time.monotonic() + timeout
        if self.handler.screening.later is not None:
            self.handler.screening.later.close(timeout)
        drain = getattr(self.recognizer, "drain", None)
        return drain(max(0.0, deadline - time.monotonic())) if drain else 0

    def close_recognizer(self) -> None:
        """Close the decoder process (the bot's own recognizer only, not one handed in)."""
        close = getattr(self.recognizer, "close", None)
        if close and not self._recognizer_injected:
            close(STOP_DECODER_TIMEOUT)

    def __enter__(self) -> "Bot":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- one call -----------------------------------------------------------
    def _reload_loop(self) -> None:
        """The timer that picks up edits, off the INVITE path (``RELOAD_INTERVAL``)."""
        while not self._reloader_stop.wait(RELOAD_INTERVAL):
            try:
                self.refresh()
            except Exception:  # never let a reload problem stop the timer
                log.exception("reloading prompts/script failed; using the loaded ones")

    def refresh(self) -> None:
        """Pick up edited prompts and an edited script (no restart; the timer thread runs it).

        A broken edit is logged and the last good prompts and script stay in use.
        """
        with self._refresh_lock:
            try:
                self._refresh()
            finally:
                self.reloads += 1

    def _refresh(self) -> None:
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
        self._loaded = (prompts, script)

    def handle_call(self, call: IncomingCall) -> None:
        """Runs on the call's own thread from INVITE to the final log write.

        Takes the prompts and script loaded last; nothing is re-read here. While the bot
        stops, a new call is refused (``STOPPING_STATUS``); stop() waits for the others."""
        with self._calls_done:
            if self.stopping.is_set():
                call.reject(STOPPING_STATUS)
                self.handler.refused(call.raw_invite, STOPPING_STATUS, "the bot is stopping")
                return
            self._calls_running += 1
        try:
            prompts, script = self._loaded
            self.handler.handle(call, prompts, script)
        finally:
            with self._calls_done:
                self._calls_running -= 1
                self._calls_done.notify_all()
