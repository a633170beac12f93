"""Notifications: on a call's outcome, mail (SMTP) and webhooks, sent from the outbox with proof
of delivery.

May import: the adapters (callbot.store), the domain rules (callbot.i18n, callbot.text),
the records and leaves. Never the call flow, config, app, web or cli.
"""
