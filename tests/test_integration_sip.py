"""End to end against real peers: Kamailio as registrar/proxy, SIPp as the caller.

Everything runs on 127.0.0.1. The bot registers at Kamailio; SIPp calls
``sip:callbot@<kamailio>``; the caller's SDP points at an RtpSink owned by the
test, so the RTP the bot sends is measured here.
"""

from __future__ import annotations

import json
import random
import socket
import time
from dataclasses import replace
from pathlib import Path

import pytest

from callbot.config.load import load_config
from callbot.prompts.library import PromptLibrary
from rig import Kamailio, RtpSink, kamailio_binary, run_sipp, sipp_binary
from tests.conftest import REPO, loopback_config, running_bot

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (kamailio_binary() and sipp_binary()),
                       reason="needs kamailio and sipp (Debian packages kamailio, sip-tester)"),
]

BUNDLED = REPO / "prompts"


def registered_config(tmp_path: Path, kam: Kamailio, prompts: Path = BUNDLED, password: str = "", **sip):
    settings = dict(register=True, server="127.0.0.1", port=kam.port, username="callbot",
                    password=password, register_expires=60)
    settings.update(sip)
    return loopback_config(tmp_path, prompts, **settings)


def finished_rows(bot, count: int = 1, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bot.store.flush()
        rows = bot.store.calls(limit=50)
        if len(rows) >= count and all(r.outcome for r in rows):
            return rows
        time.sleep(0.05)
    raise AssertionError(f"expected {count} finished rows, got {bot.store.calls(limit=50)}")


@pytest.fixture
def kam(tmp_path):
    with Kamailio(tmp_path / "kamailio") as k:
        yield k


def test_anonymous_caller_hears_the_whole_prompt_then_gets_the_bots_bye(tmp_path, kam):
    prompt = PromptLibrary.load(BUNDLED, "de").get("withheld")
    with running_bot(registered_config(tmp_path, kam)) as bot, RtpSink() as sink:
        assert kam.wait_registered("callbot", timeout=10), kam.log_text()
        res = run_sipp("uac_anonymous", kam.address, workdir=tmp_path, keys={"sink_port": sink.port},
                       timeout=40)
        [row] = finished_rows(bot)
        events = bot.store.events(row.id)
    assert res.ok, res.describe()
    assert res.find("received", "BYE"), "the bot must hang up"
    durations = sink.duration()
    assert durations.by_count == pytest.approx(prompt.duration, abs=0.25)
    assert durations.by_arrival == pytest.approx(prompt.duration, abs=0.3)
    assert row.outcome == "withheld_rejected" and row.withheld
    # The caller asked for the number to be withheld: the PAI's number is not stored.
    assert row.caller_number is None and row.caller_dialled is None
    assert "30123456" not in json.dumps(row.to_json())
    decision = [e for e in events if e.kind == "decision"][0]
    assert decision.rule == "withheld" and "Privacy: id" in decision.reason


def test_numbered_caller_is_answered_and_stored_as_e164(tmp_path, kam, short_prompts):
    with running_bot(registered_config(tmp_path, kam, short_prompts)) as bot, RtpSink() as sink:
        assert kam.wait_registered("callbot", timeout=10), kam.log_text()
        res = run_sipp("uac_call", kam.address, workdir=tmp_path, from_user="03012345678",
                       keys={"sink_port": sink.port, "caller_host": "fritz.box"}, timeout=30)
        [row] = finished_rows(bot)
    assert res.ok, res.describe()
    assert sink.duration().by_count == pytest.approx(1.5, abs=0.1)
    assert row.outcome == "answered" and not row.withheld
    assert row.caller_number == "+493012345678" and row.caller_dialled == "03012345678"
    assert row.answered_at is not None


def test_cancel_before_answer_gets_487_and_a_cancelled_row(tmp_path, kam, short_prompts):
    config = registered_config(tmp_path, kam, short_prompts, answer_delay=3.0)
    with running_bot(config) as bot, RtpSink() as sink:
        assert kam.wait_registered("callbot", timeout=10), kam.log_text()
        res = run_sipp("uac_cancel", kam.address, workdir=tmp_path, from_user="+4930999888",
                       keys={"sink_port": sink.port, "cancel_after_ms": "400"}, timeout=20)
        [row] = finished_rows(bot)
        time.sleep(0.3)
    assert res.ok, res.describe()
    assert 487 in res.statuses_received()
    assert 200 not in [m.status for m in res.find("received") if m.is_response and "INVITE" in (m.header("CSeq") or "")]
    assert row.outcome == "cancelled" and row.answered_at is None
    assert not sink.packets


def test_caller_hanging_up_mid_prompt_finalizes_the_row(tmp_path, kam):
    with running_bot(registered_config(tmp_path, kam)) as bot, RtpSink() as sink:
        assert kam.wait_registered("callbot", timeout=10), kam.log_text()
        res = run_sipp("uac_caller_bye", kam.address, workdir=tmp_path, from_user="anonymous",
                       keys={"sink_port": sink.port, "hold_ms": "1200", "caller_host": "anonymous.invalid"},
                       timeout=20)
        [row] = finished_rows(bot)
    assert res.ok, res.describe()
    assert row.outcome == "caller_hung_up" and row.ended_at is not None
    assert row.duration < 4
    assert sink.duration().by_count < 3


def test_registration_with_digest_auth_qop(tmp_path, short_prompts):
    with Kamailio(tmp_path / "kamailio", auth={"callbot": "geheim-123"}) as kam:
        config = registered_config(tmp_path, kam, short_prompts, password="geheim-123")
        with running_bot(config) as bot, RtpSink() as sink:
            assert kam.wait_registered("callbot", timeout=10), kam.log_text()
            res = run_sipp("uac_call", kam.address, workdir=tmp_path, from_user="+4989123456",
                           keys={"sink_port": sink.port}, timeout=30)
            assert res.ok, res.describe()
            assert bot.endpoint.registration.registered
        log = kam.log_text()
    assert 'qop="auth"' in log or "qop=auth" in log or "401" in log


def test_wrong_password_keeps_retrying_and_never_crashes(tmp_path, short_prompts):
    with Kamailio(tmp_path / "kamailio", auth={"callbot": "right"}) as kam:
        config = registered_config(tmp_path, kam, short_prompts, password="wrong")
        with running_bot(config) as bot:
            time.sleep(3.5)
            state = bot.endpoint.registration
            assert not state.registered and state.attempts >= 2
            assert state.last_error
            assert not kam.registered("callbot")


def test_bot_registers_again_after_the_registrar_restarts(tmp_path, short_prompts):
    with Kamailio(tmp_path / "kamailio", min_expires=10) as kam:
        config = registered_config(tmp_path, kam, short_prompts, register_expires=10)
        with running_bot(config) as bot, RtpSink() as sink:
            assert kam.wait_registered("callbot", timeout=10), kam.log_text()
            kam.restart()
            assert not kam.registered("callbot")  # the location table is gone
            assert kam.wait_registered("callbot", timeout=15), "bot did not register again"
            res = run_sipp("uac_call", kam.address, workdir=tmp_path, from_user="+4940123456",
                           keys={"sink_port": sink.port}, timeout=30)
            rows = finished_rows(bot)
    assert res.ok, res.describe()
    assert [r.outcome for r in rows] == ["answered"]


def test_registration_starts_although_the_registrar_is_down_at_first(tmp_path, short_prompts):
    kam = Kamailio(tmp_path / "kamailio", min_expires=10)
    config = registered_config(tmp_path, kam, short_prompts, register_expires=10)
    with running_bot(config) as bot:
        time.sleep(1.5)  # a few failed attempts, with backoff
        assert not bot.endpoint.registration.registered
        with kam:
            assert kam.wait_registered("callbot", timeout=15)


def test_stop_unregisters(tmp_path, kam, short_prompts):
    with running_bot(registered_config(tmp_path, kam, short_prompts)):
        assert kam.wait_registered("callbot", timeout=10)
    assert kam.wait_registered("callbot", timeout=5, registered=False)


def garbage_datagrams(count: int) -> list[bytes]:
    rng = random.Random(1234)
    fixed = [
        b"", b"\x00", b"\r\n\r\n", b"INVITE", b"INVITE sip:callbot@127.0.0.1 SIP/2.0\r\n\r\n",
        b"INVITE sip:callbot@127.0.0.1 SIP/9.9\r\nCall-ID: x\r\n\r\n",
        b"SIP/2.0 200 OK\r\nCSeq: abc\r\n\r\n",
        b"BYE sip:callbot@127.0.0.1 SIP/2.0\r\nCall-ID: nope\r\nCSeq: 1 BYE\r\n\r\n",
        b"INVITE sip:callbot@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\n"
        b"From: <sip:1@x>;tag=1\r\nTo: <sip:callbot@127.0.0.1>\r\nCall-ID: g1\r\nCSeq: 1 INVITE\r\n"
        b"Content-Type: application/sdp\r\nContent-Length: 9999\r\n\r\nv=0\r\nm=audio xx",
        "INVITE sip:callbot@127.0.0.1 SIP/2.0\r\nFrom: <sip:ü@ß>\r\n\r\n".encode("latin-1"),
    ]
    while len(fixed) < count:
        fixed.append(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 1400))))
    return fixed[:count]


