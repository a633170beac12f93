"""Real softphones over SIP/TLS with SDES-SRTP (issue #15): baresip 1.0 and linphone (linphonec 5.1).

Kamailio listens on TLS with a test CA (``Kamailio(..., tls=True)``); the clients register and
call through ``kam.tls_port`` with mandatory SRTP (baresip ``mediaenc=srtp-mand``, linphone
``media_encryption=srtp`` + ``media_encryption_mandatory=1``), everything inside one private
network namespace (only ``lo``), as in tests/test_softphones.py. linphone verifies Kamailio's
certificate against the test CA; baresip 1.0 cannot (it has no such setting).

The clients' side first: each registers over TLS, an INVITE to a user who is absent goes out
over TLS and its 404/480 comes back, and the offer is ``RTP/SAVP`` with an
``AES_CM_128_HMAC_SHA1_80`` crypto line. Then end to end with the bot registered over TLS and
``sip.media_encryption = "required"``: the client hears the prompt (decrypted on its side), and
the bot records what linphone says (decrypted on the bot's side) at correlation ≥ 0.9, while a
capture on the namespace's loopback shows that no RTP packet of the call was plain.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from callbot.audio import write_wav

from rig import Kamailio, kamailio_binary, kamailio_tls_module
from rig.softphones import Baresip, Linphone, netns_unavailable, private_netns
from tests.conftest import loopback_config, running_bot
from rig.capture import LoopbackCapture
from rig.softphones_support import compare, pcm_array, read_wav
from tests.test_softphones import (BUNDLED, CALLER, assert_heard_prompt, explain, finished_row, prompt, silence_wav,
                                   speech_wav)

_NO_NETNS = netns_unavailable()
BARESIP_SRTP = Path("/usr/lib/baresip/modules/srtp.so")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not kamailio_binary(), reason="needs kamailio (Debian package kamailio)"),
    pytest.mark.skipif(kamailio_tls_module() is None,
                       reason="needs Kamailio's TLS module (Debian package kamailio-tls-modules)"),
    pytest.mark.skipif(_NO_NETNS is not None, reason=f"softphones run in a private network namespace: {_NO_NETNS}"),
]

CLIENTS = {"linphone": Linphone, "baresip": Baresip}
SUITE = "AES_CM_128_HMAC_SHA1_80"  # RFC 4568's mandatory-to-implement suite; both clients offer it


def need(name: str) -> None:
    cls = CLIENTS[name]
    if not cls.available():
        pytest.skip(f"{cls.binary} not installed (Debian package {'linphone-cli' if name == 'linphone' else 'baresip'})")
    if name == "baresip" and not BARESIP_SRTP.exists():
        pytest.skip(f"baresip's SRTP module {BARESIP_SRTP} is missing (Debian package baresip-core)")


def secure_phone(client: str, workdir: Path, kam: Kamailio, source: Path, **kw):
    """The client registered over TLS at ``kam`` with mandatory SDES-SRTP."""
    if client == "baresip":
        return Baresip(workdir, kam, source=source, transport="tls", mediaenc="srtp-mand", **kw)
    return Linphone(workdir, kam, source=source, transport="tls", media_encryption="srtp", mandatory=True, **kw)


def explain_tls(phone, kam: Kamailio) -> str:
    return f"{explain(phone)}\n--- kamailio ---\n{kam.log_text()[-2500:]}"


def assert_srtp_offer(phone, why: str) -> None:
    assert phone.offer_profile() == "RTP/SAVP", why
    assert SUITE in phone.offer_crypto(), why


@pytest.mark.parametrize("client", ["baresip", "linphone"])
def test_softphone_registers_over_tls(tmp_path, client):
    need(client)
    source = silence_wav(tmp_path / "mic.wav", 20)
    with private_netns():
        with Kamailio(tmp_path / "kamailio", known_users=(CALLER,), tls=True) as kam, \
                secure_phone(client, tmp_path / client, kam, source) as phone:
            assert kam.wait_registered(CALLER, timeout=10), explain_tls(phone, kam)
            contacts = kam.contacts(CALLER)
            log = kam.log_text()
    assert len(contacts) == 1 and "transport=tls" in contacts[0].lower(), contacts
    # the REGISTER came in on the TLS listener (RIG-STREAM logs $proto), not over UDP
    assert re.search(r"RIG-STREAM REGISTER from tls:127\.0\.0\.1:\d+", log), log[-3000:]
    assert re.search(rf"RIG-REGISTER user={CALLER} ", log), log[-3000:]


@pytest.mark.parametrize("client", ["baresip", "linphone"])
@pytest.mark.parametrize("callee,status", [("callbot", 480), ("nobody", 404)],
                         ids=["known-not-registered-480", "unknown-404"])
def test_softphone_call_to_an_absent_user_fails_over_tls_with_an_srtp_offer(tmp_path, client, callee, status):
    """The INVITE path over TLS: the client's INVITE goes to Kamailio's TLS listener, its final
    response comes back down the same connection, and the offer asks for SRTP only."""
    need(client)
    source = silence_wav(tmp_path / "mic.wav", 20)
    with private_netns():
        with Kamailio(tmp_path / "kamailio", known_users=("callbot", CALLER), tls=True) as kam, \
                secure_phone(client, tmp_path / client, kam, source) as phone:
            assert kam.wait_registered(CALLER, timeout=10), explain_tls(phone, kam)
            phone.call(callee)
            ended = phone.wait_ended(15)
            why = explain_tls(phone, kam)
            log = kam.log_text()
    assert ended, why
    assert status in phone.invite_statuses(), f"{phone.invite_statuses()}\n{why}"
    assert not phone.answers(), why                                   # nothing answered it
    invite = phone.offers()[0]
    assert invite.startswith(f"INVITE {phone.callee_uri(callee)} SIP/2.0"), invite
    assert re.search(r"^Via: SIP/2\.0/TLS ", invite, re.M | re.I), invite
    assert re.search(rf"RIG-REQ INVITE sip:{callee}@", log) and re.search(r"RIG-STREAM INVITE from tls:", log), log
    assert_srtp_offer(phone, why)
    if client == "baresip":
        assert str(status) in phone.closed_reason(), phone.closed_reason()


# --------------------------------------------------------------------------
# End to end: the bot registered over TLS, SRTP required
# --------------------------------------------------------------------------


@contextmanager
def tls_rig(tmp_path: Path, unknown: str = "greet", media_encryption: str = "required"):
    """Kamailio with TLS + the bot registered over TLS as callbot, inside a private network namespace."""
    with private_netns():
        with Kamailio(tmp_path / "kamailio", known_users=("callbot", CALLER), tls=True) as kam:
            config = loopback_config(tmp_path, BUNDLED, unknown=unknown, transcription="off", register=True,
                                     server="127.0.0.1", port=kam.tls_port, username="callbot", password="",
                                     register_expires=60, transport="tls", tls_ca_file=str(kam.ca_file),
                                     media_encryption=media_encryption)
            with running_bot(config) as bot:
                assert kam.wait_registered("callbot", timeout=15), kam.log_text()[-3000:]
                assert "transport=tls" in kam.contacts("callbot")[0].lower(), kam.contacts("callbot")
                yield kam, bot, config


@pytest.mark.parametrize("client", ["baresip", "linphone"])
def test_softphone_hears_the_hello_over_tls_and_srtp(tmp_path, client):
    need(client)
    source = silence_wav(tmp_path / "mic.wav", 40)
    with tls_rig(tmp_path) as (kam, bot, _), secure_phone(client, tmp_path / client, kam, source) as phone:
        phone.call()
        assert phone.wait_connected(20), explain_tls(phone, kam)
        assert phone.wait_ended(40), explain_tls(phone, kam)  # the bot hangs up after the prompt
        row = finished_row(bot)
    why = (f"offer {phone.offer_profile()} {phone.offer_crypto()} answer {phone.answer_profile()} "
           f"{phone.answer_crypto()}\n{explain(phone)}")
    assert row.outcome == "answered" and row.caller_number == "+493012345678", row
    assert_srtp_offer(phone, why)
    assert phone.answer_profile() == "RTP/SAVP", why
    answered = phone.answer_crypto()
    assert len(answered) == 1 and answered[0] in phone.offer_crypto(), why  # one suite, one the client offered
    if client == "linphone":
        assert "Negotiated media encryption is LinphoneMediaEncryptionSRTP" in phone.log(), why
    else:
        assert "CALL_CLOSED" in phone.event_types() and "end of file" not in phone.closed_reason()
    assert_heard_prompt(phone, "hello")  # decrypted on the client's side: SRTP both ways works


def test_the_bot_records_what_linphone_says_over_srtp(tmp_path):
    """The caller's audio arrives encrypted; the bot's recording of its turn is what was said."""
    need("linphone")
    speech = speech_wav(tmp_path)
    lead = sum(prompt(p).duration for p in ("greeting", "recording_notice", "ask_identity")) + 2.0
    mic = np.concatenate([np.zeros(int(8000 * lead)), speech, np.zeros(8000 * 40)])
    source = tmp_path / "mic.wav"
    write_wav(source, mic.astype("<i2").tobytes())
    with tls_rig(tmp_path, unknown="screen") as (kam, bot, config), \
            LoopbackCapture(range(config.sip.rtp_port_min, config.sip.rtp_port_max + 1)) as capture, \
            secure_phone("linphone", tmp_path / "linphone", kam, source) as phone:
        phone.call()
        assert phone.wait_connected(20), explain_tls(phone, kam)
        recordings = Path(config.storage.recordings)
        deadline = time.monotonic() + lead + len(speech) / 8000 + 15
        turns = []
        while time.monotonic() < deadline and not turns:
            time.sleep(0.3)
            turns = sorted(recordings.glob("*/*identity*.wav"))
        time.sleep(0.5)
        phone.hangup()
        assert phone.wait_ended(15), explain_tls(phone, kam)
        finished_row(bot)
    assert phone.answer_profile() == "RTP/SAVP"
    assert turns, f"no caller turn under {recordings}\n{explain_tls(phone, kam)}"
    cmp = compare(speech, read_wav(turns[0]))
    assert cmp.correlation >= 0.9, cmp.describe()
    # the capture on lo, both directions of the bot's media: every RTP packet carries the SRTP
    # authentication tag (G.711: 12 + 160 + 10 or 4 bytes), none is plain (12 + 160)
    sizes = sorted({len(p) for p in capture.rtp()})
    assert len(capture.rtp()) > 200 and 172 not in sizes and set(sizes) <= {176, 182}, sizes


def test_hold_and_resume_keep_the_srtp_call_going(tmp_path):
    """linphone holds and resumes the SRTP call (two re-INVITEs with RTP/SAVP offers): both are
    answered RTP/SAVP with the bot's same key, and the prompt is heard again after the resume —
    decrypted, and not cut off by the RTP watchdog."""
    need("linphone")
    source = silence_wav(tmp_path / "mic.wav", 60)
    with tls_rig(tmp_path) as (kam, bot, _), secure_phone("linphone", tmp_path / "linphone", kam, source) as phone:
        phone.call()
        assert phone.wait_connected(20), explain_tls(phone, kam)
        time.sleep(2.5)
        phone.pause()
        assert phone.wait_for(r"Call \d+ .* is now paused", 10), explain_tls(phone, kam)
        time.sleep(2.0)
        after = phone.workdir / "heard-after-resume.wav"
        phone.send(f"record {after}")
        phone.resume()
        assert phone.wait_for(r"(?s)Media streams established.*Media streams established", 10), explain_tls(phone, kam)
        phone.wait_ended(25)
        row = finished_row(bot)
    answers = phone.answers()
    assert len(answers) == 3, answers                                    # call, hold, resume
    keys = {line for answer in answers for line in answer.splitlines() if line.startswith("a=crypto:")}
    assert all("RTP/SAVP" in answer for answer in answers) and len(keys) == 1, answers
    heard = compare(pcm_array(prompt("hello").pcm), read_wav(after))
    assert heard.heard_seconds >= 3.0 and heard.local >= 0.4, heard.describe()
    assert row.outcome == "answered", row
