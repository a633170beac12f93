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


class _Lockout:
    """Failure counts and lockouts per key (not thread-safe: :class:`LoginLimiter` locks)."""

    def __init__(self, max_failures: int, lockout: float, max_keys: int):
        self.max_failures = max_failures
        self.lockout = lockout
        self.max_keys = max_keys
        self.failures: dict[str, int] = {}
        self.locked_until: dict[str, float] = {}

    def wait(self, key: str, now: float) -> float:
        until = self.locked_until.get(key)
        if until is None:
            return 0.0
        if until > now:
            return until - now
        del self.locked_until[key]
        self.failures.pop(key, None)
        return 0.0

    def count(self, key: str, now: float) -> None:
        if len(self.failures) >= self.max_keys and key not in self.failures:
            self.prune(now)
        count = self.failures.get(key, 0) + 1
        self.failures[key] = count
        if count >= self.max_failures:
            self.locked_until[key] = now + self.lockout

    def clear(self, key: str) -> None:
        self.failures.pop(key, None)
        self.locked_until.pop(key, None)

    def prune(self, now: float) -> None:
        for key, until in list(self.locked_until.items()):
            if until <= now:
                del self.locked_until[key]
                self.failures.pop(key, None)
        if len(self.failures) >= self.max_keys:  # still full: forget those not locked out
            for key in [k for k in self.failures if k not in self.locked_until]:
                del self.failures[key]


class LoginLimiter:
    """In-memory lockout, two of them:

    * per client: after ``max_failures`` failed logins from one client (its address as
      :func:`callbot.web.proxies.client_address` establishes it, an IPv6 client's /64),
      that client waits ``lockout`` seconds — one person mistyping does not lock out the
      rest of an office behind the same proxy (with ``[web] trusted_proxies`` set);
    * per account: after ``account_failures`` failed logins for one account from any
      addresses, the account is locked for ``account_lockout`` seconds — a guesser who
      rotates addresses is stopped too (at the price that the owner waits as well).

    A successful login clears both counts.
    """

    def __init__(self, max_failures: int = 5, lockout: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, max_clients: int = 10000,
                 account_failures: int = 20, account_lockout: float = 300.0):
        self.max_failures = max_failures
        self.lockout = lockout
        self._clock = clock
        self._lock = threading.Lock()
        self._clients = _Lockout(max_failures, lockout, max_clients)
        self._accounts = _Lockout(account_failures, account_lockout, 1000)

    def retry_after(self, client: str, account: str | None = None) -> float:
        """Seconds until ``client`` (for ``account``) may try again (0 when not locked out)."""
        with self._lock:
            now = self._clock()
            wait = self._clients.wait(client, now)
            if account is not None:
                wait = max(wait, self._accounts.wait(account, now))
            return wait

    def attempt(self, client: str, account: str | None = None) -> float:
        """Start a login attempt: returns the seconds ``client`` must wait (refused), or 0.

        A started attempt counts as a failure (of the client and of ``account``) until
        :meth:`succeeded` is called, so parallel requests cannot slip past the limit while
        their passwords are checked; the attempt that reaches a limit starts that lockout.
        A refused attempt counts for nothing.
        """
        with self._lock:
            now = self._clock()
            wait = self._clients.wait(client, now)
            if account is not None:
                wait = max(wait, self._accounts.wait(account, now))
            if wait > 0:
                return wait
            self._clients.count(client, now)
            if account is not None:
                self._accounts.count(account, now)
            return 0.0

    def succeeded(self, client: str, account: str | None = None) -> None:
        with self._lock:
            self._clients.clear(client)
            if account is not None:
                self._accounts.clear(account)
