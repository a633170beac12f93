"""The sender: one thread that works through the outbox, with retries, backoff and proof of delivery.

:class:`OutboxWorker` runs inside ``callbot run`` (started and stopped by :mod:`callbot.app`). It
wakes when a finished call's notifications were committed (:class:`callbot.notify.rules.Planner`)
and at the latest every ``POLL`` seconds, takes the rows that are due and tries each once:

1. ``outbox_begin`` — the row is ``sending``, an attempt row is written (waited for);
2. the mail (:mod:`callbot.notify.smtp`) or the POST (:mod:`callbot.notify.webhook`), built afresh
   from the call log; just before the message is handed over (SMTP: before the final dot)
   ``outbox_stage(final)`` is written and waited for;
3. ``outbox_end`` with the server's answer: ``delivered``; ``retry`` after a backoff of
   ``BACKOFF_FIRST`` doubling to ``BACKOFF_CAP`` (4xx, no connection, timeouts); ``failed`` at
   once on a 5xx, or once a row has been retried for ``notify.give_up_hours``.

Crashes and duplicates (the bot killed at any point): at the next start :meth:`OutboxWorker.start`
runs ``outbox_recover`` before sending anything. A mail whose last attempt had not reached
``final`` was never complete at the server (it drops a transaction without its final dot), so it
is sent again — same Message-ID, delivered once. A mail whose attempt had reached ``final`` is
``unconfirmed``: the server had all of it and most likely delivered it; it is NOT sent again
(that would be the duplicate) and shows among the failed notifications, to be checked. So a mail
is never delivered twice and never lost silently; the window in which a kill makes it
``unconfirmed`` is from the final dot to the commit of the server's answer (milliseconds).
Webhooks are resent in that case (at least once), with the same ``X-Callbot-Delivery`` id.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta
from pathlib import Path

from callbot.notify.answer import FAILED, RETRY, Answer, HandOverRefused
from callbot.notify.content import CallSummary
from callbot.notify.mail import build_mail
from callbot.notify.settings import NotifySettings
from callbot.notify.smtp import send_mail
from callbot.notify.webhook import post
from callbot.store.outbox import Notification
from callbot.store.store import Store
from callbot.times import format_time, parse_time, utc_now

log = logging.getLogger("callbot.notify")

BACKOFF_FIRST = 60.0
BACKOFF_CAP = 3600.0
#: Rows are looked for at least this often (seconds), besides the wake-up after each call.
POLL = 30.0
#: How long an attempt waits for the call log to record its progress (seconds).
WRITE_TIMEOUT = 20.0


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones: 60, 120, 240 … at most 3600."""
    return min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** max(0, attempts - 1))


def describe(entry: Notification) -> str:
    return f"notification {entry.id} ({entry.channel} to {entry.target}, call {entry.call_id})"


#: How long a notification waits for the transcripts of its call (after-call transcription,
#: a slow decoder) before it goes out with what there is (seconds), and how often it looks.
WORDS_WAIT = 180.0
WORDS_LOOK = 10.0


