"""SIP over TCP and TLS to a real registrar (issue #15.1, #15.2): Kamailio with its TLS module on
127.0.0.1 and a test CA made by the fixture (``Kamailio(tls=True)``).

The bot registers over one connection, calls reach it over that connection (a SIPp caller on
UDP through Kamailio, which relays over the bot's TLS flow), the registrar restarting drops the
connection and the bot reconnects from its own port and takes the next call; a certificate that
does not verify is refused with words that name the host, the reason and the setting.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from callbot.errors import CallbotError
from callbot.telephony.transactions import Transactions
from rig import Kamailio, RtpSink, kamailio_binary, run_sipp
from tests.conftest import loopback_config, running_bot
from tests.test_sip_adapter import wait_finished

TLS_MODULE = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so")
_MARKS = (
    pytest.mark.integration,
    pytest.mark.skipif(not kamailio_binary(), reason="needs kamailio (Debian package kamailio)"),
    pytest.mark.skipif(not TLS_MODULE.exists(), reason="needs Kamailio's TLS module (kamailio-tls-modules)"),
)


def needs_tls(test):
    for mark in _MARKS:
        test = mark(test)
    return test


def stream_config(tmp_path: Path, prompts: Path, kam: Kamailio, transport: str, **sip):
    port = kam.tls_port if transport == "tls" else kam.tcp_port
    settings = dict(register=True, server="127.0.0.1", port=port, username="callbot", password="",
                    register_expires=60, transport=transport,
                    tls_ca_file=str(kam.ca_file) if transport == "tls" else "")
    settings.update(sip)
    return loopback_config(tmp_path, prompts, **settings)


def call_through(kam: Kamailio, workdir: Path, count: int = 1):
    """SIPp callers over UDP to Kamailio, which relays them to the bot over its TCP/TLS flow."""
    workdir.mkdir(parents=True, exist_ok=True)
    with RtpSink() as sink:
        result = run_sipp("uac_anonymous", kam.address, workdir=workdir, keys={"sink_port": sink.port},
                          calls=count, concurrent=1, rate=1, timeout=40)
        sink.wait_idle(idle=0.5, timeout=10)
        return result, len(sink.audio_packets())


@needs_tls
@pytest.mark.parametrize("transport", ["tls", "tcp"])
def test_the_bot_registers_and_takes_a_call_over_its_connection(tmp_path, short_prompts, transport):
    with Kamailio(tmp_path / "kamailio", tls=True) as kam:
        config = stream_config(tmp_path, short_prompts, kam, transport)
        with running_bot(config) as bot:
            assert kam.wait_registered("callbot", timeout=15), kam.log_text()[-3000:]
            contact = kam.contacts("callbot")[0]
            assert f"transport={transport}" in contact.lower(), contact
            import socket
            sock = bot.endpoint._phone.sip.connection.socket
            # no Nagle: a 200 OK must not wait for the peer's delayed ACK (44 ms INVITE→200 before)
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            assert sock.getsockname() == ("127.0.0.1", config.sip.local_port)  # the bot's own port
            result, packets = call_through(kam, tmp_path / "sipp")
            [row] = wait_finished(bot, 15)
    assert result.successful == 1 and result.failed == 0, result
    assert row.outcome == "withheld_rejected", row        # the anonymous caller's message, then BYE
    assert packets > 50                                    # the prompt reached the caller


@needs_tls
def test_the_callers_bye_reaches_the_bot_over_its_tls_connection(tmp_path, short_prompts):
    """An in-dialog request of the far end (its BYE, relayed by Kamailio over the bot's flow) is
    answered, and the row says the caller hung up."""
    with Kamailio(tmp_path / "kamailio", tls=True) as kam:
        config = stream_config(tmp_path, short_prompts, kam, "tls")
        config = replace(config, calls=replace(config.calls, unknown="screen"))
        with running_bot(config) as bot:
            assert kam.wait_registered("callbot", timeout=15), kam.log_text()[-3000:]
            (tmp_path / "sipp").mkdir()
            result = run_sipp("uac_caller_bye", kam.address, workdir=tmp_path / "sipp", timeout=30,
                              from_user="03012345678", keys={"hold_ms": 1500})
            [row] = wait_finished(bot, 15)
    assert result.successful == 1 and result.failed == 0, result
    assert row.outcome == "caller_hung_up", row


@needs_tls
def test_a_registrar_restart_drops_the_connection_and_the_bot_comes_back_on_it(tmp_path, short_prompts):
    with Kamailio(tmp_path / "kamailio", tls=True) as kam:
        config = stream_config(tmp_path, short_prompts, kam, "tls", keepalive=5.0)
        with running_bot(config) as bot:
            assert kam.wait_registered("callbot", timeout=15), kam.log_text()[-3000:]
            kam.restart()  # Kamailio forgets every registration and closes every connection
            started = time.monotonic()
            assert kam.wait_registered("callbot", timeout=20), kam.log_text()[-3000:]
            back_after = time.monotonic() - started
            result, packets = call_through(kam, tmp_path / "sipp")
            rows = wait_finished(bot, 15)
    assert back_after < 10, back_after
    assert result.successful == 1 and packets > 50, result
    assert rows[0].outcome == "withheld_rejected"


@needs_tls
@pytest.mark.parametrize("cert_hosts, reason", [
    (None, "sip.tls_ca_file"),                    # the bot does not trust the CA (no tls_ca_file)
    (("wrong.example",), "sip.server"),           # the certificate is for another name
])
def test_a_certificate_that_does_not_verify_is_refused_in_words(tmp_path, short_prompts, cert_hosts, reason):
    options = {"cert_hosts": cert_hosts} if cert_hosts else {}
    with Kamailio(tmp_path / "kamailio", tls=True, **options) as kam:
        config = stream_config(tmp_path, short_prompts, kam, "tls")
        if cert_hosts is None:
            config = replace(config, sip=replace(config.sip, tls_ca_file=""))
        from callbot.app import Bot

        with pytest.raises(CallbotError) as raised:  # the start's own check (as `callbot check`) refuses it
            Bot(config).start()
    message = str(raised.value)
    assert f"127.0.0.1:{kam.tls_port} (TLS)" in message and "certificate" in message and reason in message
    assert "Traceback" not in message


@needs_tls
def test_check_reports_the_transport_and_the_certificate(tmp_path, short_prompts):
    from callbot.preflight import _transport

    with Kamailio(tmp_path / "kamailio", tls=True) as kam:
        config = stream_config(tmp_path, short_prompts, kam, "tls")
        good = _transport(config.sip)
        unchecked = _transport(replace(config.sip, tls_verify=False))
        untrusted = _transport(replace(config.sip, tls_ca_file=""))
    assert good.severity == "ok" and "verified" in good.text and "TLSv1." in good.text, good
    assert "media: plain RTP" in good.text
    assert unchecked.severity == "warning" and "NOT checked" in unchecked.text, unchecked
    assert untrusted.severity == "error" and "not accepted" in str(untrusted), untrusted


# -- reliable transports: no retransmissions (RFC 3261 §17.1.2.2) — plain values, a fake clock ---------
BYE = (b"BYE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1;branch=z9hG4bK1\r\nCall-ID: c1\r\n"
       b"CSeq: 2 BYE\r\nFrom: <sip:b@x>;tag=1\r\nTo: <sip:a@x>;tag=2\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("reliable, expected", [(False, 6), (True, 0)])
def test_over_tcp_and_tls_the_bots_bye_is_sent_once_and_still_times_out(reliable, expected):
    now = [0.0]
    finals = []
    tx = Transactions(lambda: now[0], reliable=reliable)
    tx.request_sent(BYE, ("127.0.0.1", 5061), finals.append)
    resent = 0
    for _ in range(700):  # 35 s in 50 ms steps
        now[0] += 0.05
        resent += len(tx.tick())
    assert resent >= expected if expected else resent == 0
    assert finals == [None]  # timer F: no answer within 64·T1 is a failure either way


@needs_tls
def test_the_keepalive_is_a_crlf_ping_and_a_silent_registrar_is_left_for_a_new_connection(tmp_path, short_prompts):
    """RFC 5626 §4.4.1 with Kamailio's real pongs: while they come the connection stays; when the
    registrar goes silent without closing it (SIGSTOP: no FIN, no pong), the flow counts as failed
    after 10 s, and once it answers again the bot is on a new connection and registered."""
    import os
    import signal

    with Kamailio(tmp_path / "kamailio", tls=True) as kam:
        config = stream_config(tmp_path, short_prompts, kam, "tls", keepalive=5.0)
        with running_bot(config) as bot:
            assert kam.wait_registered("callbot", timeout=15), kam.log_text()[-3000:]
            client = bot.endpoint._phone.sip
            first = client.connection.socket
            time.sleep(11)                                   # two pings, two pongs
            assert client.connection.last_pong > 0 and client.connection.socket is first
            assert not client.stream_down.is_set()
            os.killpg(os.getpgid(kam.pid), signal.SIGSTOP)  # every Kamailio process: no pong, no FIN
            try:
                assert client.stream_down.wait(5 + 10 + 5), "no pong, yet the flow was not given up"
            finally:
                os.killpg(os.getpgid(kam.pid), signal.SIGCONT)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (client.stream_down.is_set()
                                                   or not bot.endpoint._registrar.state.registered):
                time.sleep(0.2)
            assert client.connection.socket is not first and bot.endpoint._registrar.state.registered
            assert kam.wait_registered("callbot", timeout=10)


# -- NAT: the public address (#15.4) ----------------------------------------------------------------------
@pytest.mark.integration
@pytest.mark.skipif(not kamailio_binary(), reason="needs kamailio (Debian package kamailio)")
def test_behind_nat_contact_via_and_sdp_carry_the_public_address_and_requests_carry_rport(tmp_path, short_prompts):
    """sip.public_address (127.0.0.9 here: an address the bot does not listen on) goes into the
    registration's Contact and Via and into the SDP answer; the sockets stay on local_ip, and
    the registrar answers the bot at its real source thanks to rport."""
    from callbot.telephony.democaller import DemoCaller

    with Kamailio(tmp_path / "kamailio") as kam:
        config = loopback_config(tmp_path, short_prompts, register=True, server="127.0.0.1", port=kam.port,
                                 username="callbot", password="", register_expires=60,
                                 public_address="127.0.0.9", trusted_sources=("127.0.0.1",))
        with running_bot(config) as bot:
            assert kam.wait_registered("callbot", timeout=15), kam.log_text()[-3000:]
            contact = kam.contacts("callbot")[0]
            report = DemoCaller("127.0.0.1", config.sip.local_port).call("<sip:03012345678@fritz.box>",
                                                                        hangup_after=0.5, timeout=15)
            wait_finished(bot, 15)
    assert f"@127.0.0.9:{config.sip.local_port}" in contact, contact
    assert "c=IN IP4 127.0.0.9" in report.answer_sdp and "127.0.0.1" not in report.answer_sdp, report.answer_sdp


def test_the_register_itself_asks_for_rport_and_names_the_public_address(tmp_path, short_prompts):
    """The bytes of the bot's REGISTER, read by a plain UDP socket standing in for the registrar."""
    import socket

    stub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stub.bind(("127.0.0.1", 0))
    stub.settimeout(10)
    config = loopback_config(tmp_path, short_prompts, register=True, server="127.0.0.1",
                             port=stub.getsockname()[1], username="callbot", password="",
                             public_address="127.0.0.9")
    try:
        with running_bot(config):
            data, source = stub.recvfrom(65535)
    finally:
        stub.close()
    head = data.decode().split("\r\n\r\n")[0]
    via = next(line for line in head.split("\r\n") if line.lower().startswith(("via:", "v:")))
    contact = next(line for line in head.split("\r\n") if line.lower().startswith(("contact:", "m:")))
    assert head.startswith("REGISTER ") and source == ("127.0.0.1", config.sip.local_port)
    assert ";rport" in via and "127.0.0.9" in via and "@127.0.0.9:" in contact, head


def test_public_address_must_be_an_ip_address(tmp_path):
    from callbot.config.load import load_config
    from callbot.errors import ConfigError

    path = tmp_path / "c.toml"
    path.write_text('[sip]\npublic_address = "router.example"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert 'sip.public_address: expected an IP address such as "203.0.113.7"' in str(raised.value)


@pytest.mark.parametrize("sip, message", [
    ('transport = "udp"\nmedia_encryption = "required"',
     'sip.media_encryption: "required" sends the SRTP keys (SDES) in the SDP, which over "udp" anyone'),
    ('transport = "tcp"\nmedia_encryption = "optional"', 'over "tcp" anyone on the way can read'),
    ('transport = "tls"\nregister = false', 'sip.transport: "tls" needs sip.register = true'),
    ('transport = "udp"\ntls_ca_file = "good.pem"', 'sip.tls_ca_file: only used with sip.transport = "tls"'),
    ('transport = "tls"\ntls_ca_file = "missing.pem"', "sip.tls_ca_file: cannot read"),
    ('transport = "tls"\ntls_ca_file = "ca.pem"', "holds no PEM certificate"),
    ('transport = "sctp"', 'sip.transport: expected one of "udp", "tcp", "tls", got "sctp"'),
    ('media_encryption = "always"', 'sip.media_encryption: expected one of "off", "optional", "required"'),
])
def test_transport_settings_are_checked_with_the_key_and_the_fix(tmp_path, sip, message):
    from callbot.config.load import load_config
    from callbot.errors import ConfigError

    import trustme

    (tmp_path / "ca.pem").write_text("not a certificate\n")
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "good.pem"))
    path = tmp_path / "c.toml"
    path.write_text(f"[sip]\n{sip}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert message in str(raised.value), str(raised.value)


class StreamRegistrar:
    """A registrar stand-in on TCP: answers every REGISTER with 200 (Content-Length framing) and
    never answers a CRLF ping (no RFC 5626 support); ``poison()`` sends a message whose framing is
    broken (two different Content-Length headers) down the newest connection."""

    def __init__(self):
        import socket
        import threading

        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections: list = []
        self.registers = 0
        self._threads = threading
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(conn)
            self._threads.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn) -> None:
        import re

        buffer = b""
        while True:
            try:
                chunk = conn.recv(65535)
            except OSError:
                return
            if not chunk:
                return
            buffer = (buffer + chunk).lstrip(b"\r\n")
            while b"\r\n\r\n" in buffer:
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = int((re.search(rb"(?im)^content-length:\s*(\d+)", head) or [b"", b"0"])[1])
                buffer = rest[length:].lstrip(b"\r\n")
                if head.startswith(b"REGISTER "):
                    self.registers += 1
                    keep = [line for line in head.split(b"\r\n")[1:]
                            if line.split(b":")[0].strip().lower() in (b"via", b"from", b"to", b"call-id", b"cseq",
                                                                       b"contact")]
                    conn.sendall(b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + b"\r\nExpires: 60\r\n"
                                 b"Content-Length: 0\r\n\r\n")

    def poison(self) -> None:
        self.connections[-1].sendall(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nContent-Length: 5\r\n"
                                     b"Content-Length: 9\r\n\r\nhello")

    def close(self) -> None:
        self.server.close()
        for conn in self.connections:
            conn.close()


