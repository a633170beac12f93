"""Blind transfer (SIP REFER, RFC 3515) against a real SIPp peer through Kamailio."""

from __future__ import annotations

import threading

import pytest

from callbot.telephony.endpoint import SipEndpoint
from callbot.telephony.call import TransferResult
from rig import Kamailio, RtpSink, kamailio_binary, run_sipp, sipp_binary
from tests.conftest import loopback_config

TARGET = "sip:100@127.0.0.1:5099"


@pytest.mark.integration
@pytest.mark.skipif(not (kamailio_binary() and sipp_binary()), reason="needs kamailio and sipp")
def test_refer_hands_the_call_to_another_extension_and_the_bot_leaves(tmp_path, short_prompts):
    results = []
    done = threading.Event()

    def on_call(call):
        call.answer()
        results.append(call.transfer(TARGET, timeout=10))
        results.append(call.ended_by)
        done.set()

    with Kamailio(tmp_path / "kamailio") as kam, RtpSink() as sink:
        config = loopback_config(tmp_path, short_prompts, register=True, server="127.0.0.1", port=kam.port,
                                 username="callbot", password="")
        endpoint = SipEndpoint(config.sip, on_call)
        endpoint.start()
        try:
            assert endpoint.wait_registered(10)
            res = run_sipp("uac_refer", kam.address, workdir=tmp_path, from_user="+4930111222",
                           keys={"sink_port": sink.port}, timeout=30)
            assert done.wait(15)
        finally:
            endpoint.stop()
    assert res.ok, res.describe()
    [refer] = res.find("received", "REFER")
    assert refer.header("Refer-To") == f"<{TARGET}>"
    assert "callbot@" in refer.header("Referred-By")
    result, ended_by = results
    assert result.succeeded and result.refer_status == 202 and result.final_status == 200
    assert ended_by == "transfer"
    assert res.find("received", "BYE")


def test_transfer_result_descriptions():
    assert TransferResult("sip:1@x", None, None).describe().endswith("no answer")
    assert "refused with 603" in TransferResult("sip:1@x", 603, None).describe()
    assert not TransferResult("sip:1@x", 202, 486).succeeded
    assert TransferResult("sip:1@x", 202, 200).succeeded
