"""Password hashes for the web page's logins (standard library only, a leaf).

Hashes are ``scrypt$n$r$p$salt$hash`` with ``salt`` and ``hash`` in unpadded
URL-safe base64; :func:`verify_password` recomputes the hash with the stored
parameters and compares in constant time. :mod:`callbot.config` checks a
configured hash with :func:`check_password_hash` without the web stack.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = ["check_password_hash", "hash_password", "verify_password"]

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
