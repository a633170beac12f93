"""What one attempt to send a notification came to: :class:`Answer` (a leaf of the package)."""

from __future__ import annotations

from dataclasses import dataclass

DELIVERED, RETRY, FAILED, UNCONFIRMED = "delivered", "retry", "failed", "unconfirmed"


@dataclass(frozen=True)
class Answer:
    """``result``: ``delivered``, ``retry`` (it may pass: try again later) or ``failed`` (it will
    not pass: given up at once) or ``unconfirmed`` (the server had the whole message but its answer
    never came: maybe delivered, not sent again); ``text``: the server's answer as it gave it, or what went wrong."""

    result: str
    text: str


class HandOverRefused(Exception):
    """The attempt's progress could not be recorded before the message was handed over: the
    exchange is broken off without handing it over (nothing is delivered), to be tried again."""
