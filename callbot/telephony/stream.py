"""SIP over TCP and TLS (``sip.transport``): one persistent connection to the registrar.

rfcvoip opens one outbound TCP or TLS connection to the registrar/proxy, frames messages by
Content-Length and sends everything — requests, responses, in-dialog requests of the far
end's calls — over it (the far end reaches the bot over the connection it registered from:
RFC 5626's "flow", which Kamailio, Asterisk and FreeSWITCH use). What it lacks is patched
here, each with the upstream file:line it answers:

* the TLS context: the system trust store plus ``sip.tls_ca_file``, TLS 1.2 or newer, the
  host name checked; ``sip.tls_verify = false`` only with a loud warning (:func:`tls_context`);
* certificate and connection errors in words: host, reason, the setting to change
  (:func:`describe_connect_error`);
* ``SO_REUSEADDR`` on the stream socket, so the bot can reconnect from its own port at once
  (the registrar routes calls back to the Contact's address and port) and restart within the
  TCP TIME_WAIT minute;
* the source of each stream message (the gatekeeper refused every INVITE from ":0");
* the time of the registrar's last CRLF pong (RFC 5626 §4.4.1 keepalive, :data:`CRLF_PING`).

Reconnecting (with backoff, then REGISTER at once) is the registrar thread's job
(:mod:`callbot.telephony.registration`), on :meth:`callbot.telephony.client.SupervisedSIPClient.reconnect`.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time

from rfcvoip.SIPTransport import SIPConnection, SIPTransport

from callbot.errors import SipError
from callbot.telephony.settings import SipSettings

log = logging.getLogger("callbot.telephony")

#: RFC 5626 §4.4.1: the keepalive "ping" on a connection, answered by a CRLF "pong".
CRLF_PING = b"\r\n\r\n"
#: RFC 5626 §4.4.1: no pong within this many seconds: the flow has failed.
PONG_TIMEOUT = 10.0
STREAM_TRANSPORTS = ("tcp", "tls")


def tls_context(settings: SipSettings) -> ssl.SSLContext:
    """The context the bot's TLS connection to the registrar uses (see the module docstring)."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.tls_ca_file:
        try:
            context.load_verify_locations(cafile=settings.tls_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise SipError(f"sip.tls_ca_file: cannot use {settings.tls_ca_file} as a CA ({exc}) — give the PEM "
                           f"file of the CA that signed the registrar's certificate") from exc
    if not settings.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        log.warning("sip.tls_verify = false: the registrar's certificate is NOT checked — anyone on the way "
                    "can read and change the bot's calls; set tls_verify = true (and sip.tls_ca_file for a "
                    "private CA)")
    return context


def describe_connect_error(exc: BaseException, settings: SipSettings) -> str:
    """A failed TCP/TLS connection to the registrar in words: host, reason and what to change."""
    where = f"{settings.server}:{settings.port} ({settings.transport.upper()})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        fix = ("set sip.tls_ca_file to the CA that signed it" if "issuer" in reason or "self-signed" in reason
               or "self signed" in reason else "check sip.server: it must be a name the certificate is for")
        return f"the certificate of {where} was not accepted: {reason} — {fix}"
    if isinstance(exc, ssl.SSLError):
        return (f"TLS with {where} failed: {exc.reason or exc} — the registrar must speak TLS 1.2 or newer "
                f"on this port (check sip.port and sip.transport)")
    if isinstance(exc, ConnectionRefusedError):
        return f"{where} refused the connection — check sip.server, sip.port and sip.transport"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"{where} did not answer the connection within {SEND_TIMEOUT:.0f}s — check sip.server and sip.port"
    if isinstance(exc, OSError):
        return f"cannot connect to {where}: {exc.strerror or exc} — check sip.server, sip.port and sip.local_ip"
    return f"cannot connect to {where}: {exc}"


#: How long a connection attempt (and a blocked send) may take (seconds).
SEND_TIMEOUT = 10.0


