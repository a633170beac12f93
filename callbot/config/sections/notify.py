"""The ``[notify]`` section and its ``[[notify.rule]]`` tables -> :class:`callbot.notify.settings.NotifySettings`.

``CALLBOT_SMTP_PASSWORD`` and ``CALLBOT_WEBHOOK_SECRET`` (when set and non-empty) override
``notify.smtp_password`` / ``notify.webhook_secret``; neither is ever echoed in a problem. A
problem in a rule names it by its position: ``notify.rule[2].outcomes: …``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from callbot.config.reader import MISSING, Reader, describe, suggest
from callbot.notify.settings import (
    MARKS,
    DEFAULT_PORTS,
    LANGUAGES,
    OUTCOMES,
    SECURITY_MODES,
    SMTP_PASSWORD_ENV,
    WEBHOOK_SECRET_ENV,
    WEEKDAYS,
    NotifyRule,
    NotifySettings,
    QuietHours,
)


_ADDRESS = re.compile(r"^[^@\s<>\"(),;:]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]{2,}$")
_QUIET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
RULE_KEYS = ["outcomes", "mail_to", "webhook", "quiet_hours", "weekdays", "attach_recordings", "language"]
MAX_RULES = 50


def _url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def load_notify(r: Reader, t: dict[str, Any], env: Mapping[str, str]) -> NotifySettings:
    d = NotifySettings()
    s = "notify"
    host = r.string(t, s, "smtp_host", d.smtp_host).strip()
    security = r.choice(t, s, "smtp_security", d.smtp_security, SECURITY_MODES)
    port = r.integer(t, s, "smtp_port", DEFAULT_PORTS[security], 1, 65535)
    user = r.string(t, s, "smtp_user", d.smtp_user).strip()
    password = r.string(t, s, "smtp_password", d.smtp_password)
    if env.get(SMTP_PASSWORD_ENV):
        password = env[SMTP_PASSWORD_ENV]
    if any(c in password for c in "\r\n\x00"):
        r.add(f"{SMTP_PASSWORD_ENV if env.get(SMTP_PASSWORD_ENV) else 'notify.smtp_password'}: "
              f"the password must not contain line breaks or NUL characters")
    mail_from = r.string(t, s, "mail_from", d.mail_from).strip()
    if mail_from and not _ADDRESS.match(mail_from):
        r.add(f"notify.mail_from: {describe(mail_from)} is not an e-mail address — write the sender "
              f"address only, e.g. \"callbot@example.de\"")
    secret = r.string(t, s, "webhook_secret", d.webhook_secret)
    if env.get(WEBHOOK_SECRET_ENV):
        secret = env[WEBHOOK_SECRET_ENV]
    page_url = r.string(t, s, "page_url", d.page_url).strip()
    if page_url and not _url(page_url):
        r.add(f"notify.page_url: {describe(page_url)} is not a web address — give the address the office "
              f"opens the review page at, e.g. \"https://callbot.example.de\" (or \"\" for no link)")
    tz = r.string(t, s, "timezone", d.timezone).strip()
    try:
        ZoneInfo(tz)
    except Exception:
        r.add(f"notify.timezone: {describe(tz)} is not a time zone — use a name such as \"Europe/Berlin\"")
        tz = d.timezone
    rules = _rules(r, t.get("rule", MISSING))

    mails = [i for i, rule in enumerate(rules, 1) if rule.outcomes and rule.mail_to]
    hooks = [i for i, rule in enumerate(rules, 1) if rule.outcomes and rule.webhook]
    if mails and not host:
        r.add(f"notify.smtp_host: rule {mails[0]} sends mail but no mail server is set — give the office's "
              f"SMTP server, e.g. smtp_host = \"smtp.mailbox.org\"")
    if mails and not mail_from:
        r.add(f"notify.mail_from: rule {mails[0]} sends mail but no sender is set — e.g. "
              f"mail_from = \"callbot@example.de\" (an address the mail server lets smtp_user send as)")
    if user and not password:
        r.add(f"notify.smtp_user: is set but there is no password — set the environment variable "
              f"{SMTP_PASSWORD_ENV}, or leave smtp_user empty for a server without login")
    if hooks and not secret:
        r.add(f"notify.webhook_secret: rule {hooks[0]} has a webhook but no secret to sign it with — set the "
              f"environment variable {WEBHOOK_SECRET_ENV} (e.g. python3 -c 'import secrets; "
              f"print(secrets.token_urlsafe(32))')")
    return NotifySettings(
        smtp_host=host, smtp_port=port, smtp_security=security, smtp_user=user, smtp_password=password,
        mail_from=mail_from, webhook_secret=secret, page_url=page_url, timezone=tz,
        max_attachments_mb=r.number(t, s, "max_attachments_mb", d.max_attachments_mb, lo=0, hi=100,
                                    unit="megabytes"),
        give_up_hours=r.number(t, s, "give_up_hours", d.give_up_hours, lo=1, hi=24 * 30, unit="hours"),
        rule=tuple(rules),
    )


def _rules(r: Reader, value: Any) -> list[NotifyRule]:
    if value is MISSING:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        r.add(f"notify.rule: expected [[notify.rule]] tables, got {describe(value)} — write each rule as "
              f"a [[notify.rule]] header followed by its keys (outcomes, mail_to, webhook …)")
        return []
    if len(value) > MAX_RULES:
        r.add(f"notify.rule: at most {MAX_RULES} rules, got {len(value)}")
        return []
    return [_rule(r, table, n) for n, table in enumerate(value, start=1)]


def _strings(r: Reader, table: dict, path: str, key: str, example: str) -> list[str]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        r.add(f"{path}.{key}: expected a list of texts such as {example}, got {describe(value)}")
        return []
    return [v.strip() for v in value if v.strip()]


def _rule(r: Reader, table: dict[str, Any], n: int) -> NotifyRule:
    p = f"notify.rule[{n}]"
    for key in table:
        if key not in RULE_KEYS:
            r.add(f"{p}.{key}: unknown key — {suggest(key, RULE_KEYS, 'keys')}")
    d = NotifyRule()
    outcomes = []
    for o in _strings(r, table, p, "outcomes", '["message_taken", "cold_call_countered"]'):
        if o.lower() in OUTCOMES or o.lower() in MARKS:
            outcomes.append(o.lower())
        else:
            r.add(f"{p}.outcomes: {describe(o)} is not a call outcome — "
                  f"{suggest(o, sorted(OUTCOMES | MARKS), 'outcomes')}")
    mail_to = []
    for address in _strings(r, table, p, "mail_to", '["buero@example.de"]'):
        if _ADDRESS.match(address):
            mail_to.append(address)
        else:
            r.add(f"{p}.mail_to: {describe(address)} is not an e-mail address — write the address only, "
                  f"e.g. \"buero@example.de\"")
    webhook = table.get("webhook", "")
    if not isinstance(webhook, str) or (webhook.strip() and not _url(webhook.strip())):
        r.add(f"{p}.webhook: expected an http:// or https:// address such as \"https://ntfy.example.de/buero\", "
              f"got {describe(webhook)}")
        webhook = ""
    webhook = webhook.strip()
    if outcomes and not mail_to and not webhook:
        r.add(f"{p}: the rule fires on {', '.join(outcomes)} but sends nothing — give mail_to or webhook "
              f"(or outcomes = [] to switch it off)")
    weekdays = []
    for day in _strings(r, table, p, "weekdays", '["mon", "tue", "wed", "thu", "fri"]'):
        if day.lower()[:3] in WEEKDAYS and WEEKDAYS.index(day.lower()[:3]) not in weekdays:
            weekdays.append(WEEKDAYS.index(day.lower()[:3]))
        elif day.lower()[:3] not in WEEKDAYS:
            r.add(f"{p}.weekdays: {describe(day)} is not a weekday — use {', '.join(WEEKDAYS)}")
    attach = table.get("attach_recordings", d.attach_recordings)
    if not isinstance(attach, bool):
        r.add(f"{p}.attach_recordings: expected true or false, got {describe(attach)}")
        attach = d.attach_recordings
    language = table.get("language", d.language)
    if not isinstance(language, str) or language.strip().lower() not in LANGUAGES:
        r.add(f"{p}.language: expected one of {', '.join(repr(x) for x in LANGUAGES)}, got {describe(language)}")
        language = d.language
    return NotifyRule(outcomes=tuple(outcomes), mail_to=tuple(mail_to), webhook=webhook,
                      quiet_hours=_quiet(r, p, table.get("quiet_hours", "")),
                      weekdays=tuple(WEEKDAYS[i] for i in sorted(weekdays)),
                      attach_recordings=attach, language=language.strip().lower())


def _quiet(r: Reader, p: str, value: Any) -> QuietHours | None:
    if value == "":
        return None
    match = _QUIET.match(value) if isinstance(value, str) else None
    if match:
        h1, m1, h2, m2 = (int(x) for x in match.groups())
        if h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60 and (h1, m1) != (h2, m2):
            return QuietHours(h1 * 60 + m1, h2 * 60 + m2)
    r.add(f"{p}.quiet_hours: expected a span of the day such as \"22:00-07:00\" (start and end differ), "
          f"got {describe(value)} — or \"\" for none")
    return None
