"""Calls through real peers on a lossy network (issue #10, requirement 4).

Kamailio, the bot and SIPp run in a private network namespace made for the test (only ``lo``;
:func:`rig.softphones_support.private_netns`). The bot registers with no loss; then every UDP
datagram on that ``lo`` — SIP and RTP alike — is dropped at random (``tc qdisc … netem loss``,
or where the kernel has no ``sch_netem`` an ``nftables`` input rule with ``numgen random``),
and 20 sequential SIPp calls are made. At 5 % and at 15 % loss at least 19 of the 20 must
complete: SIPp counts the call successful (INVITE answered, ACK, the bot's BYE answered) and
the bot's row for that SIP Call-ID says ``answered``; no Call-ID has two rows and every row
gets its final outcome within a bounded wait.

Everything the loss could make hang is bounded: each SIPp run (``timeout``), the whole
calling phase (CALLS_BUDGET) and the wait for the rows (ROWS_WAIT).
Run one level: ``python -m pytest -s tests/test_packet_loss.py -k 15``.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rig import Kamailio, kamailio_binary, run_sipp, sipp_binary
from rig.softphones_support import netns_unavailable, private_netns
from tests.conftest import loopback_config, running_bot

_NO_NETNS = netns_unavailable()
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (kamailio_binary() and sipp_binary()),
                       reason="needs kamailio and sipp (Debian packages kamailio, sip-tester)"),
    pytest.mark.skipif(_NO_NETNS is not None, reason=f"packet loss is made in a private network namespace: {_NO_NETNS}"),
    pytest.mark.skipif(not (shutil.which("tc") or shutil.which("nft")),
                       reason="needs tc (iproute2, kernel sch_netem) or nft (nftables) to drop packets"),
]

CALLS = 20
MUST_COMPLETE = 19
#: Upper bound for the 20 calls of one level (a normal call takes ~2 s: ring, 1.5 s hello, BYE).
CALLS_BUDGET = 170.0
#: SIPp's own bound for one call (-timeout): generous, the losses slow calls down.
SIPP_TIMEOUT = 40
#: How long the rows may take to get their outcome after the last call (a call whose ACK never
#: arrived ends at 64·T1 = 32 s).
ROWS_WAIT = 40.0
TABLE = "callbot_loss"


# --------------------------------------------------------------------------
# Dropping packets inside the namespace
# --------------------------------------------------------------------------


def _run(cmd: list[str], timeout: float = 10.0) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@dataclass
class Loss:
    """Random loss of ``percent`` % on the current network namespace's ``lo``."""

    percent: int
    method: str = ""           # "netem" | "nftables"
    tried: list[str] = field(default_factory=list)

    def apply(self) -> bool:
        """Try netem, then nftables; True when one of them is in place."""
        if shutil.which("tc"):
            r = _run(["tc", "qdisc", "add", "dev", "lo", "root", "netem", "loss", f"{self.percent}%"])
            if r.returncode == 0:
                self.method = "netem"
                return True
            self.tried.append(f"tc … netem: {(r.stderr or r.stdout).strip()} (kernel module sch_netem missing?)")
        else:
            self.tried.append("tc: not installed (iproute2)")
        if shutil.which("nft"):
            # The input hook, not output: a datagram dropped on output makes the sender's sendto()
            # fail with EPERM, which no real network does; dropped on input it just vanishes.
            script = (f"add table inet {TABLE}\n"
                      f"add chain inet {TABLE} in {{ type filter hook input priority 0; policy accept; }}\n"
                      f"add rule inet {TABLE} in iifname \"lo\" meta l4proto udp "
                      f"numgen random mod 100 < {self.percent} counter drop\n")
            r = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True, timeout=10)
            if r.returncode == 0:
                self.method = "nftables"
                return True
            self.tried.append(f"nft numgen random: {(r.stderr or r.stdout).strip()}")
        else:
            self.tried.append("nft: not installed (nftables)")
        return False

    def listing(self) -> str:
        """What this namespace shows of the loss rule (run where it should or should not be)."""
        if self.method == "netem":
            return _run(["tc", "-s", "qdisc", "show", "dev", "lo"]).stdout
        return _run(["nft", "list", "ruleset"]).stdout

    def present_in(self, listing: str) -> bool:
        if self.method == "netem":
            return "netem" in listing and f"loss {self.percent}%" in listing
        return TABLE in listing and f"< {self.percent}" in listing

    def dropped(self) -> int | None:
        """Datagrams dropped so far (netem's / the rule's counter)."""
        text = self.listing()
        m = (re.search(r"netem.*?dropped (\d+)", text, re.S) if self.method == "netem"
             else re.search(r"counter packets (\d+)", text))
        return int(m.group(1)) if m else None

    def remove(self) -> None:
        if self.method == "netem":
            _run(["tc", "qdisc", "del", "dev", "lo", "root"])
        elif self.method == "nftables":
            _run(["nft", "delete", "table", "inet", TABLE])
        self.method = ""


