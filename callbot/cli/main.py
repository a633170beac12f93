"""The `callbot` command: the click group and the commands registered on it, one
module per command group (see callbot/cli/__init__.py)."""

from __future__ import annotations

import click

from callbot.cli import calls, lists, models, privacy, prompts, run, web


@click.group()
@click.version_option(package_name="callbot")
def main() -> None:
    """callbot — answers the office phone and screens callers."""


for command in (
    run.run, run.check, run.demo,
    calls.calls, calls.leads,
    lists.allow, lists.block, lists.unblock, lists.lists_command, lists.suggest, lists.import_contacts,
    privacy.prune, privacy.forget, privacy.export,
    web.web,
    models.models_group,
    prompts.prompts_group,
):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