def test_a_registrar_without_pongs_keeps_its_connection_and_a_broken_stream_is_reopened(tmp_path, short_prompts):
    """RFC 5626 §4.4.1: only outbound registrars answer CRLF pings, so a registrar that never did
    is not dropped for missing pongs (two keepalives pass on one connection); a message whose
    framing is broken closes the stream (RFC 3261 §18.3): the bot reconnects and registers again,
    and its receive thread lives on."""
    registrar = StreamRegistrar()
    config = loopback_config(tmp_path, short_prompts, register=True, server="127.0.0.1", port=registrar.port,
                             username="callbot", password="", transport="tcp", keepalive=5.0,
                             trusted_sources=("127.0.0.1",))
    try:
        with running_bot(config) as bot:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not bot.endpoint._registrar.state.registered:
                time.sleep(0.1)
            assert bot.endpoint._registrar.state.registered
            time.sleep(12)  # two keepalives without a pong
            assert len(registrar.connections) == 1 and bot.endpoint._registrar.state.registered
            before = registrar.registers
            registrar.poison()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and (len(registrar.connections) < 2 or registrar.registers <= before):
                time.sleep(0.1)
            assert len(registrar.connections) == 2 and registrar.registers > before
            receivers = [t for t in __import__("threading").enumerate() if t.name == "SIP Receive"]
            assert receivers and all(t.is_alive() for t in receivers)
    finally:
        registrar.close()