# WORKAROUND SIPTransport.py:514-545: the stream socket binds the bot's fixed local port without
# SO_REUSEADDR (and without TCP_NODELAY), so a reconnect (or a restart) within TCP's TIME_WAIT minute failed with "Address
# already in use"; a connection attempt could hang for the library's 30 s send timeout.
def _open_stream_socket(self: SIPConnection) -> socket.socket:
    last_error: BaseException | None = None
    for family, socktype, proto, _canon, sockaddr in socket.getaddrinfo(
            self.target.host, self.target.port, 0, socket.SOCK_STREAM):
        sock = socket.socket(family, socktype, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # small SIP messages go out at once: with Nagle's algorithm each 100/180/200 waited for
            # the peer's delayed ACK (INVITE→200 took 44 ms at one call, bench/sip_bench.py)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(min(self.send_timeout, SEND_TIMEOUT))
            sock.bind(self._socket_address(self._local_bind_host(family), self.local_port, family))
            sock.connect(sockaddr)
            if self.target.transport == SIPTransport.TLS:
                context = self.tls_context or ssl.create_default_context()
                sock = SerializedTLS(context.wrap_socket(sock, server_hostname=self.tls_server_name or self.target.host))
            self._stream_buffer = b""
            self.opened_at = time.monotonic()
            return sock
        except BaseException as exc:
            last_error = exc
            sock.close()
    raise last_error if last_error is not None else OSError(f"cannot resolve {self.target.host!r}")


class SerializedTLS:
    """A TLS socket whose reads and writes never run at the same time: the receive thread reads
    while registrar, timer and call threads write, and OpenSSL forbids concurrent SSL_read and
    SSL_write on one connection (CPython 3.11 adds no lock). Reads are non-blocking (the receive
    loop waits in select() first), so a writer waits microseconds. Everything else is the socket's."""

    def __init__(self, sock: ssl.SSLSocket):
        self._sock = sock
        self._lock = threading.Lock()

    def recv(self, size: int) -> bytes:
        with self._lock:
            return self._sock.recv(size)

    def send(self, data) -> int:
        with self._lock:
            return self._sock.send(data)

    def pending(self) -> int:
        with self._lock:
            return self._sock.pending()

    def __getattr__(self, name):
        return getattr(self._sock, name)


# WORKAROUND SIPTransport.py:623-628: leading CRLFs (the registrar's keepalive pong) are dropped
# without a trace; note when one came, so the keepalive can tell a live flow from a dead one.
def _discard_stream_keepalive_prefix(self: SIPConnection) -> None:
    while self._stream_buffer.startswith(b"\r\n"):
        self._stream_buffer = self._stream_buffer[2:]
        self.last_pong = time.monotonic()


def stream_source(connection: SIPConnection) -> tuple[str, int] | None:
    """The registrar's address and port: the source of every message on the connection."""
    sock = connection.socket
    try:
        peer = sock.getpeername() if sock is not None else None
    except OSError:
        peer = None
    return (str(peer[0]), int(peer[1])) if peer else None


SIPConnection._open_stream_socket = _open_stream_socket
SIPConnection._discard_stream_keepalive_prefix = _discard_stream_keepalive_prefix
SIPConnection.last_pong = 0.0


class StreamFlow:
    """The connection to the registrar as the SIP client keeps it (a mixin of
    :class:`callbot.telephony.client.SupervisedSIPClient`): is the transport reliable, is the
    connection down, reconnect, ping it."""

    #: Set when the TCP/TLS connection to the registrar closed; cleared by :meth:`reconnect`.
    stream_down: "threading.Event | None" = None
    #: Called (no arguments) when the connection closed: the registrar thread wakes up.
    on_stream_down = None

    @property
    def reliable(self) -> bool:
        """TCP or TLS: no retransmissions (RFC 3261 §17.1.2.2), the connection carries everything."""
        connection = getattr(self, "connection", None)
        return bool(connection is not None and connection.connection_oriented)

    def _stream_failed(self, exc: BaseException) -> None:
        """The receive loop lost the connection (the registrar closed it, or it broke)."""
        down = self.stream_down
        if down is None or down.is_set():
            return
        down.set()
        log.warning("the %s connection to the registrar closed (%s); reconnecting",
                    self.connection.target.transport.value, exc or type(exc).__name__)
        listener = self.on_stream_down
        if listener is not None:
            listener()

    def _buffered(self, sock) -> bool:
        """TCP/TLS: a message already waits (in the stream buffer, or decrypted inside OpenSSL
        where select() cannot see it). Looked at only when the receive lock is free: the registrar
        thread may be reading into the buffer while it waits for its own response."""
        if not self.recvLock.acquire(blocking=False):
            return False
        try:
            pending = getattr(sock, "pending", None)
            return self.connection._stream_has_message() or bool(pending and pending())
        finally:
            self.recvLock.release()

    @property
    def pong_seen(self) -> bool:
        """The registrar answered a CRLF ping on this connection: it implements RFC 5626 keepalives."""
        connection = self.connection
        return connection.last_pong >= getattr(connection, "opened_at", 0.0) > 0

    def reconnect(self) -> None:
        """A new connection to the registrar from the bot's own port (raises OSError/SSLError)."""
        connection = self.connection
        with self.recvLock:
            try:
                connection.close()
            except OSError:
                pass
            connection.open()
            self.s = self.out = connection.socket
        if self.stream_down is not None:
            self.stream_down.clear()
        log.info("connected to the registrar again (%s)", connection.target.transport.value)

    def crlf_ping(self, timeout: float = PONG_TIMEOUT, required: bool = True) -> bool:
        """RFC 5626 §4.4.1: send a CRLF ping; True when the pong came within ``timeout``. A missing
        pong fails the flow only when ``required`` (the registrar answered pings before: only
        registrars that implement outbound do)."""
        connection = self.connection
        sent_at = time.monotonic()
        try:
            connection.send(CRLF_PING)
        except (OSError, RuntimeError) as exc:
            self._stream_failed(exc)
            return False
        deadline = sent_at + timeout
        while time.monotonic() < deadline:
            if connection.last_pong >= sent_at:
                return True
            if self.stream_down is not None and self.stream_down.wait(0.05):
                return False
        if required:  # RFC 5626 §4.4.1: no pong, the flow has failed (a NAT or firewall dropped it)
            self._stream_failed(TimeoutError(f"no CRLF pong within {timeout:.0f}s"))
        return False


def probe_tls(settings: SipSettings, timeout: float = 5.0) -> str:
    """Connect to the registrar as the bot would and say whose certificate it showed (for
    ``callbot check``); raises :class:`SipError` with :func:`describe_connect_error`'s words."""
    context = tls_context(settings)
    try:
        with socket.create_connection((settings.server, settings.port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=settings.server) as tls:
                cert = tls.getpeercert() or {}
                version = tls.version()
    except (OSError, ssl.SSLError) as exc:
        raise SipError(describe_connect_error(exc, settings)) from exc
    if not settings.tls_verify:
        return f"{version}, certificate NOT checked (sip.tls_verify = false)"
    issuer = dict(item[0] for item in cert.get("issuer", ()) if item)
    return (f"{version}, certificate for {settings.server} verified (issued by "
            f"{issuer.get('organizationName') or issuer.get('commonName') or 'unknown'}, valid until "
            f"{cert.get('notAfter', '?')})")
