"""Which notifications a finished call gets: the ``[[notify.rule]]`` matching its outcome, day
and hour → outbox rows (plain dicts) that the call log writes with the outcome.

:class:`Planner` is what the call layer holds (handed in by :mod:`callbot.app`): at the end of a
call, :meth:`Planner.plan` gives the rows for :meth:`callbot.store.calls.Calls.finish_call`,
which commits them in the transaction that sets the outcome; :meth:`Planner.queued` (called once
that write is committed) wakes the sender (:mod:`callbot.notify.worker`). Nothing is sent here.

* ``weekdays``: the rule fires only on those days (the call's end, in ``notify.timezone``).
* ``quiet_hours``: a notification of a call ending inside them is held back until they end
  (it is written at once, with ``not_before`` = the end of the quiet hours).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from callbot.notify.settings import WEEKDAYS, NotifyRule, NotifySettings, QuietHours
from callbot.times import format_time


def zone(settings: NotifySettings):
    try:
        return ZoneInfo(settings.timezone)
    except Exception:  # checked by the config; a broken tz database must not cost the call
        return timezone.utc


def quiet_until(quiet: QuietHours, local: datetime) -> datetime | None:
    """The end of the quiet hours ``local`` lies in (local time), or None when it is outside them."""
    minute = local.hour * 60 + local.minute
    if not quiet.contains(minute):
        return None
    end = local.replace(hour=quiet.end // 60, minute=quiet.end % 60, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end


def rule_fires(rule: NotifyRule, outcome: str, local: datetime, marks: frozenset[str] = frozenset()) -> bool:
    """The rule lists the call's outcome or one of its marks (``transfer_failed``), on its weekdays."""
    if outcome not in rule.outcomes and not marks & set(rule.outcomes):
        return False
    return not rule.weekdays or WEEKDAYS[local.weekday()] in rule.weekdays


def message_id(settings: NotifySettings, call_id: int, rule: int, channel: str, n: int, ended: datetime) -> str:
    """Fixed per call, rule and recipient; the call's end time keeps it unique when a call log
    is started afresh (call ids begin at 1 again)."""
    domain = settings.mail_from.rpartition("@")[2].strip("<> ") or "callbot.invalid"
    stamp = ended.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S") + f"{ended.microsecond // 1000:03d}"
    return f"<callbot.{stamp}.call{call_id}.rule{rule}.{channel}{n}@{domain}>"


def plan(settings: NotifySettings, call_id: int, outcome: str, ended: datetime,
         marks: frozenset[str] = frozenset()) -> list[dict]:
    """The outbox rows of call ``call_id`` that ended at ``ended`` (UTC) with ``outcome`` (and the
    ``marks`` of what happened on the way, e.g. ``transfer_failed``)."""
    local = ended.astimezone(zone(settings))
    rows: list[dict] = []
    for number, rule in enumerate(settings.rule, start=1):
        if not rule_fires(rule, outcome, local, marks):
            continue
        held = quiet_until(rule.quiet_hours, local) if rule.quiet_hours else None
        not_before = format_time(held) if held else None
        targets = [("mail", address) for address in rule.mail_to if settings.smtp_host]
        if rule.webhook:
            targets.append(("webhook", rule.webhook))
        for n, (channel, target) in enumerate(targets, start=1):
            rows.append({"rule": number, "channel": channel, "target": target, "language": rule.language,
                         "attach": rule.attach_recordings and channel == "mail",
                         "message_id": message_id(settings, call_id, number, channel, n, ended),
                         "not_before": not_before})
    return rows


class Planner:
    """The call layer's handle on the notifications (see the module docstring)."""

    def __init__(self, settings: NotifySettings):
        self.settings = settings
        #: Set when a call's notifications were committed; the sender waits on it.
        self.wake = threading.Event()

    def plan(self, call_id: int, outcome: str, ended: datetime, marks: frozenset[str] = frozenset()) -> list[dict]:
        return plan(self.settings, call_id, outcome, ended, marks)

    def queued(self) -> None:
        self.wake.set()
