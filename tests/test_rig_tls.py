"""The rig's Kamailio with TCP and TLS listeners (issue #15), checked with real peers.

Python's ``ssl``/``socket`` talk SIP to a real Kamailio on 127.0.0.1: REGISTER over
TLS and TCP, certificate checks (untrusted CA, wrong host name), TLS 1.2 minimum,
a restart that drops connections but keeps ports and certificates, and a request
relayed to a TLS client down its own connection (nathelper alias).
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
import uuid

import pytest

from rig import Kamailio, free_tcp_port, kamailio_binary, kamailio_tls_module, sip_request

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not kamailio_binary(), reason="needs kamailio (Debian package kamailio)"),
    pytest.mark.skipif(not kamailio_tls_module(),
                       reason="needs Kamailio's tls.so (Debian package kamailio-tls-modules)"),
]

USERS = ("callbot", "tlsuser", "tcpuser", "aliasuser")
IO_TIMEOUT = 5.0


# --------------------------------------------------------------------------
# a tiny SIP-over-stream client
# --------------------------------------------------------------------------


class Stream:
    """One TCP or TLS connection to Kamailio; messages framed by Content-Length."""

    def __init__(self, sock: socket.socket, transport: str) -> None:
        self.sock = sock
        self.transport = transport
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    @property
    def local_port(self) -> int:
        return self.sock.getsockname()[1]

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode())

    def read_message(self, timeout: float = IO_TIMEOUT) -> str:
        """The next SIP message (leading CRLF keepalives skipped); raises on EOF/timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self.buf = self.buf.lstrip(b"\r\n")
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end >= 0:
                head = self.buf[:head_end].decode("utf-8", "replace")
                m = re.search(r"^(?:content-length|l)\s*:\s*(\d+)\s*$", head, re.I | re.M)
                assert m, f"message without Content-Length on a stream:\n{head}"
                end = head_end + 4 + int(m.group(1))
                if len(self.buf) >= end:
                    msg, self.buf = self.buf[:end], self.buf[end:]
                    return msg.decode("utf-8", "replace")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no complete SIP message within {timeout}s; have {self.buf!r}")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65535)
            if not chunk:
                raise ConnectionError("connection closed by Kamailio")
            self.buf += chunk


def connect(kam: Kamailio, transport: str, ctx: ssl.SSLContext | None = None,
            server_hostname: str = "127.0.0.1") -> Stream:
    port = kam.tls_port if transport == "tls" else kam.tcp_port
    raw = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    if transport != "tls":
        return Stream(raw, transport)
    ctx = ctx or trusting_context(kam)
    try:
        return Stream(ctx.wrap_socket(raw, server_hostname=server_hostname), transport)
    except BaseException:
        raw.close()
        raise


def trusting_context(kam: Kamailio) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(kam.ca_file))
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    return ctx


def status_of(message: str) -> int:
    m = re.match(r"SIP/2\.0 (\d{3}) ", message)
    assert m, f"not a response: {message[:200]!r}"
    return int(m.group(1))


