"""Login rate limiting and CSRF tokens for the review web page.

Password hashes themselves are :mod:`callbot.passwords`.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable

__all__ = [
    "LoginLimiter",
    "new_token",
    "tokens_equal",
]

def new_token() -> str:
    """A random token for CSRF protection (or a session secret)."""
    return secrets.token_urlsafe(32)


def tokens_equal(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two tokens; False when either is missing."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class LoginLimiter:
    """In-memory lockout: after ``max_failures`` failed logins from one client (address),
    refuse further attempts for ``lockout`` seconds. A successful login clears the count."""

    def __init__(self, max_failures: int = 5, lockout: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, max_clients: int = 10000):
        self.max_failures = max_failures
        self.lockout = lockout
        self._clock = clock
        self._max_clients = max_clients
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0 when not locked out)."""
        with self._lock:
            until = self._locked_until.get(client)
            if until is None:
                return 0.0
            left = until - self._clock()
            if left <= 0:
                del self._locked_until[client]
                self._failures.pop(client, None)
                return 0.0
            return left

    def attempt(self, client: str) -> float:
        """Start a login attempt: returns the seconds ``client`` must wait (refused), or 0.

        A started attempt counts as a failure until :meth:`succeeded` is called, so
        parallel requests cannot slip past the limit while their passwords are checked;
        the attempt that reaches ``max_failures`` starts the lockout.
        """
        with self._lock:
            now = self._clock()
            until = self._locked_until.get(client)
            if until is not None:
                if until > now:
                    return until - now
                del self._locked_until[client]
                self._failures.pop(client, None)
            if len(self._failures) >= self._max_clients and client not in self._failures:
                self._prune()
            count = self._failures.get(client, 0) + 1
            self._failures[client] = count
            if count >= self.max_failures:
                self._locked_until[client] = now + self.lockout
            return 0.0

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
            self._locked_until.pop(client, None)

    def _prune(self) -> None:
        now = self._clock()
        for client, until in list(self._locked_until.items()):
            if until <= now:
                del self._locked_until[client]
                self._failures.pop(client, None)
        if len(self._failures) >= self._max_clients:  # still full: forget those not locked out
            for client in [c for c in self._failures if c not in self._locked_until]:
                del self._failures[client]
