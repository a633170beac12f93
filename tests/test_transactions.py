"""RFC 3261 transactions (callbot/telephony/transactions.py) with a fake clock: datagrams in and out."""

from __future__ import annotations

from callbot.telephony.transactions import T1, T2, TIMEOUT, Transactions, parse_key

PEER = ("127.0.0.1", 5060)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def request(method: str, cseq: int = 1, branch: str = "z9hG4bK-1", call_id: str = "c1", cseq_method=None) -> bytes:
    return (f"{method} sip:bot@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\n"
            f"From: <sip:a@x>;tag=1\r\nTo: <sip:bot@127.0.0.1>\r\nCall-ID: {call_id}\r\n"
            f"CSeq: {cseq} {cseq_method or method}\r\nContent-Length: 0\r\n\r\n").encode()


def response(status: int, method: str = "INVITE", cseq: int = 1, branch: str = "z9hG4bK-1",
             call_id: str = "c1") -> bytes:
    return (f"SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\n"
            f"From: <sip:a@x>;tag=1\r\nTo: <sip:bot@127.0.0.1>;tag=2\r\nCall-ID: {call_id}\r\n"
            f"CSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n").encode()


def run_until(tx: Transactions, clock: Clock, until: float, step: float = 0.05):
    sent = []
    while clock.now < until:
        clock.now = round(clock.now + step, 6)
        sent += [(clock.now, data) for data, _ in tx.tick()]
    return sent


def test_the_key_of_a_request_and_its_response_match():
    assert parse_key(request("INVITE")) == parse_key(response(180))
    assert parse_key(request("INVITE")).method == "INVITE"
    assert parse_key(b"garbage") is None
    assert parse_key(b"INVITE x SIP/2.0\r\nCall-ID: a\r\nCSeq: x INVITE\r\n\r\n") is None
    compact = b"BYE x SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bKq\r\ni: cc\r\nCSeq: 7 BYE\r\n\r\n"
    assert parse_key(compact).call_id == "cc" and parse_key(compact).branch == "z9hG4bKq"


def test_a_2xx_is_retransmitted_doubling_to_t2_until_the_ack():
    clock = Clock()
    tx = Transactions(clock)
    tx.response_sent(response(200), PEER)
    sent = run_until(tx, clock, 100 + 8.0)
    times = [round(t - 100, 2) for t, _ in sent]
    assert times == [0.5, 1.5, 3.5, 7.5]  # T1, then 1, 2, 4 (= T2) s apart
    tx.request_received(request("ACK", branch="z9hG4bK-other"))  # the ACK to a 2xx is its own transaction
    assert run_until(tx, clock, 130) == [] and tx.pending() == 0


