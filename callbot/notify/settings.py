"""The ``[notify]`` settings: the mail server, the webhook secret, and the rules (``[[notify.rule]]``).

Defined here with the component that uses them, filled by :mod:`callbot.config.sections.notify`,
which checks each value against the choices below. Imports nothing of callbot but the outcomes.
"""

from __future__ import annotations

#: What a rule may list besides the call outcomes: things that happened on the way.
#: transfer_failed: the bot tried to hand the caller to a person (REFER) and it failed.
MARKS = frozenset({"transfer_failed"})

from dataclasses import dataclass, field

from callbot.outcome import OUTCOMES

#: notify.smtp_security: STARTTLS on the submission port, TLS from the first byte, or plain.
SECURITY_MODES = ("starttls", "tls", "none")
#: The usual port of each mode (the default of smtp_port is 587, STARTTLS).
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
#: notify.rule.weekdays, Monday first (datetime.weekday() order).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: notify.rule.language
LANGUAGES = ("de", "en")
__all__ = ["OUTCOMES"]  # re-exported for the config (the rule outcomes)
SMTP_PASSWORD_ENV = "CALLBOT_SMTP_PASSWORD"
WEBHOOK_SECRET_ENV = "CALLBOT_WEBHOOK_SECRET"


@dataclass(frozen=True)
class QuietHours:
    """A daily span of local time (minutes after midnight) in which nothing is sent; may wrap
    midnight (22:00-07:00)."""

    start: int
    end: int

    def contains(self, minute: int) -> bool:
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


@dataclass(frozen=True)
class NotifyRule:
    """One ``[[notify.rule]]``: on which outcomes, to whom, when."""

    outcomes: tuple[str, ...] = ()           # call outcomes (callbot.outcome) this rule fires on; () = off
    mail_to: tuple[str, ...] = ()            # e-mail addresses, one message each
    webhook: str = ""                        # http(s) URL for a signed JSON POST; "" = none
    quiet_hours: QuietHours | None = None    # held back while it lasts, sent when it ends
    weekdays: tuple[str, ...] = ()           # the rule fires on these days only; () = every day
    attach_recordings: bool = True           # attach the caller's recordings to the mail
    language: str = "de"                     # the mail's language

    def to_plain(self) -> dict:
        return {"outcomes": list(self.outcomes), "mail_to": list(self.mail_to), "webhook": self.webhook,
                "quiet_hours": str(self.quiet_hours) if self.quiet_hours else "",
                "weekdays": list(self.weekdays), "attach_recordings": self.attach_recordings,
                "language": self.language}


@dataclass(frozen=True)
class NotifySettings:
    smtp_host: str = ""                      # the office's mail server; "" = no mail
    smtp_port: int = 587
    smtp_security: str = "starttls"          # "starttls", "tls" or "none"
    smtp_user: str = ""                      # "" = no AUTH
    smtp_password: str = field(default="", repr=False)   # env CALLBOT_SMTP_PASSWORD overrides
    mail_from: str = ""                      # the sender address, e.g. "callbot@example.de"
    webhook_secret: str = field(default="", repr=False)  # env CALLBOT_WEBHOOK_SECRET overrides
    page_url: str = ""                       # the review page's base URL, for links ("" = no link)
    timezone: str = "Europe/Berlin"          # quiet hours, weekdays and times in mails
    max_attachments_mb: float = 10.0         # recordings beyond this (together) are not attached
    give_up_hours: float = 48.0              # a notification that failed for this long is given up
    rule: tuple[NotifyRule, ...] = ()

    @property
    def active(self) -> bool:
        """Whether any rule can fire (the worker runs only then)."""
        return any(r.outcomes and (r.mail_to or r.webhook) for r in self.rule)
