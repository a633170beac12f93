"""What became of a call's notifications, for people: :func:`deliveries` (``callbot calls show``,
the call's page) and :func:`failed` (the inbox page: a notification that finally failed is never
dropped silently). One line per notification, e.g. "Mail to buero@example.de delivered 10:32:05
(250 2.0.0 Ok: queued as 4Xyz)", and one line per attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from callbot.i18n import gettext
from callbot.store.outbox import Attempt, Notification
from callbot.store.store import Store
from callbot.times import parse_time

#: The state texts (msgids); {what} is "Mail to …" or "Webhook to …".
STATE_TEXTS = {
    "delivered": "{what} delivered {time} ({answer})",
    "failed": "{what} failed {time}: {answer}",
    "unconfirmed": "{what} not confirmed {time}: {answer}",
    "sending": "{what} is being sent",
    "waiting": "{what} waiting to be sent at {time}",
    "retrying": "{what} not delivered yet, next try {time} (last answer: {answer})",
}
RESULT_TEXTS = {"delivered": "delivered", "retry": "will be retried", "failed": "failed",
                "interrupted": "interrupted", "unconfirmed": "not confirmed", None: "under way"}


def _clock(stamp: str | None, tz: ZoneInfo, with_date: bool = False) -> str:
    if not stamp:
        return ""
    local = parse_time(stamp).astimezone(tz)
    return f"{local:%d.%m.%Y %H:%M:%S}" if with_date else f"{local:%H:%M:%S}"


@dataclass(frozen=True)
class Delivery:
    notification: Notification
    line: str                    # what became of it, one line
    attempts: tuple[str, ...]    # one line per attempt: time, result, the server's answer

    @property
    def state(self) -> str:
        return self.notification.state

    @property
    def failed(self) -> bool:
        return self.notification.state in ("failed", "unconfirmed")


def describe(n: Notification, language: str = "de", timezone: str = "Europe/Berlin") -> Delivery:
    tz = ZoneInfo(timezone)
    g = lambda text: gettext(text, language)  # noqa: E731
    what = (g("Mail to {target}") if n.channel == "mail" else g("Webhook to {target}")).format(target=n.target)
    last = n.history[-1].answer if n.history else ""
    if n.state in ("delivered", "failed", "unconfirmed"):
        key, time = n.state, _clock(n.final_at, tz)
        answer = n.final_answer or ""
    elif n.state == "sending":
        key, time, answer = "sending", "", ""
    else:
        key = "retrying" if n.attempts else "waiting"
        time, answer = _clock(n.next_attempt_at, tz, with_date=True), last or ""
    line = g(STATE_TEXTS[key]).format(what=what, time=time, answer=answer)
    return Delivery(n, line, tuple(_attempt_line(a, tz, g) for a in n.history))


def _attempt_line(a: Attempt, tz: ZoneInfo, g) -> str:
    result = g(RESULT_TEXTS.get(a.result, a.result or ""))
    return f"{_clock(a.started_at, tz, with_date=True)}  {result}" + (f": {a.answer}" if a.answer else "")


def deliveries(store: Store, call_id: int, language: str = "de", timezone: str = "Europe/Berlin") -> list[Delivery]:
    """Every notification of call ``call_id`` with its attempts, in rule order."""
    return [describe(n, language, timezone) for n in store.notifications(call_id)]


def failed(store: Store, language: str = "de", timezone: str = "Europe/Berlin", limit: int = 100) -> list[Delivery]:
    """Notifications that finally failed or are unconfirmed, newest first (for the inbox page)."""
    return [describe(n, language, timezone) for n in store.failed_notifications(limit)]
