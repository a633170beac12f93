"""Password hashing, login rate limiting and CSRF tokens for the review web page.

Only the standard library is used here, so :mod:`callbot.config` can check a
configured hash without importing the web stack.

Password hashes are ``scrypt$n$r$p$salt$hash`` with ``salt`` and ``hash`` in
unpadded URL-safe base64; :func:`verify_password` recomputes the hash with the
stored parameters and compares in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "LoginLimiter",
    "check_password_hash",
    "hash_password",
    "new_token",
    "tokens_equal",
    "verify_password",
]

SCHEME = "scrypt"
#: scrypt cost parameters for new hashes: ~16 MiB of memory, ~50 ms on a small PC.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
# Bounds accepted when verifying, so a tampered config cannot make login hang.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16
_MAXMEM = 256 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length,
                          maxmem=_MAXMEM)


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """A new ``scrypt$n$r$p$salt$hash`` string for ``password`` (random salt)."""
    if not password:
        raise ValueError("the password must not be empty")
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, n, r, p, HASH_BYTES)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


@dataclass(frozen=True)
class _Parsed:
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def _parse(encoded: str) -> _Parsed | str:
    """The parts of a hash, or a message saying what is wrong (never echoing the value)."""
    parts = encoded.strip().split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return "expected a hash of the form scrypt$n$r$p$salt$hash — make one with `callbot web hash-password`"
    try:
        n, r, p = (int(x) for x in parts[1:4])
    except ValueError:
        return "the scrypt parameters n, r and p must be whole numbers"
    if n < 2 or n & (n - 1) or n > _MAX_N or not 1 <= r <= _MAX_R or not 1 <= p <= _MAX_P:
        return (f"scrypt parameters out of range (n a power of 2 up to {_MAX_N}, r 1-{_MAX_R}, "
                f"p 1-{_MAX_P})")
    if 128 * n * r * p > _MAXMEM // 2:
        return "scrypt parameters need too much memory"
    try:
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except (binascii.Error, ValueError):
        return "the salt or hash part is not valid base64"
    if len(salt) < 8 or len(digest) < 16:
        return "the salt or hash part is too short"
    return _Parsed(n, r, p, salt, digest)


def check_password_hash(encoded: str) -> str | None:
    """``None`` if ``encoded`` is a usable hash, else what is wrong with it."""
    parsed = _parse(encoded)
    return parsed if isinstance(parsed, str) else None


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded``; False for an unusable hash. Constant-time compare."""
    parsed = _parse(encoded)
    if isinstance(parsed, str):
        return False
    try:
        candidate = _scrypt(password, parsed.salt, parsed.n, parsed.r, parsed.p, len(parsed.digest))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(candidate, parsed.digest)


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