def register(kam: Kamailio, stream: Stream, user: str, *, contact_port: int | None = None,
             expires: int = 60) -> str:
    """Send a REGISTER for ``user`` down ``stream``; return the final response."""
    proto = stream.transport.upper()
    port = stream.local_port
    server_port = kam.tls_port if stream.transport == "tls" else kam.tcp_port
    contact_port = contact_port or port
    call_id = uuid.uuid4().hex
    stream.send(
        f"REGISTER sip:127.0.0.1:{server_port};transport={stream.transport} SIP/2.0\r\n"
        f"Via: SIP/2.0/{proto} 127.0.0.1:{port};branch=z9hG4bK{uuid.uuid4().hex};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{user}@127.0.0.1>;tag={uuid.uuid4().hex[:8]}\r\n"
        f"To: <sip:{user}@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 REGISTER\r\n"
        f"Contact: <sip:{user}@127.0.0.1:{contact_port};transport={stream.transport}>\r\n"
        f"Expires: {expires}\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    while True:
        msg = stream.read_message()
        assert call_id in msg, msg
        if status_of(msg) >= 200:
            return msg


@pytest.fixture(scope="module")
def kam(tmp_path_factory):
    with Kamailio(tmp_path_factory.mktemp("kam-tls"), tls=True, known_users=USERS) as k:
        yield k


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------


def test_the_ports_and_files_are_there(kam):
    assert kam.tls and kam.port and kam.tcp_port and kam.tls_port
    assert len({kam.port, kam.tcp_port, kam.tls_port}) == 3
    assert kam.ca_file.is_file() and kam.ca is not None
    assert f"listen=tls:127.0.0.1:{kam.tls_port}" in kam.cfg_path.read_text()
    assert "method = TLSv1.2+" in kam.tls_cfg_path.read_text()
    assert kam.ping(), kam.log_text()  # UDP still answers


def test_register_over_tls(kam):
    stream = connect(kam, "tls")
    try:
        assert stream.sock.version() in ("TLSv1.2", "TLSv1.3")
        resp = register(kam, stream, "tlsuser")
        assert status_of(resp) == 200, resp
        assert kam.registered("tlsuser"), kam.log_text(since_start=True)
        contacts = kam.contacts("tlsuser")
        assert len(contacts) == 1 and "transport=tls" in contacts[0], contacts
    finally:
        stream.close()


def test_register_over_tcp(kam):
    stream = connect(kam, "tcp")
    try:
        resp = register(kam, stream, "tcpuser")
        assert status_of(resp) == 200, resp
        assert kam.wait_registered("tcpuser", timeout=2), kam.log_text(since_start=True)
        assert "transport=tcp" in kam.contacts("tcpuser")[0]
    finally:
        stream.close()


def test_a_client_that_does_not_trust_the_test_ca_fails_the_handshake(kam):
    import trustme

    ctx = ssl.create_default_context(cafile=None, cadata=trustme.CA().cert_pem.bytes().decode())
    with pytest.raises(ssl.SSLCertVerificationError) as err:
        connect(kam, "tls", ctx).close()
    assert "unable to get local issuer certificate" in err.value.verify_message
    # The system store does not know the test CA either.
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(kam, "tls", ssl.create_default_context()).close()


def test_a_certificate_for_another_name_fails_the_hostname_check(tmp_path):
    with Kamailio(tmp_path / "kam", tls=True, cert_hosts=("wrong.example",)) as wrong:
        with pytest.raises(ssl.SSLCertVerificationError) as err:
            connect(wrong, "tls", trusting_context(wrong)).close()
        assert "mismatch" in err.value.verify_message.lower(), err.value.verify_message
        # Control: the chain itself is fine, only the name is wrong.
        connect(wrong, "tls", trusting_context(wrong), server_hostname="wrong.example").close()


def test_restart_drops_connections_and_keeps_ports_and_certificate(tmp_path):
    with Kamailio(tmp_path / "kam", tls=True, known_users=USERS) as k:
        ports = (k.port, k.tcp_port, k.tls_port)
        old = connect(k, "tls")
        tcp_old = connect(k, "tcp")
        try:
            cert_before = old.sock.getpeercert(binary_form=True)
            assert status_of(register(k, old, "tlsuser")) == 200
            assert status_of(register(k, tcp_old, "tcpuser")) == 200
            assert k.registered("tlsuser") and k.registered("tcpuser")

            k.restart()
            assert (k.port, k.tcp_port, k.tls_port) == ports

            for stream in (old, tcp_old):
                stream.sock.settimeout(IO_TIMEOUT)
                try:
                    data = stream.sock.recv(4096)
                except TimeoutError:  # (a subclass of OSError: must not pass as "closed")
                    pytest.fail(f"{stream.transport} connection still open after the restart")
                except OSError:
                    data = b""  # reset / TLS EOF: closed as well
                assert data == b"", data
            assert not k.registered("tlsuser")  # the location table is empty again

            new = connect(k, "tls")
            tcp_new = connect(k, "tcp")
            try:
                assert new.sock.getpeercert(binary_form=True) == cert_before
                assert status_of(register(k, new, "tlsuser")) == 200
                assert status_of(register(k, tcp_new, "tcpuser")) == 200
                assert k.registered("tlsuser") and k.registered("tcpuser")
            finally:
                new.close()
                tcp_new.close()
        finally:
            old.close()
            tcp_old.close()


def _client_can_speak_tls11(kam: Kamailio) -> tuple[bool, str]:
    """Control: does OpenSSL here let a client negotiate TLS 1.1 at all?
    Checked against a local Python server that allows TLS 1.0/1.1 only."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        server_ctx.minimum_version = ssl.TLSVersion.TLSv1
        server_ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        server_ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as exc:
        return False, f"cannot configure TLS 1.1 here: {exc}"
    server_ctx.load_cert_chain(str(kam.cert_file), str(kam.key_file))
    result: dict[str, object] = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(IO_TIMEOUT)

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    result["server"] = tls.version()
            except Exception as exc:  # reported through `result`
                result["server_error"] = exc

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with socket.create_connection(listener.getsockname(), timeout=IO_TIMEOUT) as raw, \
                    tls11_client_context(kam).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                version = tls.version()
        except (ssl.SSLError, OSError) as exc:
            thread.join(IO_TIMEOUT)
            return False, f"OpenSSL here refuses TLS 1.1 on the client side too: {exc}"
        thread.join(IO_TIMEOUT)
    return version == "TLSv1.1", f"control handshake negotiated {version}"


def tls11_client_context(kam: Kamailio) -> ssl.SSLContext:
    ctx = trusting_context(kam)
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 needs level 0 for TLS < 1.2
    return ctx


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_tls_1_2_is_the_minimum(kam):
    ctx12 = trusting_context(kam)
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    stream = connect(kam, "tls", ctx12)
    try:
        assert stream.sock.version() == "TLSv1.2"
    finally:
        stream.close()

    capable, why = _client_can_speak_tls11(kam)
    if not capable:
        pytest.skip(f"TLS 1.1 refusal not testable: {why}")
    with pytest.raises((ssl.SSLError, ConnectionError)) as err:
        connect(kam, "tls", tls11_client_context(kam)).close()
    # measured: [SSL: TLSV1_ALERT_PROTOCOL_VERSION]; Kamailio logs "unsupported protocol"
    if isinstance(err.value, ssl.SSLError):
        assert "PROTOCOL" in (err.value.reason or ""), err.value


def test_a_request_to_a_tls_contact_goes_down_the_clients_connection(kam):
    """The client's Contact names a port nobody listens on (like baresip's); the
    relayed request must still arrive over its registration connection."""
    stream = connect(kam, "tls")
    try:
        elsewhere = free_tcp_port()
        assert status_of(register(kam, stream, "aliasuser", contact_port=elsewhere)) == 200
        [contact] = kam.contacts("aliasuser")
        assert f":{elsewhere};" in contact and "alias=" in contact, contact

        answer: dict[str, object] = {}
        asker = threading.Thread(
            target=lambda: answer.update(resp=sip_request(kam.port, "OPTIONS", kam.uri("aliasuser"),
                                                          timeout=IO_TIMEOUT)),
            daemon=True,
        )
        asker.start()
        request = stream.read_message()
        first = request.split("\r\n", 1)[0]
        assert first.startswith(f"OPTIONS sip:aliasuser@127.0.0.1:{elsewhere}"), request
        assert "alias=" not in first, request  # handle_ruri_alias strips it
        assert re.search(r"^Via: SIP/2\.0/TLS ", request, re.M), request
        keep = [line for line in request.split("\r\n")
                if re.match(r"(?i)(via|from|to|call-id|cseq):", line)]
        keep = [line + ";tag=uas1" if line.lower().startswith("to:") else line for line in keep]
        stream.send("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n")
        asker.join(IO_TIMEOUT + 1)
        resp = answer.get("resp")
        assert resp is not None and resp.status == 200, (resp, kam.log_text(since_start=True)[-3000:])
    finally:
        stream.close()
