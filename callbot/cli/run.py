"""`callbot run` and `callbot check`: the commands that start (or check) the bot.
With callbot/cli/demo.py (`callbot demo`) the modules of the command line that may
import the runtime (callbot.app)."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click
from rich.text import Text

from callbot.cli.common import EXIT_USAGE, config_option, err, handles_errors, out, setup_logging


@click.command("run")
@config_option
@handles_errors
def run(config_path: Path) -> None:
    """Run the bot in the foreground (Ctrl-C or SIGTERM stops it cleanly).

    It first makes the checks `callbot check` makes and refuses to start with every error found.
    """
    from callbot.app import Bot
    from callbot.config.load import load_config

    config = load_config(config_path)
    setup_logging(config.log.level)
    bot = Bot(config)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    bot.start()
    s = config.sip
    err.print(
        f"callbot running on {s.local_ip}:{s.local_port}"
        + (f", registering as {s.username} at {s.server}:{s.port}" if s.register else ", not registering")
        + " — Ctrl-C to stop",
        highlight=False,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        err.print("stopping: hanging up calls, unregistering …", highlight=False)
        bot.stop()


@click.command("check")
@config_option
@handles_errors
def check(config_path: Path) -> None:
    """Check everything `callbot run` checks before it starts; exit non-zero where run would refuse.

    The configuration, the call log and data folders, free disk space, the prompts, the
    script, the speech model (its files, not loaded: that takes long) and the SIP address.
    Warnings are shown and do not fail the check.
    """
    from callbot.config.load import load_config
    from callbot.preflight import ERROR, WARNING, preflight

    config = load_config(config_path)
    out.print(Text.assemble(("✓", "green"), f" configuration {config_path}: valid"), soft_wrap=True)
    report = preflight(config)
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