@contextmanager
def lossy(percent: int, host: ThreadPoolExecutor):
    """Loss on this namespace's lo (skip when the kernel offers no way); checked to be absent
    from the host's lo (``host`` runs a thread that stayed in the host's namespace)."""
    loss = Loss(percent)
    if not loss.apply():
        pytest.skip("cannot drop packets here: " + "; ".join(loss.tried))
    try:
        inside = loss.listing()
        outside = host.submit(loss.listing).result(timeout=15)
        assert loss.present_in(inside), f"the {loss.method} loss rule is not in place:\n{inside}"
        assert not loss.present_in(outside), f"the loss rule leaked into the host's namespace:\n{outside}"
        yield loss
    finally:
        loss.remove()


# --------------------------------------------------------------------------
# What one level measured
# --------------------------------------------------------------------------


@dataclass
class CallResult:
    n: int
    call_id: str | None
    sipp_ok: bool
    describe: str
    sipp_retransmissions: int    # SIPp's own retransmissions (INVITE, and ACK/200 again on a repeat)
    oks_received: int            # 200 OK to the INVITE arriving at SIPp (> 1: the bot retransmitted it)
    byes_received: int           # the bot's BYE arriving at SIPp while its call lived


def _stat(path: Path, column: str) -> int:
    try:
        rows = [r for r in csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";") if r]
        return int(rows[-1][rows[0].index(column)])
    except (OSError, ValueError, IndexError):
        return 0


def one_call(n: int, kam: Kamailio, workdir: Path, percent: int) -> CallResult:
    res = run_sipp("uac_call", kam.address, workdir=workdir, from_user=f"+4930{percent:03d}{n:04d}",
                   keys={"answer_timeout_ms": "15000", "bye_timeout_ms": "25000"},
                   timeout=SIPP_TIMEOUT, name=f"call{n:02d}")
    invites = res.find("sent", "INVITE")
    oks = [m for m in res.find("received", 200) if m.method == "INVITE"]
    return CallResult(
        n=n,
        call_id=invites[0].header("Call-ID") if invites else None,
        sipp_ok=res.ok,
        describe=res.describe() if not res.ok else "",
        sipp_retransmissions=_stat(res.stat_csv, "Retransmissions(C)"),
        oks_received=len(oks),
        byes_received=len(res.find("received", "BYE")),
    )


