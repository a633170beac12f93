"""Malformed SIP (#10.8): the message kinds of the IETF's torture tests (RFC 4475 §3.1.2) get
400/416/505/501 or are ignored as RFC 3261 says — never a crash, never a call row — first as
plain values (validate.py), then sent to a running bot over UDP."""

from __future__ import annotations

import re
import socket
import time

import pytest

from callbot.telephony.validate import bad_request, check_request
from callbot.telephony.democaller import DemoCaller
from tests.conftest import loopback_config, running_bot

URI = "sip:callbot@127.0.0.1:5062"


def message(n: int, start: str, drop=(), replace=None, extra=(), body="", length=True) -> bytes:
    method = start.split(" ", 1)[0]
    headers = {"Via": f"SIP/2.0/UDP 127.0.0.1:{{port}};branch=z9hG4bK{n};rport",
               "From": "<sip:100@127.0.0.1>;tag=a", "To": "<sip:callbot@127.0.0.1>",
               "Call-ID": f"torture-{n}", "CSeq": f"1 {method}", "Max-Forwards": "70"}
    headers.update(replace or {})
    lines = [start] + [f"{k}: {v}" for k, v in headers.items() if k not in drop] + list(extra)
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


#: name -> (message, expected answer: a status, or None = dropped without an answer)
CASES = {
    "unterminated quoted display name": (message(1, f"INVITE {URI} SIP/2.0", replace={"From": '"Bob <sip:100@x>;tag=a'}), 400),
    "no From": (message(2, f"INVITE {URI} SIP/2.0", drop=("From",)), 400),
    "no Call-ID": (message(3, f"INVITE {URI} SIP/2.0", drop=("Call-ID",)), 400),
    "no CSeq": (message(4, f"INVITE {URI} SIP/2.0", drop=("CSeq",)), 400),
    "CSeq method mismatch": (message(5, f"INVITE {URI} SIP/2.0", replace={"CSeq": "1 ACK"}), 400),
    "overlarge CSeq": (message(6, f"INVITE {URI} SIP/2.0", replace={"CSeq": "36893488147419103232 INVITE"}), 400),
    "Content-Length larger than the message": (message(7, f"OPTIONS {URI} SIP/2.0", length=False,
                                                       extra=("Content-Length: 9999",)), 400),
    "negative Content-Length": (message(8, f"OPTIONS {URI} SIP/2.0", length=False, extra=("Content-Length: -999",)), 400),
    "unknown SIP version": (message(9, f"INVITE {URI} SIP/7.0"), 505),
    "unknown method": (message(10, f"NEWMETHOD {URI} SIP/2.0"), 501),
    "unknown method, CSeq mismatch": (message(11, f"NEWMETHOD {URI} SIP/2.0", replace={"CSeq": "1 INVITE"}), 400),
    "Request-URI in <>": (message(12, f"INVITE <{URI}> SIP/2.0"), 400),
    "LWS inside the Request-URI": (message(13, f"INVITE {URI};lr=on ;x SIP/2.0"), 400),
    "several SP in the request line": (message(14, f"OPTIONS  {URI}   SIP/2.0"), 400),
    "escaped headers in the Request-URI": (message(15, f"INVITE {URI}?Route=%3Csip:x%3E SIP/2.0"), 400),
    "two From headers": (message(16, f"INVITE {URI} SIP/2.0", extra=("From: <sip:200@127.0.0.1>;tag=b",)), 400),
    "unknown URI scheme": (message(17, "OPTIONS mailto:x@example.com SIP/2.0"), 416),
    "no Via (cannot be answered)": (message(18, f"INVITE {URI} SIP/2.0", drop=("Via",)), None),
    "a 60 kB header": (message(19, f"OPTIONS {URI} SIP/2.0", extra=("X-Big: " + "a" * 60000,)), 200),
    "compact forms and odd spacing (valid)": (
        b"OPTIONS " + URI.encode() + b" SIP/2.0\r\nv:SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK20\r\n"
        b"f:   <sip:100@127.0.0.1>;tag=a\r\nt : <sip:callbot@127.0.0.1>\r\ni:torture-20\r\nCSeq:1   OPTIONS\r\n"
        b"l: 0\r\n\r\n", 200),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_validator_gives_the_status_rfc_3261_asks_for(name):
    data, expected = CASES[name]
    problem = check_request(data)
    if expected in (None, 200, 501):
        assert problem is None or expected is None, problem
    else:
        assert problem is not None and problem[0] == expected, problem


def test_a_refusal_echoes_the_transaction_headers_and_says_why():
    data = CASES["CSeq method mismatch"][0]
    answer = bad_request(data, 400, "CSeq method ACK does not match the request's INVITE")
    assert answer.startswith(b"SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP")
    assert b"Call-ID: torture-5" in answer and b"CSeq: 1 ACK" in answer and b'Warning: 399 callbot "CSeq' in answer
    assert bad_request(CASES["no Via (cannot be answered)"][0], 400, "x") is None


def test_a_running_bot_answers_every_torture_message_as_expected_and_writes_no_row(tmp_path, short_prompts):
    config = loopback_config(tmp_path, short_prompts)
    with running_bot(config) as bot, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        for data, _ in CASES.values():
            data = data.replace(b"{port}", str(port).encode()).replace(b"127.0.0.1:5062", f"127.0.0.1:{config.sip.local_port}".encode())
            sock.sendto(data, ("127.0.0.1", config.sip.local_port))
        answers: dict[int, list[int]] = {}
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            sock.settimeout(0.1)
            try:
                reply = sock.recvfrom(65535)[0]
            except (socket.timeout, ConnectionRefusedError):
                continue
            branch = re.search(rb"branch=z9hG4bK(\d+)", reply)
            if branch:
                answers.setdefault(int(branch.group(1)), []).append(int(reply.split(b" ", 2)[1]))
        bot.store.flush()
        assert bot.store.calls(limit=50) == []
        report = DemoCaller("127.0.0.1", config.sip.local_port).call("<sip:+4930123456@127.0.0.1>", timeout=20)
    got = {name: answers.get(n) for n, name in enumerate(CASES, 1)}
    want = {name: None if expected is None else [expected] for name, (_, expected) in CASES.items()}
    assert got == want
    assert report.status == 200  # and the bot still takes calls
