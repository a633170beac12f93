"""`callbot run` and `callbot check`: the commands that start (or check) the bot.
With callbot/cli/demo.py (`callbot demo`) the modules of the command line that may
import the runtime (callbot.app)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import click
from rich.text import Text

from callbot.cli.common import EXIT_USAGE, config_option, err, handles_errors, out, setup_logging


@click.command("run")
@config_option
@handles_errors
def run(config_path: Path) -> None:
    """Run the bot in the foreground (Ctrl-C or SIGTERM stops it in order).

    It first makes the checks `callbot check` makes and refuses to start with every error found.
    Stopping ends the calls that are up (outcome "stopped"), lets the transcriptions in progress
    finish, then closes the speech decoder and unregisters; at most STOP_TIMEOUT seconds.
    """
    from callbot.app import STOP_TIMEOUT, Bot
    from callbot.config.load import load_config

    config = load_config(config_path)
    setup_logging(config.log.level)
    bot = Bot(config)
    stop = _StopSignals(STOP_TIMEOUT)
    bot.start()
    s = config.sip
    err.print(
        f"callbot running on {s.local_ip}:{s.local_port}"
        + (f", registering as {s.username} at {s.server}:{s.port}" if s.register else ", not registering")
        + " — Ctrl-C to stop",
        highlight=False,
    )
    try:
        stop.wait()
    finally:
        err.print("stopping: ending calls, finishing transcriptions, unregistering …", highlight=False)
        bot.stop()
        err.print("stopped", highlight=False)


class _StopSignals:
    """SIGTERM/SIGINT ask for the orderly stop: the first sets :attr:`requested` (`run`'s main
    loop sees it), a repeated one only says that it is under way. The handler takes no lock
    (an Event's lock could be held by the very thread it interrupts). The speech decoder
    process ignores both signals; the bot closes it itself, after the transcriptions."""

    POLL = 0.2

    def __init__(self, bound: float):
        self.requested = False
        self._again = (f"already stopping in order (at most {bound:.0f} s); SIGQUIT (Ctrl-\\) quits at once, "
                       f"losing what is in progress\n").encode()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)

    def _handle(self, _signum, _frame) -> None:
        if self.requested:
            os.write(2, self._again)  # not logging: it may interrupt a log write of this thread
        self.requested = True

    def wait(self) -> None:
        while not self.requested:
            time.sleep(self.POLL)


@click.command("check")
@config_option
@handles_errors
def check(config_path: Path) -> None:
    """Check everything `callbot run` checks before it starts; exit non-zero where run would refuse.

    The configuration, the call log and data folders, free disk space, the prompts, the
    script, the speech model (loaded as `run` loads it, in the decoder process, then closed:
    a few seconds) and the SIP address. Warnings are shown and do not fail the check.
    """
    from callbot.config.load import load_config
    from callbot.preflight import ERROR, WARNING, preflight

    config = load_config(config_path)
    out.print(Text.assemble(("✓", "green"), f" configuration {config_path}: valid"), soft_wrap=True)
    report = preflight(config, load_model=True)
    marks = {ERROR: ("✗", "bold red"), WARNING: ("!", "bold yellow")}
    for finding in report.findings:  # Text: a path or a message is never read as markup or emoji
        out.print(Text.assemble(marks.get(finding.severity, ("✓", "green")), " ", str(finding)), soft_wrap=True)
    errors, warnings = len(report.errors), len(report.warnings)
    warned = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
    if errors:
        out.print(f"[bold red]{errors} problem{'s' if errors != 1 else ''}[/]{warned}: "
                  f"`callbot run` refuses to start until {'they are' if errors != 1 else 'it is'} fixed",
                  highlight=False, soft_wrap=True)
        sys.exit(EXIT_USAGE)
    out.print(f"[green]ready:[/] `callbot run` would start{warned}", highlight=False, soft_wrap=True)
