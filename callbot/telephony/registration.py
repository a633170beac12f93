"""Staying registered: REGISTER with backoff after a failure, a refresh at half the granted expiry,
and a keepalive that notices a registrar that went away (see :class:`Registrar`).

:class:`Registrar` drives REGISTER itself (the library's own timer is switched off,
see :mod:`callbot.telephony.client`); :func:`granted_expiry`, :func:`refresh_delay`
and :func:`backoff_delay` are the pure timing rules.
"""

from __future__ import annotations

import logging
import re
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Callable

from callbot.telephony.client import Phone, PhoneStatus, SupervisedSIPClient
from callbot.telephony.settings import SipSettings
from callbot.telephony.stream import PONG_TIMEOUT, describe_connect_error

log = logging.getLogger("callbot.telephony")

#: Registration retry backoff after a failure: first delay, cap (seconds).
REGISTER_BACKOFF_FIRST = 1.0
REGISTER_BACKOFF_MAX = 60.0
#: Refresh a registration after this fraction of the granted expiry.
REGISTER_REFRESH_FRACTION = 0.5
#: Shortest refresh interval we ever use, whatever the registrar grants.
REGISTER_REFRESH_MIN = 5.0
#: How long a keepalive OPTIONS may go unanswered (retransmitted meanwhile) before the
#: registrar counts as gone (seconds).
KEEPALIVE_TIMEOUT = 4.0
#: While the registrar does not answer at all: probe it with OPTIONS this often (seconds).
PROBE_INTERVAL = 2.0
#: A keepalive answered with one of these: the registrar has no registration for the bot.
BINDING_GONE = (404, 480)
#: After registering again because of BINDING_GONE, check this soon that it helped (seconds).
VERIFY_DELAY = 0.5
_EXPIRES_PARAM = re.compile(r";\s*expires\s*=\s*(\d+)", re.IGNORECASE)
_EXPIRES_HEADER = re.compile(r"^expires\s*:\s*(\d+)\s*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class RegistrationState:
    """What the owner sees of the registration (``callbot status``, the web page's header)."""

    registered: bool
    granted_expires: int | None
    last_error: str | None
    attempts: int
    since: float | None = None          # wall-clock time registered (or lost) since
    last_failure: float | None = None   # wall-clock time of the last failure
    next_try: float | None = None       # wall-clock time of the next REGISTER while not registered


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
    """Keeps the registration alive.

    * REGISTER at start, refreshed at half the granted expiry;
    * while registered, an OPTIONS every ``sip.keepalive`` seconds to the bot's own address at
      the registrar: the registrar routes it back to the bot while it has the registration.
      ``404``/``480`` means it forgot it (a restart that was quicker than the keepalive):
      REGISTER at once. No answer at all (retransmitted over 4 s) means the registrar is gone —
      the registration is marked lost and logged once. A PBX that does not route OPTIONS
      (still 404 right after registering again) is asked about itself from then on;
    * while lost: REGISTER with backoff (1 s, 2 s, 4 s … 60 s); when the registrar did not
      answer at all, a cheap OPTIONS probe every ``PROBE_INTERVAL`` in between, and the moment
      it answers again, REGISTER at once — so the bot is reachable again within a few seconds
      of a PBX coming back, not at the next refresh;
    * a REGISTER the registrar answered with a refusal (403, wrong password) is only retried
      with the backoff (no probing: the registrar is there, hammering it helps nobody);
    * over TCP/TLS (stream.py) the keepalive is a CRLF ping with a 10 s pong timeout (RFC 5626,
      once the registrar has answered one), a closed or silent connection is reopened from the
      bot's own port and the bot REGISTERs at once; a certificate that does not verify is
      retried with the backoff only.
    """

    def __init__(self, phone: Phone, settings: SipSettings,
                 on_change: Callable[[RegistrationState], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(name="callbot-registrar", daemon=True)
        self._phone = phone
        self._settings = settings
        self._stop_event = threading.Event()
        self._wake = threading.Event()
        self._on_change = on_change
        self._clock = clock
        self.state = RegistrationState(False, None, None, 0)
        self.registered_event = threading.Event()
        self._probe_aor = True
        self._verifying = False

    def _publish(self, state: RegistrationState) -> None:
        self.state = state
        if self._on_change is not None:
            try:
                self._on_change(state)
            except Exception:
                log.exception("registration state listener failed")

    def run(self) -> None:
        client: SupervisedSIPClient = self._phone.sip  # type: ignore[assignment]
        client.default_expires = self._settings.register_expires
        s = self._settings
        failures = attempts = 0
        now = self._clock()
        next_register, next_ping = now, None
        unreachable = False
        while not self._stop_event.is_set():
            now = self._clock()
            if now >= next_register:
                attempts += 1
                result = self._register_once(client)
                now = self._clock()
                if isinstance(result, int):
                    was_lost = failures > 0
                    failures, unreachable = 0, False
                    next_register = now + refresh_delay(result)
                    next_ping = now + s.keepalive if s.keepalive > 0 else None
                    if self._verifying and next_ping is not None:
                        next_ping = now + VERIFY_DELAY
                    since = self.state.since if self.state.registered else time.time()
                    self._publish(RegistrationState(True, result, None, attempts, since=since,
                                                    last_failure=self.state.last_failure))
                    self.registered_event.set()
                    self._phone._status = PhoneStatus.REGISTERED
                    log.log(logging.WARNING if was_lost else logging.INFO,
                            "registered%s at %s:%s, expires %ss, refresh in %.0fs",
                            " again" if was_lost else "", s.server, s.port, result, next_register - now)
                else:
                    message, unreachable = result
                    failures += 1
                    delay = backoff_delay(failures)
                    next_register = now + delay
                    next_ping = now + PROBE_INTERVAL if unreachable and delay > PROBE_INTERVAL else None
                    self._lose(message, attempts, delay, first=failures == 1)
            elif next_ping is not None and now >= next_ping:
                status = self._keepalive(client)
                now = self._clock()
                if status in BINDING_GONE and self._probe_aor and self.state.registered:
                    if self._verifying:  # just registered and still "not found": the PBX does not route it
                        self._probe_aor = False
                        log.info("the registrar does not route OPTIONS to the bot's own address (%s); "
                                 "the keepalive asks the registrar itself from now on", status)
                        next_ping = now + s.keepalive
                    else:
                        log.warning("the registrar no longer knows the bot (%s to a keepalive OPTIONS: it "
                                    "restarted?); registering again now", status)
                        self._verifying = True
                        next_register, next_ping = now, None
                        continue
                elif self.state.registered:
                    self._verifying = False
                    if status is not None:
                        next_ping = now + s.keepalive
                    else:
                        failures, unreachable = 1, True
                        next_register = now + backoff_delay(1)
                        next_ping = None
                        self._lose("the registrar did not answer the keepalive (" + (
                                       "the connection closed or a CRLF ping got no pong" if client.reliable
                                       else f"OPTIONS, {KEEPALIVE_TIMEOUT:.0f}s") + ")",
                                   attempts, backoff_delay(1), first=True)
                elif status is not None:
                    log.info("the registrar answers again; registering now")
                    next_register, next_ping = now, None
                else:
                    next_ping = now + PROBE_INTERVAL if next_register - now > PROBE_INTERVAL else None
            wake_at = min(t for t in (next_register, next_ping) if t is not None)
            if self._wake.wait(max(0.0, wake_at - self._clock())):
                self._wake.clear()
                next_register = min(next_register, self._clock())

    def _keepalive(self, client: SupervisedSIPClient) -> int | None:
        """One keepalive: a status like an OPTIONS answer, or None when the registrar is gone.

        UDP: an OPTIONS to the bot's own address at the registrar (see :meth:`_probe_uri`).
        TCP/TLS: a CRLF ping answered by a pong (RFC 5626 §4.4.1) while connected — a registrar
        that never answers pings (no outbound support) gets the CRLF as a NAT keepalive and the
        OPTIONS over the connection; while the connection is down, a new connection is the probe
        (200 when it was made)."""
        if client.reliable:
            if client.stream_down is not None and client.stream_down.is_set():
                try:
                    client.reconnect()
                except (OSError, RuntimeError) as exc:
                    log.debug("reconnecting to the registrar failed: %s", exc)
                    return None
                return 200
            if client.pong_seen:
                return 200 if client.crlf_ping(PONG_TIMEOUT) else None
            if client.crlf_ping(1.0, required=False):
                return 200
        try:
            return client.ping(client.signal_target(), uri=self._probe_uri(), timeout=KEEPALIVE_TIMEOUT)
        except (OSError, RuntimeError) as exc:
            log.debug("keepalive OPTIONS could not be sent: %s", exc)
            return None

    def _probe_uri(self) -> str:
        """The keepalive's target: the bot's own address at the registrar (the registrar routes the
        OPTIONS back to the bot while it knows the registration, answers 404 once it forgot it), or
        the registrar itself for PBXs that do not route OPTIONS."""
        s = self._settings
        host = f"[{s.server}]" if ":" in s.server else s.server
        port = "" if s.port == 5060 else f":{s.port}"
        return f"sip:{s.username}@{host}{port}" if self._probe_aor else f"sip:{host}{port}"

    def _register_once(self, client: SupervisedSIPClient) -> int | tuple[str, bool]:
        """The granted expiry, or (why it failed, whether the registrar did not answer at all)."""
        if client.reliable and client.stream_down is not None and client.stream_down.is_set():
            try:
                client.reconnect()
            except Exception as exc:  # refused, reset …: retried with backoff and probes
                # a certificate that does not verify will not verify in 2 s either: backoff only
                return describe_connect_error(exc, self._settings), not isinstance(exc, ssl.SSLError)
        try:
            response = client.register_once()
        except Exception as exc:  # any failure: reported by the caller, retried with backoff
            answered = client.last_register_response is not None
            return str(exc) or type(exc).__name__, not answered
        granted = granted_expiry(
            str(response.raw, "utf8", errors="replace"),
            f"@{self._settings.public_address or self._settings.local_ip}:{self._settings.local_port}",
            self._settings.register_expires,
        )
        if granted <= 0:
            return "registrar granted expiry 0", False
        return granted

    def _lose(self, message: str, attempts: int, delay: float, first: bool) -> None:
        now = time.time()
        was = self.state
        since = was.since if not was.registered and was.since is not None else now
        self._publish(RegistrationState(False, None, message, attempts, since=since,
                                        last_failure=now, next_try=now + delay))
        self.registered_event.clear()
        if first:
            log.warning("registration %s (%s); retrying in %.0fs, then with backoff up to %.0fs",
                        "lost" if was.registered else "failed", message, delay, REGISTER_BACKOFF_MAX)
        else:
            log.info("registration still failing (%s); next try in %.0fs", message, delay)

    def refresh_now(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop_event.set()
        self._wake.set()
