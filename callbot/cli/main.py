"""The `callbot` command: the click group and the commands registered on it, one
module per command group (see callbot/cli/__init__.py)."""

from __future__ import annotations

import click

from callbot.cli import calls, demo, inbox, lists, models, privacy, prompts, run, service, status, users, web
from callbot.cli.common import config_option


@click.group()
@click.version_option(package_name="callbot")
@config_option
def main(config_path) -> None:
    """callbot — answers the office phone and screens callers.

    --config FILE (or the environment variable CALLBOT_CONFIG) may be given here,
    after the command group or after the command; the one nearest the command wins.
    """


for command in (
    run.run, run.check, status.status, demo.demo,
    calls.calls, calls.leads,
    lists.allow, lists.block, lists.unblock, lists.lists_command, lists.suggest, lists.import_contacts,
    privacy.prune, privacy.forget, privacy.export,
    web.web,
    models.models_group,
    prompts.prompts_group,
    inbox.inbox, users.users_group,
):
    main.add_command(command)

main.add_command(service.install_service)


if __name__ == "__main__":  # pragma: no cover
    main()
