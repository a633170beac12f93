"""`callbot status`: is the bot running, is it registered, who may ring it — read from the
status file the running bot keeps (callbot/botstatus.py); it never talks to the bot."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from callbot.cli.common import EXIT_FAILURE, config_option, handles_errors, out

#: Exit status when the bot runs but is not registered (sip.register = true).
EXIT_NOT_REGISTERED = 3


@click.command("status")
@config_option
@handles_errors
def status(config_path: Path) -> None:
    """Show whether the bot runs and is registered: since when, the last failure and why, the next try.

    Exit status: 0 running (and registered, when it registers), 1 not running, 3 running but
    not registered. Also lists the addresses new calls are accepted from (sip.trusted_sources).
    """
    from callbot.botstatus import read_status, status_path
    from callbot.config.load import load_config
    from callbot.telephony.endpoint import trusted_sources

    config = load_config(config_path)
    state = read_status(status_path(config.storage.database))
    trusted = trusted_sources(config.sip).describe()
    if state is None:
        out.print(Text(f"the bot has not run with this call log ({config.storage.database})"), soft_wrap=True)
        out.print(Text(f"new calls would be accepted from: {trusted}"), soft_wrap=True)
        raise SystemExit(EXIT_FAILURE)
    for line in state.lines():
        out.print(Text(line), soft_wrap=True)
    out.print(Text(f"new calls are accepted from: {trusted}"), soft_wrap=True)
    if not state.alive():
        raise SystemExit(EXIT_FAILURE)
    if state.register and not state.registered:
        raise SystemExit(EXIT_NOT_REGISTERED)
