"""The running bot: composes the SIP endpoint, the call handler, the recognizer, the store and the
daily retention pass from the configuration. The per-call work lives in :mod:`callbot.call`.

One call's path: the endpoint hands each INVITE to :meth:`Bot.handle_call` on the call's own
thread → :class:`callbot.call.handler.CallHandler` (row, decision, mechanism, final row).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from callbot.call import policy
from callbot.call.handler import CallHandler
from callbot.call.ports import Clock, MonotonicClock, Recognizer
from callbot.call.screening import Screening
from callbot.config.model import Config
from callbot.errors import ModelError, ScriptError
from callbot.prompts.library import PromptLibrary
from callbot.script.loading import load_owner_script
from callbot.script.loading import script_path as owner_script_path
from callbot.script.model import Script
from callbot.store.store import Store
from callbot.telephony.call import IncomingCall
from callbot.telephony.endpoint import SipEndpoint

log = logging.getLogger("callbot.app")

#: The retention rule runs at start and then this often (seconds).
PRUNE_INTERVAL = 24 * 3600.0
#: How long stopping waits for a retention run in progress.
PRUNER_JOIN_TIMEOUT = 60.0


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
    from callbot.speech.decoder_process import ProcessTranscriber

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
        self.recognizer = recognizer
        self._recognizer_injected = recognizer is not None
        # Disk and transcript work for finished turns; never on the audio path.
        self._io = ThreadPoolExecutor(max_workers=2, thread_name_prefix="callbot-io")
        self._pruner_stop = threading.Event()
        self._pruner: threading.Thread | None = None
        self.handler = self._handler()
        self.endpoint = SipEndpoint(config.sip, self.handle_call)

    def _handler(self) -> CallHandler:
        config = self.config
        screening = Screening(storage=config.storage, handoff=config.handoff, language=config.prompts.language,
                              turns=config.turns, recognizer=self.recognizer,
                              io=self._io, clock=self.clock)
        return CallHandler(calls=config.calls, handoff=config.handoff, sip=config.sip, phone=config.phone,
                           store=self.store, screening=screening, clock=self.clock)

    def start(self) -> None:
        if not self._recognizer_injected:
            self.recognizer = self.handler.screening.recognizer = load_recognizer(self.config)
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
        self.handler.handle(call, self.prompts, self.script)
