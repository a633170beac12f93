"""Proves the integration rig (tests/rig) works: Kamailio + SIPp + RTP on 127.0.0.1.

The SIPp callee scenarios (uas_*) stand in for the bot here; the bot's own
integration tests use the same rig with the real bot registered as ``callbot``.
Tests that need the binaries are marked ``integration`` and skipped when
kamailio or sipp is missing.
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import pytest

try:  # `python -m pytest` from the repo root (tests/ importable as a package dir)
    from tests.rig import (
        Kamailio,
        RtpSink,
        anonymous_headers,
        kamailio_binary,
        pcm16_tone,
        run_sipp,
        sip_request,
        sipp_binary,
        start_sipp,
        write_rtp_pcap,
    )
    from tests.rig.rtp import PTIME, parse_rtp, read_pcap_udp_payloads
except ImportError:  # plain `pytest`: tests/ itself is on sys.path
    from rig import (
        Kamailio,
        RtpSink,
        anonymous_headers,
        kamailio_binary,
        pcm16_tone,
        run_sipp,
        sip_request,
        sipp_binary,
        start_sipp,
        write_rtp_pcap,
    )
    from rig.rtp import PTIME, parse_rtp, read_pcap_udp_payloads

needs_binaries = pytest.mark.skipif(
    kamailio_binary() is None or sipp_binary() is None,
    reason="integration rig needs /usr/sbin/kamailio (apt kamailio) and sipp (apt sip-tester)",
)
integration = [pytest.mark.integration, needs_binaries]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still "exists"; check its state
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


@pytest.fixture
def kam(tmp_path: Path):
    k = Kamailio(tmp_path / "kam")
    k.start()
    yield k
    pid = k.pid
    k.stop()
    assert pid is None or not _group_alive(pid), "kamailio processes left behind"


@pytest.fixture
def callee(tmp_path: Path, request: pytest.FixtureRequest):
    """Factory: start a SIPp UAS scenario and register it as ``callbot``."""
    procs = []

    def start(kam: Kamailio, scenario: str, keys: dict | None = None, timeout: float = 20):
        uas = start_sipp(scenario, kam.address, workdir=tmp_path / "uas", keys=keys or {}, timeout=timeout)
        procs.append(uas)
        reg = run_sipp(
            "uac_register", kam.address, workdir=tmp_path / "reg",
            keys={"contact_port": uas.port, "expires": 120}, timeout=10,
        )
        assert reg.ok, reg.describe()
        assert kam.wait_registered("callbot", timeout=5)
        assert kam.contacts("callbot") == [f"sip:callbot@127.0.0.1:{uas.port}"]
        return uas

    yield start
    for p in procs:
        p.kill()
        p.wait(5)
        assert not _group_alive(p.pid), "sipp left behind"


# --------------------------------------------------------------------------
# Kamailio lifecycle
# --------------------------------------------------------------------------


@pytest.mark.integration
@needs_binaries
def test_kamailio_start_options_restart_stop(tmp_path: Path) -> None:
    k = Kamailio(tmp_path / "kam")
    with k:
        port, pid = k.port, k.pid
        assert k.running() and k.ping()
        assert k.uri("callbot") == f"sip:callbot@127.0.0.1:{port}"
        assert k.address == f"127.0.0.1:{port}"
        cfg = k.cfg_path.read_text()
        assert "children=1" in cfg and 'save("location", "0x04")' in cfg

        # register something, then restart: same port, location table empty
        reg = run_sipp("uac_register", k.address, workdir=tmp_path, keys={"contact_port": 5999}, timeout=10)
        assert reg.ok, reg.describe()
        assert k.registered("callbot")
        assert "RIG-REGISTER user=callbot" in k.log_text()

        k.restart()
        assert k.port == port and k.pid != pid
        assert not _group_alive(pid)
        assert k.ping()
        assert not k.registered("callbot")
        assert k.wait_registered("callbot", timeout=0.3) is False
        new_pid = k.pid
    assert not k.running()
    assert not _group_alive(new_pid)
    assert sip_request(port, "OPTIONS", timeout=0.5) is None


@pytest.mark.integration
@needs_binaries
def test_reregistration_replaces_stale_contact(kam: Kamailio, tmp_path: Path) -> None:
    for contact_port in (6001, 6002):
        res = run_sipp("uac_register", kam.address, workdir=tmp_path, keys={"contact_port": contact_port}, timeout=10)
        assert res.ok, res.describe()
    assert kam.contacts("callbot") == ["sip:callbot@127.0.0.1:6002"]
    res = run_sipp("uac_register", kam.address, workdir=tmp_path, keys={"contact_port": 6002, "expires": 0}, timeout=10)
    assert res.ok, res.describe()
    assert kam.wait_registered("callbot", timeout=2, registered=False)


@pytest.mark.integration
@needs_binaries
def test_expires_limits(tmp_path: Path) -> None:
    with Kamailio(tmp_path / "kam", max_expires=60, min_expires=5) as kam:
        for asked, granted in ((3600, 60), (2, 5)):
            res = run_sipp("uac_register", kam.address, workdir=tmp_path,
                           keys={"contact_port": 6003, "expires": asked}, timeout=10)
            assert res.ok, res.describe()
            (ok,) = res.find("received", 200)
            assert ok.header("Contact").endswith(f";expires={granted}"), ok.text


# --------------------------------------------------------------------------
# Calls through Kamailio
# --------------------------------------------------------------------------


@pytest.mark.integration
@needs_binaries
def test_call_caller_hangs_up(kam: Kamailio, callee, tmp_path: Path) -> None:
    uas = callee(kam, "uas_answer", {"ring_ms": 50, "bye_timeout_ms": 10000})
    with RtpSink() as sink:
        res = run_sipp(
            "uac_caller_bye", kam.address, workdir=tmp_path,
            keys={"sink_port": sink.port, "hold_ms": 300, "display": "Anonymous"},
            from_user="anonymous", extra_headers=anonymous_headers("+4930123456"), timeout=15,
        )
    assert res.ok and res.returncode == 0, res.describe()
    uas_res = uas.wait(10)
    assert uas_res.ok, uas_res.describe()

    # What the callee got: our headers, SDP to the sink, via the proxy.
    (invite,) = uas_res.find("received", "INVITE")
    assert invite.header("Privacy") == "id"
    assert invite.headers("P-Asserted-Identity") == [
        "<sip:+4930123456@carrier.example;user=phone>",
        "<tel:+4930123456>",
    ]
    assert invite.header("From").startswith('"Anonymous" <sip:anonymous@127.0.0.1>')
    assert f"m=audio {sink.port} RTP/AVP 0 8 101" in invite.body
    assert "c=IN IP4 127.0.0.1" in invite.body
    assert invite.header("Record-Route") is not None
    # ACK and BYE were loose-routed through Kamailio
    for method in ("ACK", "BYE"):
        (sent,) = res.find("sent", method)
        assert f"127.0.0.1:{kam.port};lr" in (sent.header("Route") or ""), sent.text
        assert uas_res.find("received", method)
    assert "RIG-REQ BYE" in kam.log_text()


@pytest.mark.integration
@needs_binaries
def test_call_callee_hangs_up(kam: Kamailio, callee, tmp_path: Path) -> None:
    uas = callee(kam, "uas_answer_bye", {"ring_ms": 50, "hold_ms": 300, "bye_timeout_ms": 5000})
    res = run_sipp("uac_call", kam.address, workdir=tmp_path, from_user="+4930111222", timeout=15)
    assert res.ok, res.describe()
    assert uas.wait(10).ok
    (bye,) = res.find("received", "BYE")
    assert bye.first_line.startswith("BYE sip:+4930111222@127.0.0.1:")
    assert res.find("sent", 200)


@pytest.mark.integration
@needs_binaries
def test_anonymous_caller_scenario(kam: Kamailio, callee, tmp_path: Path) -> None:
    uas = callee(kam, "uas_answer_bye", {"ring_ms": 0, "hold_ms": 200})
    res = run_sipp("uac_anonymous", kam.address, workdir=tmp_path, keys={"pai_number": "+4940555666"}, timeout=15)
    assert res.ok, res.describe()
    uas_res = uas.wait(10)
    assert uas_res.ok, uas_res.describe()
    (invite,) = uas_res.find("received", "INVITE")
    assert invite.header("From").startswith('"Anonymous" <sip:anonymous@anonymous.invalid>;tag=')
    assert invite.header("Privacy") == "id"
    assert invite.headers("P-Asserted-Identity") == [
        "<sip:+4940555666@carrier.example;user=phone>",
        "<tel:+4940555666>",
    ]
    assert res.find("received", "BYE")


@pytest.mark.integration
@needs_binaries
def test_unregistered_and_unknown_users_fail(kam: Kamailio, tmp_path: Path) -> None:
    keys = {"answer_timeout_ms": 3000, "bye_timeout_ms": 3000}
    res = run_sipp("uac_call", kam.address, workdir=tmp_path, keys=keys, timeout=8)
    assert not res.ok and res.returncode == 1 and res.failed == 1, res.describe()
    assert 480 in res.statuses_received(), res.describe()

    res = run_sipp("uac_call", kam.address, workdir=tmp_path, service="nobody", keys=keys, timeout=8)
    assert not res.ok and res.failed == 1, res.describe()
    assert 404 in res.statuses_received(), res.describe()


@pytest.mark.integration
@needs_binaries
def test_non_loopback_next_hop_refused(kam: Kamailio, tmp_path: Path) -> None:
    # 0.0.0.0 would only reach this host anyway; the guard refuses it all the same
    resp = sip_request(kam.port, "REGISTER", kam.uri("callbot"),
                       headers={"Contact": "<sip:callbot@0.0.0.0:5999>", "Expires": "60"})
    assert resp is not None and resp.status == 200
    res = run_sipp("uac_call", kam.address, workdir=tmp_path, keys={"answer_timeout_ms": 2000}, timeout=5)
    assert res.statuses_received() == [502], res.describe()
    assert "RIG-REFUSED non-loopback next hop 0.0.0.0" in kam.log_text()


@pytest.mark.integration
@needs_binaries
def test_cancel_while_ringing(kam: Kamailio, callee, tmp_path: Path) -> None:
    uas = callee(kam, "uas_ring", {"cancel_timeout_ms": 5000})
    res = run_sipp("uac_cancel", kam.address, workdir=tmp_path, keys={"cancel_after_ms": 200}, timeout=15)
    assert res.ok, res.describe()
    uas_res = uas.wait(10)
    assert uas_res.ok, uas_res.describe()
    assert [m.first_line.split()[0] for m in res.find("sent")] == ["INVITE", "CANCEL", "ACK"]
    got = [(m.status, m.method) for m in res.find("received")]
    assert (200, "CANCEL") in got and (487, "INVITE") in got, got
    assert uas_res.find("received", "CANCEL")


# --------------------------------------------------------------------------
# Digest auth
# --------------------------------------------------------------------------


@pytest.mark.integration
@needs_binaries
def test_register_digest_auth(tmp_path: Path) -> None:
    with Kamailio(tmp_path / "kam", auth={"callbot": "s3cret"}) as kam:
        # no credentials -> 401 with qop="auth"
        resp = sip_request(kam.port, "REGISTER", f"sip:callbot@127.0.0.1:{kam.port}")
        assert resp is not None and resp.status == 401
        www = resp.header("WWW-Authenticate") or ""
        assert www.startswith("Digest") and 'qop="auth"' in www and 'realm="127.0.0.1"' in www

        # SIPp answers the challenge with the right password -> 200
        ok = run_sipp("uac_register", kam.address, workdir=tmp_path, auth=("callbot", "s3cret"),
                      keys={"contact_port": 6010}, timeout=10)
        assert ok.ok, ok.describe()
        assert ok.statuses_received() == [401, 200]
        (challenge,) = ok.find("received", 401)
        assert 'qop="auth"' in challenge.header("WWW-Authenticate")
        (second,) = [m for m in ok.find("sent", "REGISTER") if m.header("Authorization")]
        assert "qop=auth" in second.header("Authorization")
        assert kam.registered("callbot")

        # wrong password -> 403, call fails, still registered with the old contact
        bad = run_sipp("uac_register", kam.address, workdir=tmp_path, auth=("callbot", "wrong"),
                       keys={"contact_port": 6011}, timeout=10)
        assert not bad.ok and 403 in bad.statuses_received(), bad.describe()
        assert kam.contacts("callbot") == ["sip:callbot@127.0.0.1:6010"]


# --------------------------------------------------------------------------
# Audio: pcap played by SIPp reaches an RtpSink
# --------------------------------------------------------------------------


@pytest.mark.integration
@needs_binaries
@pytest.mark.skipif(os.geteuid() != 0, reason="SIPp play_pcap_audio uses a raw socket (needs root/CAP_NET_RAW)")
def test_play_pcap_through_call(kam: Kamailio, callee, tmp_path: Path) -> None:
    seconds = 1.6
    n = write_rtp_pcap(tmp_path / "speech.pcap", pcm16_tone(seconds, 440))
    assert n == 80
    with RtpSink() as callee_sink:
        uas = callee(kam, "uas_answer_bye", {"sink_port": callee_sink.port, "ring_ms": 50,
                                             "hold_ms": int(seconds * 1000) + 800})
        res = run_sipp("uac_play", kam.address, workdir=tmp_path,
                       keys={"pcap": tmp_path / "speech.pcap"}, timeout=15)
        assert res.ok, res.describe()
        assert uas.wait(10).ok
        callee_sink.wait_idle(idle=0.3, timeout=3)
        pkts = callee_sink.audio_packets()
    assert abs(len(pkts) - n) <= 0.1 * n, len(pkts)
    d = callee_sink.duration()
    assert abs(d.by_count - seconds) <= 0.1 * seconds
    assert abs(d.by_arrival - seconds) <= 0.1 * seconds + 0.1  # paced, not burst
    assert all(p.payload_type == 0 and len(p.payload) == 160 for p in pkts)
    pcm = callee_sink.payload_pcm()
    assert len(pcm) == 2 * 160 * len(pkts)
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    assert max(abs(s) for s in samples) > 5000  # the tone, not silence


@pytest.mark.integration
@needs_binaries
def test_caller_talks_with_rtpsink_send_to(kam: Kamailio, callee, tmp_path: Path) -> None:
    """Mid-call: read the callee's SDP from the live SIPp trace and talk to it."""
    with RtpSink() as caller_sink, RtpSink() as callee_sink:
        uas = callee(kam, "uas_answer_bye", {"sink_port": callee_sink.port, "ring_ms": 0, "hold_ms": 1500})
        caller = start_sipp("uac_call", kam.address, workdir=tmp_path,
                            keys={"sink_port": caller_sink.port}, timeout=15)
        with caller:
            answer = caller.wait_message("received", 200, timeout=5)
            assert answer is not None
            assert answer.sdp_audio() == ("127.0.0.1", callee_sink.port)
            caller_sink.send_to(answer.sdp_audio(), pcm16_tone(0.5, 700))
            res = caller.wait()
        assert res.ok, res.describe()
        assert uas.wait(10).ok
        assert callee_sink.wait_for_packets(25, timeout=1)
        assert {p.source for p in callee_sink.packets} == {caller_sink.address}


