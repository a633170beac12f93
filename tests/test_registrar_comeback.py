"""Reachable again seconds after the PBX restarts (issue #16.1), with Kamailio as the registrar.

At the default settings (register_expires 300, keepalive 8 s): without the keepalive the bot
noticed a registrar restart only at its next refresh, 150 s later. Each test prints the
measured time from "the registrar is back" to "the bot is registered there again".
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from callbot.botstatus import read_status, status_path
from callbot.telephony.settings import SipSettings
from rig import Kamailio, RtpSink, kamailio_binary, run_sipp, sipp_binary
from tests.conftest import running_bot
from tests.test_integration_sip import finished_rows, registered_config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (kamailio_binary() and sipp_binary()),
                       reason="needs kamailio and sipp (Debian packages kamailio, sip-tester)"),
]

DEFAULTS = SipSettings()
#: The target: registered again this soon after the registrar answers again.
TARGET = 10.0


def defaults(tmp_path: Path, kam: Kamailio, prompts: Path):
    """The registration settings exactly as shipped (only the addresses differ)."""
    return registered_config(tmp_path, kam, prompts, register_expires=DEFAULTS.register_expires,
                             keepalive=DEFAULTS.keepalive)


def wait_for(predicate, timeout: float, step: float = 0.05) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(step)
    return None


def call_through(kam: Kamailio, tmp_path: Path, sink: RtpSink, number: str):
    return run_sipp("uac_call", kam.address, workdir=tmp_path, from_user=number,
                    keys={"sink_port": sink.port}, timeout=30)


def test_an_instant_registrar_restart_is_noticed_at_the_next_keepalive(tmp_path, short_prompts, caplog):
    """`kamailio` restarted at once: its location table is empty, the bot's keepalive gets 404."""
    assert DEFAULTS.register_expires == 300 and DEFAULTS.keepalive <= 8
    with Kamailio(tmp_path / "kamailio") as kam:
        config = defaults(tmp_path, kam, short_prompts)
        with running_bot(config) as bot, RtpSink() as sink, caplog.at_level(logging.INFO, "callbot"):
            assert kam.wait_registered("callbot", timeout=10), kam.log_text()
            kam.restart()
            back = time.monotonic()
            assert not kam.registered("callbot")  # the registrar forgot the bot
            took = wait_for(lambda: kam.registered("callbot", timeout=0.5), timeout=30)
            assert took is not None, "the bot did not register again within 30 s"
            elapsed = time.monotonic() - back
            print(f"\nregistrar restarted (instant): bot registered again {elapsed:.1f} s after it was back "
                  f"(keepalive {DEFAULTS.keepalive:g} s, register_expires {DEFAULTS.register_expires} s)")
            assert elapsed <= TARGET
            res = call_through(kam, tmp_path, sink, "+4940123456")
            rows = finished_rows(bot)
    assert res.ok, res.describe()
    assert [r.outcome for r in rows] == ["answered"]
    forgot = [r for r in caplog.records if "no longer knows the bot" in r.getMessage()]
    assert len(forgot) == 1


def test_a_registrar_that_is_down_for_a_while_is_retried_and_taken_again_at_once(tmp_path, short_prompts,
                                                                                 caplog):
    """Kamailio stopped (a FRITZ!Box rebooting): the keepalive finds it gone, the loss is logged once
    and shown in status.json; when it is back the bot registers within seconds, not at a refresh."""
    with Kamailio(tmp_path / "kamailio") as kam:
        config = defaults(tmp_path, kam, short_prompts)
        path = status_path(config.storage.database)
        with running_bot(config) as bot, RtpSink() as sink, caplog.at_level(logging.INFO, "callbot"):
            assert kam.wait_registered("callbot", timeout=10), kam.log_text()
            assert wait_for(lambda: read_status(path).registered, timeout=2) is not None  # written just after
            kam.stop()
            lost = wait_for(lambda: not bot.endpoint.registration.registered,
                            timeout=DEFAULTS.keepalive + 10)
            assert lost is not None, "the keepalive did not notice the registrar was gone"
            # status.json is written right after the state changes (the listener runs after it)
            assert wait_for(lambda: (read_status(path) is not None and not read_status(path).registered
                                     and read_status(path).last_error), timeout=2) is not None
            status = read_status(path)
            assert any("NOT registered" in line for line in status.lines())
            time.sleep(6)  # several failed tries with backoff: 1 s, 2 s, 4 s …
            kam.start()
            back = time.monotonic()
            took = wait_for(lambda: kam.registered("callbot", timeout=0.5), timeout=30)
            assert took is not None, "the bot did not register again within 30 s"
            elapsed = time.monotonic() - back
            print(f"\nregistrar down ~{lost + 6:.0f} s: bot registered again {elapsed:.1f} s after it was back")
            assert elapsed <= TARGET
            assert wait_for(lambda: read_status(path).registered, timeout=2) is not None  # written just after
            res = call_through(kam, tmp_path, sink, "+4940123457")
            rows = finished_rows(bot)
    assert res.ok, res.describe()
    assert [r.outcome for r in rows] == ["answered"]
    losses = [r for r in caplog.records if r.levelno == logging.WARNING and "registration lost" in r.getMessage()]
    assert len(losses) == 1, [r.getMessage() for r in losses]
