"""Staying registered: REGISTER with backoff after a failure and a refresh at half the granted expiry.

:class:`Registrar` drives REGISTER itself (the library's own timer is switched off,
see :mod:`callbot.telephony.client`); :func:`granted_expiry`, :func:`refresh_delay`
and :func:`backoff_delay` are the pure timing rules.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

from callbot.telephony.client import SIP, PhoneStatus, SupervisedSIPClient, Phone
from callbot.telephony.settings import SipSettings

log = logging.getLogger("callbot.telephony")

#: Registration retry backoff after a failure: first delay, cap (seconds).
REGISTER_BACKOFF_FIRST = 1.0
REGISTER_BACKOFF_MAX = 60.0
#: How long one REGISTER transaction may wait for its final answer (seconds).
REGISTER_TRANSACTION_TIMEOUT = 4.0
#: Refresh a registration after this fraction of the granted expiry.
REGISTER_REFRESH_FRACTION = 0.5
#: Shortest refresh interval we ever use, whatever the registrar grants.
REGISTER_REFRESH_MIN = 5.0
_EXPIRES_PARAM = re.compile(r";\s*expires\s*=\s*(\d+)", re.IGNORECASE)
_EXPIRES_HEADER = re.compile(r"^expires\s*:\s*(\d+)\s*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class RegistrationState:
    registered: bool
    granted_expires: int | None
    last_error: str | None
    attempts: int


def granted_expiry(response_text: str, contact_marker: str, asked: int) -> int:
    """Expiry the registrar granted: our Contact's ``expires=``, else ``Expires:``."""
    for line in response_text.split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() in ("contact", "m") and contact_marker in value:
            match = _EXPIRES_PARAM.search(value)
            if match:
                return int(match.group(1))
    match = _EXPIRES_HEADER.search(response_text)
    if match:
        return int(match.group(1))
    return asked


def refresh_delay(granted: int) -> float:
    """Seconds until the next REGISTER refresh for a granted expiry."""
    return max(REGISTER_REFRESH_MIN, granted * REGISTER_REFRESH_FRACTION)


def backoff_delay(failures: int) -> float:
    """Retry delay after ``failures`` consecutive registration failures (>= 1)."""
    return min(REGISTER_BACKOFF_MAX, REGISTER_BACKOFF_FIRST * 2 ** max(0, failures - 1))


class Registrar(threading.Thread):
    """Keeps the registration alive: retry with backoff, refresh at half the granted expiry."""

    def __init__(self, phone: Phone, settings: SipSettings):
        super().__init__(name="callbot-registrar", daemon=True)
        self._phone = phone
        self._settings = settings
        self._stop_event = threading.Event()
        self._wake = threading.Event()
        self.state = RegistrationState(False, None, None, 0)
        self.registered_event = threading.Event()

    def run(self) -> None:
        client: SupervisedSIPClient = self._phone.sip  # type: ignore[assignment]
        client.default_expires = self._settings.register_expires
        failures = 0
        attempts = 0
        while not self._stop_event.is_set():
            attempts += 1
            try:
                response = client.register_once()
                granted = granted_expiry(
                    str(response.raw, "utf8", errors="replace"),
                    f"@{self._settings.local_ip}:{self._settings.local_port}",
                    self._settings.register_expires,
                )
                if granted <= 0:
                    raise SIP.SIPRequestError("registrar granted expiry 0")
                failures = 0
                self.state = RegistrationState(True, granted, None, attempts)
                self.registered_event.set()
                self._phone._status = PhoneStatus.REGISTERED
                delay = refresh_delay(granted)
                log.info("registered at %s:%s, expires %ss, refresh in %.0fs",
                         self._settings.server, self._settings.port, granted, delay)
            except Exception as exc:  # any failure: log, back off, try again
                failures += 1
                delay = backoff_delay(failures)
                message = str(exc) or type(exc).__name__
                self.state = RegistrationState(False, None, message, attempts)
                self.registered_event.clear()
                log.warning("registration failed (%s); retrying in %.0fs", message, delay)
            self._wake.wait(delay)
            self._wake.clear()

    def refresh_now(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop_event.set()
        self._wake.set()