def test_without_an_ack_the_call_is_given_up_after_64_t1():
    clock = Clock()
    lost = []
    tx = Transactions(clock, on_no_ack=lost.append)
    tx.response_sent(response(200), PEER)
    sent = run_until(tx, clock, 100 + TIMEOUT + 1)
    assert lost == ["c1"]
    assert len(sent) == 4 + int((TIMEOUT - 7.5) // T2)  # then every T2 until 32 s
    assert run_until(tx, clock, 200) == []


def test_a_retransmitted_invite_gets_the_last_answer_and_never_a_second_call():
    clock = Clock()
    tx = Transactions(clock)
    assert tx.request_received(request("INVITE")) is None  # new: the library handles it
    tx.response_sent(response(180), PEER)
    assert tx.request_received(request("INVITE")) == (response(180), PEER)  # while ringing
    tx.response_sent(response(200), PEER)
    assert tx.request_received(request("INVITE")) == (response(200), PEER)  # after the answer
    assert tx.request_received(request("INVITE", branch="z9hG4bK-new")) is None  # another transaction


def test_a_retransmitted_bye_gets_its_200_again_after_the_call_is_gone():
    clock = Clock()
    tx = Transactions(clock)
    tx.response_sent(response(200, "BYE", cseq=2), PEER)
    clock.now += 20
    assert tx.request_received(request("BYE", cseq=2)) == (response(200, "BYE", cseq=2), PEER)
    run_until(tx, clock, clock.now + TIMEOUT)
    assert tx.request_received(request("BYE", cseq=2)) is None  # forgotten after 64·T1


def test_the_bots_bye_is_retransmitted_until_answered_and_the_answer_reported():
    clock = Clock()
    tx = Transactions(clock)
    finals = []
    bye = request("BYE", cseq=5, branch="z9hG4bK-bot")
    tx.request_sent(bye, PEER, finals.append)
    sent = run_until(tx, clock, 101.6)
    assert [round(t - 100, 2) for t, _ in sent] == [0.5, 1.5]
    assert tx.response_received(response(404, "BYE", cseq=5, branch="z9hG4bK-bot"))
    assert finals == [404]  # a failed BYE is reported as the failure
    assert run_until(tx, clock, 120) == []
    assert not tx.response_received(response(200, "BYE", cseq=5, branch="z9hG4bK-bot"))  # late duplicate


def test_a_bye_nobody_answers_is_reported_after_timer_f():
    clock = Clock()
    tx = Transactions(clock)
    finals = []
    tx.request_sent(request("BYE", cseq=5, branch="z9hG4bK-bot"), PEER, finals.append)
    sent = run_until(tx, clock, 100 + TIMEOUT - 0.1)
    assert finals == [] and max(b - a for (a, _), (b, _) in zip(sent, sent[1:])) <= T2 + 0.06
    run_until(tx, clock, 100 + TIMEOUT + 0.1)
    assert finals == [None]


def test_a_provisional_answer_slows_the_retransmissions_to_t2():
    clock = Clock()
    tx = Transactions(clock)
    tx.request_sent(request("REFER", cseq=3, branch="z9hG4bK-r"), PEER, lambda status: None)
    assert tx.response_received(response(100, "REFER", cseq=3, branch="z9hG4bK-r"))
    sent = run_until(tx, clock, 100 + 3.9)
    assert sent == []


def test_a_bye_waits_for_the_ack_of_the_200_rfc_3261_section_15():
    """Under loss the caller may not have the 200 yet: a BYE first would kill its call setup."""
    clock = Clock()
    tx = Transactions(clock)
    finals = []
    tx.response_sent(response(200), PEER)            # the 200 is out, no ACK yet
    bye = request("BYE", cseq=2, branch="z9hG4bK-bye")
    assert tx.hold_until_acked(bye, PEER, finals.append)
    sent = run_until(tx, clock, 101.2)
    assert bye not in [data for _, data in sent]     # held (only the 200 is repeated)
    tx.request_received(request("ACK", branch="z9hG4bK-ack"))
    sent = run_until(tx, clock, 101.3)
    assert [data for _, data in sent] == [bye]       # out at once after the ACK
    assert tx.response_received(response(200, "BYE", cseq=2, branch="z9hG4bK-bye")) and finals == [200]
    other = request("BYE", cseq=3, branch="z9hG4bK-x", call_id="c2")
    assert not tx.hold_until_acked(other, PEER, finals.append)  # no 2xx waiting in that call: not held


def test_a_held_bye_goes_out_when_the_200_gives_up():
    clock = Clock()
    lost = []
    tx = Transactions(clock, on_no_ack=lost.append)
    tx.response_sent(response(200), PEER)
    bye = request("BYE", cseq=2, branch="z9hG4bK-bye")
    assert tx.hold_until_acked(bye, PEER, lambda status: None)
    sent = run_until(tx, clock, 100 + TIMEOUT + 0.2)
    assert lost == ["c1"] and bye in [data for _, data in sent]


def test_a_refusal_is_retransmitted_until_its_ack_and_never_ends_a_call():
    clock = Clock()
    lost = []
    tx = Transactions(clock, on_no_ack=lost.append)
    tx.response_sent(response(486), PEER)
    sent = run_until(tx, clock, 103.6)
    assert [round(t - 100, 2) for t, _ in sent] == [0.5, 1.5, 3.5]  # timer G
    tx.request_received(request("ACK"))  # the ACK to a non-2xx has the INVITE's branch
    assert run_until(tx, clock, 140) == [] and lost == []
    tx.response_sent(response(488, call_id="c9"), PEER)
    run_until(tx, clock, 140 + TIMEOUT + 1)
    assert lost == []  # timer H: given up quietly
