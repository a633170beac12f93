"""Notifications: on a call's outcome, mail (SMTP) and webhooks, sent from the outbox with proof
of delivery.

- ``settings``  NotifySettings, NotifyRule, QuietHours (filled by callbot.config)
- ``rules``     Planner: which rules fire for an outcome, day and hour → outbox rows for finish_call
- ``content``   CallSummary: what a notification says (read from the call log, via gettext)
- ``mail``      build_mail: the message, fixed Message-ID, recordings attached (size-capped)
- ``smtp``      send_mail: STARTTLS/TLS, AUTH, the server's answer; the hook before the final dot
- ``webhook``   post: HMAC-signed JSON POST
- ``worker``    OutboxWorker: retries, backoff, give-up, crash recovery (the duplicate window)
- ``report``    deliveries / failed: one line per notification and per attempt, for people
- ``answer``    Answer: what one attempt came to

May import: the adapters (callbot.store), the domain rules (callbot.i18n, callbot.text),
the records and leaves. Never the call flow, config, app, web or cli.
"""