class OutboxWorker:
    def __init__(self, store: Store, settings: NotifySettings, recordings: Path,
                 wake: threading.Event | None = None, ssl_context: ssl.SSLContext | None = None,
                 clock: Callable[[], datetime] = utc_now, transcripts: bool = False):
        #: transcripts: the bot transcribes callers, so a mail waits (up to WORDS_WAIT) for the words.
        self.transcripts = transcripts
        self.store = store
        self.settings = settings
        self.recordings = Path(recordings)
        self.wake = wake or threading.Event()
        self.ssl_context = ssl_context
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Settle what a dead sender left half done (see the module docstring), then start."""
        self.recover()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="callbot-notify", daemon=True)
        self._thread.start()

    def recover(self) -> None:
        try:
            settled = self.store.outbox_recover().result(WRITE_TIMEOUT)
        except FutureTimeout:
            log.warning("the call log did not take writes within %.0f s: notifications an earlier run "
                        "left half sent are settled once it does", WRITE_TIMEOUT)
            return
        for outbox_id, result in settled:
            if result == "unconfirmed":
                log.error("notification %s: the bot stopped after the mail server had the whole mail, "
                          "before its answer was recorded; not sent again — marked unconfirmed", outbox_id)
            else:
                log.warning("notification %s: interrupted by the last stop; sending it again", outbox_id)

    def stop(self, timeout: float) -> bool:
        """Stop after the attempt in progress (waits at most ``timeout`` s); False if it still runs
        (it is settled at the next start)."""
        self._stop.set()
        self.wake.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        if thread.is_alive():
            log.warning("stopping: a notification is still being sent after %.0f s; "
                        "it is settled at the next start", timeout)
            return False
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            self.wake.clear()
            try:
                self.send_due()
            except Exception:
                log.exception("the notification sender failed; trying again in %.0f s", POLL)
            self.wake.wait(self._pause())

    def _pause(self) -> float:
        try:
            due = self.store.next_notification_due()
        except Exception:
            return POLL
        if due is None:
            return POLL
        return max(0.05, min(POLL, (parse_time(due) - self.clock()).total_seconds()))

    # -- sending --------------------------------------------------------------------------

    def send_due(self) -> int:
        """Try every row that is due once; returns how many were tried."""
        tried = 0
        while not self._stop.is_set():
            due = self.store.due_notifications(format_time(self.clock()))
            if not due:
                return tried
            for entry in due:
                if self._stop.is_set():
                    return tried
                if not self.attempt(entry):
                    return tried  # the call log does not take writes: later
                tried += 1
        return tried

    def words_pending(self, entry: Notification) -> bool:
        """The call's caller turns are recorded but not all transcribed yet, and the notification is
        younger than WORDS_WAIT: the mail should carry the words, so it waits a little."""
        if not self.transcripts or entry.attempts:
            return False
        if (self.clock() - parse_time(entry.created_at)).total_seconds() >= WORDS_WAIT:
            return False
        return any(t.speaker == "caller" and t.recording and t.text is None and t.end_reason != "no_speech"
                   for t in self.store.turns(entry.call_id))

    def attempt(self, entry: Notification) -> bool:
        """One attempt at ``entry``, recorded; False when the call log would not record it."""
        if self.words_pending(entry):
            later = format_time(self.clock() + timedelta(seconds=WORDS_LOOK))
            self.store.outbox_postpone(entry.id, later).result(WRITE_TIMEOUT)
            return True
        try:
            attempt_id = self.store.outbox_begin(entry.id).result(WRITE_TIMEOUT)
        except FutureTimeout:
            log.warning("%s: the call log does not take writes; not sent now", describe(entry))
            return False
        try:
            answer = self._send(entry, attempt_id)
        except Exception as exc:  # a bug must not stop the sender: retried, and said
            log.exception("%s: sending failed", describe(entry))
            answer = Answer(RETRY, f"callbot failed: {exc.__class__.__name__}: {exc}")
        now = self.clock()
        next_at = None
        if answer.result == RETRY:
            age = now - parse_time(entry.created_at)
            if age >= timedelta(hours=self.settings.give_up_hours):
                answer = Answer(FAILED, f"given up after {entry.attempts + 1} attempts in "
                                        f"{age.total_seconds() / 3600:.1f} h; last: {answer.text}")
            else:
                next_at = format_time(now + timedelta(seconds=backoff(entry.attempts + 1)))
        self.store.outbox_end(entry.id, attempt_id, answer.result, answer.text, next_at).result(WRITE_TIMEOUT)
        level = {"delivered": logging.INFO, "retry": logging.WARNING}.get(answer.result, logging.ERROR)
        log.log(level, "%s: %s: %s%s", describe(entry), answer.result, answer.text,
                f" (next try {next_at})" if next_at else "")
        return True

    def _stage(self, attempt_id: int) -> None:
        try:
            self.store.outbox_stage(attempt_id, "final").result(WRITE_TIMEOUT)
        except Exception as exc:
            raise HandOverRefused(f"the call log did not record the attempt ({exc or 'timeout'})") from None

    def _send(self, entry: Notification, attempt_id: int) -> Answer:
        summary = CallSummary.read(self.store, entry.call_id)
        if summary is None:
            return Answer(FAILED, f"call {entry.call_id} is no longer in the call log")
        stage = lambda: self._stage(attempt_id)  # noqa: E731
        if entry.channel == "mail":
            message = build_mail(summary, entry, self.settings, self.recordings, self.clock())
            return send_mail(self.settings, message, entry.target, stage, self.ssl_context)
        payload = {"event": "call.finished", "delivery": entry.message_id.strip("<>"), "rule": entry.rule,
                   "title": summary.subject(entry.language),
                   "message": "\n".join(summary.lines(self.settings, entry.language)[2:]),
                   "call": summary.to_json(self.settings, entry.language)}
        try:
            return post(entry.target, payload, self.settings.webhook_secret, entry.message_id.strip("<>"), stage)
        except HandOverRefused as exc:
            return Answer(RETRY, f"not sent: {exc}")