def test_garbage_sip_and_rtp_leave_the_bot_working_and_log_nothing(tmp_path, kam, short_prompts):
    config = registered_config(tmp_path, kam, short_prompts)
    with running_bot(config) as bot, RtpSink() as sink:
        assert kam.wait_registered("callbot", timeout=10), kam.log_text()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for datagram in garbage_datagrams(30):
                s.sendto(datagram, ("127.0.0.1", config.sip.local_port))
            for port in range(config.sip.rtp_port_min, config.sip.rtp_port_min + 10):
                for datagram in (b"", b"\x80", b"\x80\x65\x00", b"\x00" * 12, b"\xff" * 200):
                    s.sendto(datagram, ("127.0.0.1", port))
        time.sleep(0.5)
        bot.store.flush()
        assert bot.store.calls(limit=10) == []  # no bogus rows
        res = run_sipp("uac_call", kam.address, workdir=tmp_path, from_user="+4930555666",
                       keys={"sink_port": sink.port}, timeout=30)
        rows = finished_rows(bot)
    assert res.ok, res.describe()
    assert [r.caller_number for r in rows] == ["+4930555666"]


def test_example_config_registers_at_the_test_pbx(tmp_path):
    """config.toml as shipped works against a Kamailio on 127.0.0.1:5060."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind(("127.0.0.1", 5060))
    except OSError:
        pytest.skip("127.0.0.1:5060 is in use")
    finally:
        probe.close()
    config = load_config(REPO / "config.toml")
    config = replace(config, storage=replace(config.storage, database=tmp_path / "calls.db",
                                             recordings=tmp_path / "rec"))
    with Kamailio(tmp_path / "kamailio", port=5060) as kam, running_bot(config):
        assert kam.wait_registered("callbot", timeout=10), kam.log_text()


def test_refresh_follows_the_expiry_the_registrar_granted(tmp_path, short_prompts):
    """Asked 300 s, granted 10 s: the bot must refresh within ~5 s (rfcvoip: always 115 s)."""
    with Kamailio(tmp_path / "kamailio", max_expires=10, min_expires=5) as kam:
        config = registered_config(tmp_path, kam, short_prompts, register_expires=300)
        with running_bot(config) as bot:
            assert kam.wait_registered("callbot", timeout=10), kam.log_text()
            time.sleep(11.5)
            registers = kam.log_text().count("RIG-REGISTER user=callbot")
            assert bot.endpoint.registration.granted_expires == 10
    assert registers >= 3
