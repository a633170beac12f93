"""Sending one notification as a webhook: a JSON POST signed with HMAC-SHA256 (:func:`post`).

Headers: ``X-Callbot-Signature: sha256=<hex>`` — HMAC-SHA256 of the raw body with the secret
(``CALLBOT_WEBHOOK_SECRET``); ``X-Callbot-Delivery`` — the outbox row's fixed id, the same on
every attempt, so a receiver can drop a repeat; ``X-Callbot-Event: call.finished``.
The body has ``title`` and ``message`` (plain text, for ntfy / Gotify / Home Assistant / Matrix
bridges) and ``call`` (the structured call, :meth:`callbot.notify.content.CallSummary.to_json`).

A 2xx answer delivers; 408, 425, 429, 5xx, a connection that fails or a timeout → ``retry``;
any other answer (4xx, a redirect) → ``failed``. Redirects are not followed (a POST would turn
into a GET). The receiver verifies with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable

from callbot.notify.answer import DELIVERED, FAILED, RETRY, Answer

WEBHOOK_TIMEOUT = 30.0
SIGNATURE_HEADER = "X-Callbot-Signature"
DELIVERY_HEADER = "X-Callbot-Delivery"
RETRY_STATUSES = {408, 425, 429}


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _status(code: int, reason: str, body: bytes) -> str:
    snippet = " ".join(body[:200].decode("utf-8", errors="replace").split())
    return f"HTTP {code} {reason}" + (f" — {snippet}" if snippet else "")


def post(url: str, payload: dict, secret: str, delivery: str, before_send: Callable[[], None]) -> Answer:
    """POST ``payload`` to ``url``; ``before_send`` records that the request goes out now."""
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "callbot",
        SIGNATURE_HEADER: signature(secret, body),
        DELIVERY_HEADER: delivery,
        "X-Callbot-Event": "call.finished",
    })
    before_send()
    try:
        with _OPENER.open(request, timeout=WEBHOOK_TIMEOUT) as response:
            return Answer(DELIVERED, _status(response.status, response.reason, response.read(200)))
    except urllib.error.HTTPError as exc:
        text = _status(exc.code, exc.reason, exc.read(200) if exc.fp else b"")
        if 300 <= exc.code < 400:
            return Answer(FAILED, f"{text}: the webhook URL redirects — give the address it redirects to")
        return Answer(RETRY if exc.code >= 500 or exc.code in RETRY_STATUSES else FAILED, text)
    except (urllib.error.URLError, OSError, socket.timeout) as exc:
        reason = getattr(exc, "reason", exc)
        return Answer(RETRY, f"{url}: {reason.__class__.__name__}: {reason}")