def rows_with_outcomes(bot, expected: int, timeout: float):
    """All rows once every row has its outcome and at least ``expected`` exist (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        bot.store.flush()
        rows = bot.store.calls(limit=500)
        if (len(rows) >= expected and all(r.outcome for r in rows)) or time.monotonic() >= deadline:
            return rows
        time.sleep(0.1)


# --------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------


@pytest.mark.parametrize("percent", [5, 15])
def test_sequential_calls_complete_under_random_packet_loss(tmp_path, short_prompts, percent, caplog):
    host = ThreadPoolExecutor(max_workers=1, thread_name_prefix="host-netns")
    host.submit(lambda: None).result()  # its thread exists now, in the host's namespace
    results: list[CallResult] = []
    try:
        with private_netns(), Kamailio(tmp_path / "kamailio") as kam:
            config = loopback_config(tmp_path, short_prompts, unknown="greet", register=True,
                                     server="127.0.0.1", port=kam.port, username="callbot",
                                     password="", register_expires=60)
            with running_bot(config) as bot:
                assert kam.wait_registered("callbot", timeout=15), kam.log_text()[-3000:]
                with lossy(percent, host) as loss:
                    calls_started = time.monotonic()
                    calls_until = calls_started + CALLS_BUDGET
                    for n in range(CALLS):
                        if time.monotonic() >= calls_until:
                            break
                        results.append(one_call(n, kam, tmp_path / f"sipp-{percent}", percent))
                    calls_seconds = time.monotonic() - calls_started
                    dropped = loss.dropped()
                    method = loss.method
                    registration = bot.endpoint.registration
                rows = rows_with_outcomes(bot, len([r for r in results if r.call_id]), ROWS_WAIT)
                bye_failed = sum(any(e.rule == "bye_failed" for e in bot.store.events(r.id)) for r in rows)
                kam_log = kam.log_text()
    finally:
        host.shutdown(wait=True)

    # rfcvoip sends each REGISTER once (no timer E): a lost REGISTER or 200 costs a 4 s timeout.
    registration_lost = sum(1 for r in caplog.records if r.getMessage().startswith("registration "))
    by_call_id: dict[str, list] = {}
    for row in rows:
        by_call_id.setdefault(row.sip_call_id, []).append(row)
    duplicated = {cid: [r.id for r in rs] for cid, rs in by_call_id.items() if len(rs) > 1}
    unfinished = [(r.id, r.sip_call_id) for r in rows if not r.outcome]
    sipp_ids = {r.call_id for r in results}
    strangers = [(r.id, r.sip_call_id, r.outcome) for r in rows if r.sip_call_id not in sipp_ids]

    def outcome_of(result: CallResult) -> str | None:
        found = by_call_id.get(result.call_id, [])
        return found[0].outcome if len(found) == 1 else None

    completed = [r for r in results if r.sipp_ok and outcome_of(r) == "answered"]
    failed = [r for r in results if r not in completed]
    figures = (
        f"loss {percent}% ({method}, {dropped} datagrams dropped): {len(completed)}/{CALLS} calls completed, "
        f"{sum(not r.sipp_ok for r in results)} SIPp failures, {CALLS - len(results)} not made in time, "
        f"{len(rows)} rows ({len(duplicated)} duplicated, {len(unfinished)} without outcome), "
        f"SIPp retransmissions {sum(r.sipp_retransmissions for r in results)}, "
        f"calls whose 200 OK reached SIPp more than once {sum(r.oks_received > 1 for r in results)}, "
        f"bot's BYE seen twice by SIPp {sum(r.byes_received > 1 for r in results)}, "
        f"rows with a failed BYE (bye_failed: its 200 lost for good) {bye_failed}, "
        f"REGISTERs at Kamailio {kam_log.count('RIG-REGISTER user=callbot')}, "
        f"registration lost/failed warnings {registration_lost}, "
        f"bot registration at the end {'ok' if registration and registration.registered else registration}, "
        f"{calls_seconds:.0f}s"
    )
    print("\n" + figures)
    detail = "\n".join(
        f"call {r.n} ({r.call_id}): sipp ok={r.sipp_ok} row outcome={outcome_of(r)} rows="
        f"{[(x.id, x.outcome) for x in by_call_id.get(r.call_id, [])]}\n{r.describe[-4000:]}"
        for r in failed)
    if failed:
        print(detail)
    assert not duplicated, f"{figures}\nduplicated rows per SIP Call-ID: {duplicated}"
    assert not unfinished, f"{figures}\nrows without their final outcome after {ROWS_WAIT:.0f}s: {unfinished}"
    assert not strangers, f"{figures}\nrows for no call that SIPp made: {strangers}"
    assert len(completed) >= MUST_COMPLETE, f"{figures}\n{detail}"