# --------------------------------------------------------------------------
# Pure-Python parts (no binaries needed)
# --------------------------------------------------------------------------


def test_write_rtp_pcap_layout(tmp_path: Path) -> None:
    pcm = pcm16_tone(0.5)
    n = write_rtp_pcap(tmp_path / "a.pcap", pcm)
    frames = read_pcap_udp_payloads(tmp_path / "a.pcap")
    assert n == len(frames) == 25
    times = [t for t, _ in frames]
    assert all(abs((b - a) - PTIME) < 1e-6 for a, b in zip(times, times[1:]))
    rtp = [parse_rtp(p, 0.0, ("127.0.0.1", 0)) for _, p in frames]
    assert [r.seq for r in rtp] == list(range(25))
    assert [r.timestamp for r in rtp] == [160 * i for i in range(25)]
    assert all(r.payload_type == 0 and len(r.payload) == 160 for r in rtp)


def test_rtp_sink_send_and_decode() -> None:
    pcm = pcm16_tone(0.4, 1000)
    with RtpSink() as rx, RtpSink() as tx:
        t0 = time.monotonic()
        tx.send_to(rx.address, pcm)
        assert time.monotonic() - t0 >= 0.35  # paced at 20 ms
        assert rx.wait_for_packets(20, timeout=2)
        assert rx.wait_idle(idle=0.1, timeout=2)
        d = rx.duration()
        assert len(rx.packets) == 20 and abs(d.by_count - 0.4) < 1e-9
        assert 0.3 < d.by_arrival < 0.6
        assert rx.packets[0].source == tx.address
        out = struct.unpack(f"<{len(pcm) // 2}h", rx.payload_pcm())
        ref = struct.unpack(f"<{len(pcm) // 2}h", pcm)
        assert max(abs(a - b) for a, b in zip(out, ref)) < 1100  # G.711 quantisation


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="SO_TIMESTAMPNS is Linux only")
def test_rtp_sink_keeps_the_kernels_receive_time() -> None:
    """kernel_arrival is when the datagram reached the socket, not when the sink's thread read it."""
    import socket

    with RtpSink() as rx:
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sent = []
        try:
            for seq in range(5):
                sent.append(time.time())
                sender.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 7) + bytes(160), rx.address)
                time.sleep(0.05)
        finally:
            sender.close()
        assert rx.wait_for_packets(5, timeout=2)
        packets = rx.packets
    stamps = [p.kernel_arrival for p in packets]
    assert None not in stamps
    for when_sent, stamp in zip(sent, stamps):
        assert 0 <= stamp - when_sent < 0.02  # loopback: stamped while the sender is in sendto()
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert all(0.045 < g < 0.1 for g in gaps)
